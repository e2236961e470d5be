"""A gateway's agent loads no server stack: no scipy, matplotlib or influxdb-client, no simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tonle.security.pki import Authority

ROOT = Path(__file__).resolve().parents[2]

BUILD_AGENT = """
import json, sys
from pathlib import Path
from edge_agent.agent import Agent
from edge_agent.config import load_gateway_config, make_sources
from tonle.io.clock import WallClock
from tonle.io.spool import Spool

cfg = load_gateway_config(sys.argv[1])
clock = WallClock()
sources = make_sources(cfg, clock)
spool = Spool(Path(sys.argv[2]) / "spool.sqlite", 2**20)
agent = Agent(cfg.mqtt, cfg.agent, sources, clock, spool, machine_types=cfg.machine_table())
spool.close()
print(json.dumps({"sources": [type(s).__name__ for s in sources], "modules": sorted(sys.modules)}))
"""
SERVER_ONLY = ("scipy", "matplotlib", "influxdb_client", "pandas", "analytics", "collector")
# The registry reads the simulator's registration (a config struct), never the simulator itself.
SIMULATOR_REGISTRATION = {"firmware_sim", "firmware_sim.source_config"}


def test_building_an_agent_from_a_gateway_config_loads_no_server_stack(tmp_path: Path):
    ca = Authority.open(tmp_path / "security")
    gw = ca.issue("gw-hall-1")
    env = {
        **os.environ,
        "MQTT_PASSWORD": "x",
        "TONLE_MQTT_CA_FILE": str(ca.ca_file),
        "TONLE_MQTT_CERT_FILE": str(gw.cert),
        "TONLE_MQTT_KEY_FILE": str(gw.key),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            BUILD_AGENT,
            str(ROOT / "examples" / "gateway-small-plant.toml"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    got = json.loads(done.stdout)
    assert sorted(set(got["sources"])) == ["ModbusSource", "MqttJsonSource", "SerialNodeSource"]
    loaded = {m.split(".")[0] for m in got["modules"]}
    assert loaded.isdisjoint(SERVER_ONLY), sorted(loaded & set(SERVER_ONLY))
    assert {m for m in got["modules"] if m.startswith("firmware_sim")} <= SIMULATOR_REGISTRATION
    assert {"pymodbus", "serial_asyncio_fast", "edge_agent"} <= loaded  # the drivers themselves did load
