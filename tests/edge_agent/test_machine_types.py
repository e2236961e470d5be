"""A plant's own machine type, configured only in the gateway file, gets envelope evidence at the edge."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import numpy as np

from edge_agent.agent import Agent
from edge_agent.config import GatewayConfig, load_gateway_config, make_sources
from firmware_sim.spec import default_line
from tonle.config import parse_config
from tonle.config.pdm import DEFAULT_MACHINE_TYPES
from tonle.io.clock import VirtualClock
from tonle.io.spool import Spool
from tonle.kernels.machine_types import MACHINE_TYPES
from tonle.schema import ENVELOPE_FIELDS
from tonle.sources.base import Burst, Sample

T0 = 1_780_000_000_000_000_000
NODE = """
[mqtt]
tls = false  # never connects: the test reads what the agent makes of a burst

[[devices]]
type = "serial"
name = "node_Z1"
port = "/dev/ttyACM0"
machine = "Z1"
machine_type = "zigzag"
"""
ZIGZAG = """
[machine_types.zigzag]
shaft_rpm = 3000
bearing = "6203"
band_hz = [2300.0, 3700.0]
"""


def _burst_fields(cfg: GatewayConfig, tmp_path: Path) -> dict[str, list[float]]:
    """What a gateway with `cfg` publishes for one burst of machine Z1."""
    clock = VirtualClock(T0)
    spool = Spool(tmp_path / "spool.sqlite", 2**30)
    agent = Agent(
        cfg.mqtt, cfg.agent, make_sources(cfg, clock), clock, spool, machine_types=cfg.machine_table()
    )
    wave = np.random.default_rng(1).normal(0.0, 0.05, 4096)
    agent.sink([Sample("Z1", T0, {"speed_spm": 2800.0}), Burst("Z1", T0 + 1, 8192.0, wave)])
    asyncio.run(agent.flush())
    payloads = [msgspec.json.decode(p) for _, _, p in spool.peek(0, 10)]
    spool.close()
    (burst,) = [p for p in payloads if "vib_rms" in p["fields"]]
    return burst["fields"]


def test_a_type_configured_only_in_the_gateway_file_gets_envelope_fields(tmp_path: Path):
    path = tmp_path / "gateway.toml"
    path.write_text(NODE + ZIGZAG)
    fields = _burst_fields(load_gateway_config(path), tmp_path / "with")
    assert set(ENVELOPE_FIELDS) <= set(fields)
    assert all(np.isfinite(fields[f][0]) for f in ENVELOPE_FIELDS)
    path.write_text(NODE)  # the same machine on a gateway that does not know its type
    assert not set(ENVELOPE_FIELDS) & set(_burst_fields(load_gateway_config(path), tmp_path / "without"))


def test_the_gateway_table_is_merged_over_the_catalogue_defaults(tmp_path: Path):
    path = tmp_path / "gateway.toml"
    path.write_text(NODE + ZIGZAG + "[machine_types.overlock]\nshaft_rpm = 5500\nbearing = '6205'\n")
    table = load_gateway_config(path).machine_table()
    assert set(table) == set(MACHINE_TYPES) | {"zigzag"}
    assert table["lockstitch"] == DEFAULT_MACHINE_TYPES["lockstitch"]
    assert (table["overlock"].shaft_rpm, table["overlock"].bearing) == (5500, "6205")


def test_simulator_pdm_defaults_and_edge_read_one_catalogue():
    line = default_line(18, wearing_station=None)
    for station in line.stations:
        kind = MACHINE_TYPES[station.machine_type]
        assert (station.nominal_spm, station.bearing) == (kind.rated_spm, kind.bearing)
        assert kind.resonance_hz[0] <= station.resonance_hz <= kind.resonance_hz[1]
    pdm = parse_config({}, env={}).analytics.pdm.machine_types
    for name, kind in MACHINE_TYPES.items():
        assert (pdm[name].shaft_rpm, pdm[name].bearing, pdm[name].band_hz) == (
            kind.rated_spm,
            kind.bearing,
            kind.band_hz,
        )
    assert pdm == DEFAULT_MACHINE_TYPES
