"""Device types come from the `tonle.sources` registry: one module and one registration add one."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from edge_agent.config import load_gateway_config, make_sources
from tonle.config import ConfigError, Problem
from tonle.io.clock import Clock, VirtualClock
from tonle.sources.base import Sink, SourceHealth
from tonle.sources.registry import (
    DeviceConfig,
    GatewayContext,
    SourceType,
    UnknownSourceType,
    register,
    source_type,
    source_types,
    unregister,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "devices.md"


def test_the_installed_types_are_the_gateways_serial_modbus_opcua_sparkplug_and_the_simulator():
    types = source_types()
    assert sorted(types) == ["modbus_rtu", "modbus_tcp", "mqtt_json", "opcua", "serial", "sim", "sparkplug"]
    for name, st in types.items():
        assert st.config.__struct_config__.tag == name
        assert issubclass(st.config, DeviceConfig)
    assert types["sim"].extra == "sim" and types["serial"].extra == "edge"


def test_the_docs_list_exactly_the_registered_types():
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \| `tonle\[(\w+)\]` \|$", DOCS.read_text(encoding="utf-8"), re.M)
    assert rows == [(name, st.summary, st.extra) for name, st in sorted(source_types().items())]


def test_an_unknown_type_names_the_known_ones():
    with pytest.raises(UnknownSourceType) as err:
        source_type("profinet")
    assert str(err.value) == (
        "no device type is called 'profinet'; "
        "use one of: modbus_rtu, modbus_tcp, mqtt_json, opcua, serial, sim, sparkplug"
    )


class EchoConfig(DeviceConfig, tag="echo", frozen=True, kw_only=True):
    """A made-up protocol: what a plugin adds."""

    name: str
    machine: str
    volume: int = 1

    def problems(self) -> list[Problem]:
        return [Problem("volume", "is 0", "use 1 or more")] if self.volume == 0 else []

    def machines(self) -> list[str]:
        return [self.machine]


class EchoSource:
    def __init__(self, cfg: EchoConfig, context: GatewayContext) -> None:
        self.name, self.cfg, self.context = cfg.name, cfg, context

    @property
    def machines(self) -> list[tuple[str, str]]:
        return [(self.cfg.machine, "echo")]

    @property
    def health(self) -> SourceHealth:
        return SourceHealth()

    async def run(self, sink: Sink) -> None: ...

    async def commit(self) -> None: ...

    async def apply(
        self, machine: str, action: str, value: float | None, *, cmd_id: str | None = None
    ) -> str:
        return ""


def _build_echo(config: EchoConfig, clock: Clock, context: GatewayContext) -> EchoSource:
    return EchoSource(config, context)


@pytest.fixture
def echo_type():
    register(SourceType(name="echo", config=EchoConfig, factory=_build_echo, summary="an echo"))
    yield
    unregister("echo")


@pytest.mark.usefixtures("echo_type")
def test_a_registered_type_is_read_checked_and_built_with_no_other_change(tmp_path: Path):
    path = tmp_path / "gateway.toml"
    path.write_text('[agent]\nsite = "kandal"\n[[devices]]\ntype = "echo"\nname = "e1"\nmachine = "E1"\n')
    cfg = load_gateway_config(path)
    assert cfg.devices == [EchoConfig(name="e1", machine="E1")]
    (source,) = make_sources(cfg, VirtualClock(0))
    assert isinstance(source, EchoSource) and source.context.site == "kandal"
    path.write_text('[[devices]]\ntype = "echo"\nname = "e1"\nmachine = "E1"\nvolume = 0\nloud = true\n')
    with pytest.raises(ConfigError) as err:
        load_gateway_config(path)
    assert [str(p) for p in err.value.problems] == [
        "device 'e1': 'loud' is not a known key; allowed here: machine, name, type, volume",
        "device 'e1': 'volume' is 0; use 1 or more",
    ]
    path.write_text('[[devices]]\ntype = "ech"\nname = "e1"\n')
    with pytest.raises(
        ConfigError, match="use one of: echo, modbus_rtu, modbus_tcp, mqtt_json, opcua, serial, sim"
    ):
        load_gateway_config(path)


def test_a_type_whose_struct_is_tagged_otherwise_is_refused():
    with pytest.raises(ValueError, match="tagged 'echo', not 'echo2'"):
        SourceType(name="echo2", config=EchoConfig, factory=_build_echo, summary="")
    assert msgspec.json.decode(msgspec.json.encode(EchoConfig(name="e", machine="m")))["type"] == "echo"
