"""The gateway's one config file: broker, identity, spool, machine types, and the devices it reads.

`tonle agent check-config gateway.toml` checks it and lists every problem with its
fix. `[[devices]]` sections are checked against the device types registered in the
`tonle.sources` entry-point group (`tonle.sources.registry`): this module names none
of them, so a new device protocol needs no change here.

`[machine_types.<name>]` has the schema of `[analytics.pdm.machine_types]` and is
merged over the catalogue's defaults: a plant that adds a machine type gets
envelope evidence at the edge for it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from tonle.config import AgentConfig, MqttConfig, Problem, Section, files_beside, parse_config, read_toml
from tonle.config.pdm import MachineTypePdm, with_default_types
from tonle.io.clock import Clock
from tonle.messages import N_, _, render
from tonle.security.names import Confusable, LookAlikes
from tonle.sources.base import Source
from tonle.sources.registry import DeviceConfig, GatewayContext, build_source, source_types

__all__ = ["DeviceConfig", "GatewayConfig", "SpoolConfig", "load_gateway_config", "make_sources"]


class SpoolConfig(Section, frozen=True):
    path: str = "run/gateway"  # relative to where the agent runs; set an absolute path on a gateway
    max_mb: Annotated[float, msgspec.Meta(gt=0)] = 512.0
    synchronous: Literal["FULL", "NORMAL"] = "FULL"


class GatewayConfig(Section, frozen=True):
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    agent: AgentConfig = msgspec.field(default_factory=AgentConfig)
    spool: SpoolConfig = msgspec.field(default_factory=SpoolConfig)
    machine_types: dict[str, MachineTypePdm] = msgspec.field(default_factory=dict)
    devices: list[DeviceConfig] = msgspec.field(default_factory=list)

    def problems(self) -> list[Problem]:
        """What no single device section can see: no devices, a machine under two, look-alike
        machine names, a missing driver."""
        if not self.devices:
            return [Problem("devices", _("is empty"), _("add at least one [[devices]] section with a type"))]
        found: list[Problem] = []
        machines = Counter(m for d in self.devices for m in d.machines())
        found.extend(
            Problem(
                "",
                _("machine {machine!r} is listed under more than one device").format(machine=m),
                _("every machine needs its own name"),
            )
            for m, n in sorted(machines.items())
            if n > 1
        )
        found.extend(_look_alikes(self.devices))
        for d in self.devices:
            st = source_types()[str(type(d).__struct_config__.tag)]
            why = st.unavailable()
            if why is not None:
                device = _("{label} {name!r}").format(label=_(d.config_label), name=d.name)
                found.append(Problem("", render(why.message, why.data), render(why.fix, why.data), device))
        return found

    def machine_table(self) -> dict[str, MachineTypePdm]:
        """The machine types the edge reads bursts with: the file's over the catalogue's defaults."""
        return with_default_types(self.machine_types)

    def context(self) -> GatewayContext:
        a = self.agent
        return GatewayContext(gateway=a.id, site=a.site, area=a.area, line=a.line)


def _look_alikes(devices: list[DeviceConfig]) -> list[Problem]:
    """Two machines whose names read the same (`ѕm01` in Cyrillic and `sm01`): the second is named.

    The collector would refuse the second one's data anyway (collector/names.py); saying so
    here lets the technician fix the file before the gateway runs.
    """
    known = LookAlikes()
    found: list[Problem] = []
    for d in devices:
        for machine in d.machines():
            other = known.clash(machine)
            if other is None:
                known.add(machine)
                continue
            exc = Confusable("machine", machine, other)
            found.append(
                Problem(
                    "",
                    render(exc.message, exc.data),
                    render(exc.fix, exc.data),
                    _("{label} {name!r}").format(label=_(d.config_label), name=d.name),
                )
            )
    return found


def load_gateway_config(
    path: str | Path | None, default_devices: list[dict[str, Any]] | None = None
) -> GatewayConfig:
    """Read and check a gateway config; `default_devices` stand in when it lists none."""
    data: dict[str, Any] = {}
    if path is not None:  # certificate paths are relative to the config (a `tonle provision` folder)
        data = files_beside(read_toml(path, N_("gateway config")), Path(path).parent)
    if default_devices is not None and not data.get("devices"):
        data["devices"] = default_devices
    return parse_config(data, source=str(path or "defaults"), root=GatewayConfig)


def make_sources(cfg: GatewayConfig, clock: Clock) -> list[Source]:
    """One Source per device section, each built by its registered type's factory."""
    context = cfg.context()
    return [build_source(d, clock, context) for d in cfg.devices]
