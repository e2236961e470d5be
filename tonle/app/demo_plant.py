"""The demo's simulated plant and its gateway, wired through real protocol paths.

Twelve sewing-station sensor nodes speak the serial protocol on pseudo-terminals,
the fusing press's PLC answers Modbus TCP and the energy meter Modbus RTU, all on
this machine. The edge agent runs as its own process (`tonle agent`) reading them
from a generated gateway config, exactly as on a plant gateway, and the collector
runs as its own (`tonle collector`) as on a server, so a trainer can kill either
one and show what the spools and the broker's sessions do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import tomli_w

from firmware_sim.line import LineOutput, LineSpec
from firmware_sim.serial_node import SerialLineSim
from tonle.app.services import LocalBroker, LocalInfluxDB
from tonle.config import MqttConfig, TonleConfig
from tonle.io.clock import Clock
from tonle.io.connect import mqtt_connection
from tonle.io.mqtt import MqttConnection
from tonle.schema import PRODUCTION, STATE, TELEMETRY

__all__ = [
    "NODE_RING",
    "AgentProcess",
    "CollectorProcess",
    "TonleProcess",
    "count_output",
    "nodes_delivered",
    "read_status",
    "run_nodes",
    "warm_up",
    "write_collector_config",
    "write_gateway_config",
]

NS = 1_000_000_000
# The agent's cumulative counters in its status.json rows that the demo's summary adds up.
AGENT_COUNTERS = ("messages_confirmed", "messages_resent", "no_subscriber_pubacks", "mqtt_reconnects")
GATEWAY_ID = "demo-gateway"  # the identities of the demo's own secure broker (tonle.app.demo)
TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "gateway-demo-line.toml"
WARMUP_CHUNK_S = 60
# Frames a sensor node keeps until the gateway acknowledges them: room for the
# demo's 20-minute warm-up (about 1,500 frames per node) with margin.
NODE_RING = 4000


def count_output(out: LineOutput, names: list[str], produced: Counter[tuple[str, str]]) -> None:
    """What the sensor nodes will send for one step of the line, per machine and measurement."""
    for st, n in zip(*np.unique(out.telemetry.station, return_counts=True), strict=True):
        produced[(names[int(st)], TELEMETRY.name)] += int(n)
    for b in out.bursts:
        produced[(names[b.station], TELEMETRY.name)] += 1
    for c in out.states:
        produced[(names[c.station], STATE.name)] += 1
    for pc in out.counts:
        produced[(names[pc.station], PRODUCTION.name)] += 1


async def run_nodes(nodes: SerialLineSim, clock: Clock, produced: Counter[tuple[str, str]]) -> None:
    """Step the line every second, counting what its nodes send (the demo's ground truth)."""
    names = nodes.line.spec.names
    while True:
        await clock.sleep(1.0)
        count_output(nodes.step(clock.now_ns()), list(names), produced)


async def nodes_delivered(nodes: SerialLineSim, timeout_s: float = 30.0) -> bool:
    """Wait until the gateway has acknowledged every frame the nodes hold."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while any(node.unacked for node in nodes.nodes.values()):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


def warm_up(nodes: SerialLineSim, now_ns: int, produced: Counter[tuple[str, str]]) -> None:
    """Run the line up to now; its output waits in each node's buffer, as while a gateway is off.

    The gateway then starts with the shift's history in front of it (so the KPI
    window holds steady-state data) and the class sees it catch up.
    """
    t = nodes.line.now_ns
    names = list(nodes.line.spec.names)
    while t < now_ns:
        t = min(now_ns, t + WARMUP_CHUNK_S * NS)
        count_output(nodes.step(t), names, produced)


def write_gateway_config(
    folder: Path,
    mqtt: MqttConfig,
    spec: LineSpec,
    links: dict[str, Path],
    press_port: int,
    rtu_port: str,
    *,
    trusted_keys: dict[str, str],
    plant_broker: dict[str, str | int] | None = None,
    opcua: dict[str, str] | None = None,
) -> Path:
    """The example gateway config, pointed at this run's broker (its identity), ptys, Modbus
    servers, the plant's broker (`plant_broker`: where, its CA and the gateway's login, for the
    Sparkplug and plain MQTT devices) and the OPC UA server
    (`opcua`: its endpoint and the certificate files), trusting the commands of `trusted_keys`
    (name: public key) only.

    The password, if any, stays in the environment, which the agent process inherits.
    """
    data: dict[str, Any] = tomllib.loads(TEMPLATE.read_text())
    data["mqtt"] = {k: v for k, v in msgspec.to_builtins(mqtt).items() if v != ""}
    data["agent"].update(site=spec.site, area=spec.area, line=spec.line, trusted_keys=trusted_keys)
    if mqtt.tls:  # the broker knows the gateway by its certificate: its id must be that name
        data["agent"]["id"] = GATEWAY_ID
    data["spool"]["path"] = str(folder / "gateway")
    pattern = next(d for d in data["devices"] if d["type"] == "serial")
    serial = [
        {**pattern, "name": f"node_{st.name}", "port": str(links[st.name]), "machine": st.name,
         "machine_type": st.machine_type}
        for st in spec.stations
    ]  # fmt: skip
    others = [d for d in data["devices"] if d["type"] != "serial"]
    for d in others:
        if d["type"] == "modbus_tcp":
            d.update(host="127.0.0.1", port=press_port)
        elif d["type"] == "modbus_rtu":
            d["port"] = rtu_port
        elif d["type"] in ("sparkplug", "mqtt_json") and plant_broker is not None:  # the plant's broker
            d.update(plant_broker)
        elif d["type"] == "opcua" and opcua is not None:
            d.update(opcua)
    if opcua is None:  # no OPC UA server in this run: leave the machine out rather than fail to reach it
        others = [d for d in others if d["type"] != "opcua"]
    data["devices"] = serial + others
    path = folder / "gateway.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def write_collector_config(folder: Path, cfg: TonleConfig, mqtt: MqttConfig, run_name: str) -> Path:
    """The collector's config for this run, so it runs as its own process like on a server.

    Its MQTT client id and instance name stay the same across restarts: the
    broker keeps the session (and the messages not yet acknowledged) for that
    client id and hands them back when the restarted collector reconnects, and
    its spool lives in this run's folder, where the restarted collector finds it.
    It subscribes with the configured share group (`collectors` by default), as
    a plant's collectors do: mosquitto forgets a shared subscription when it
    restarts, and nothing depends on it keeping one, because a gateway keeps
    every message until a collector confirms the database holds it
    (docs/delivery.md); the broker drills prove it.
    """
    data: dict[str, Any] = msgspec.to_builtins(cfg)
    collector = data["collector"]
    collector.update(instance="demo", health_interval_s=min(cfg.collector.health_interval_s, 1.0))
    if "spool_path" in collector:
        collector["spool_path"] = str(folder / "collector-spool.sqlite")
    data["mqtt"] = {k: v for k, v in msgspec.to_builtins(mqtt).items() if v != ""}
    data["mqtt"]["client_id"] = f"tonle-demo-collector-{run_name}"  # a lab broker; TLS: the cert's name
    path = folder / "collector.toml"
    path.write_text(tomli_w.dumps({k: data[k] for k in ("mqtt", "influxdb", "collector")}))
    return path


def read_status(spool_dir: Path) -> dict[str, Any] | None:
    """The agent's own status file, or None before it wrote one."""
    try:
        return msgspec.json.decode((spool_dir / "status.json").read_bytes())
    except (FileNotFoundError, msgspec.DecodeError):
        return None


class TonleProcess:
    """`tonle <command> --config ...` as a child process that a drill may kill and start again.

    Each start appends to the same log file, so a trainer reads the crash and
    the recovery in one place.
    """

    command = ""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.started_ns = 0  # wall-clock time of the last start (the agent's status.json uses it too)
        self.paused = False

    def environment(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1"}

    def start(self) -> None:
        self.started_ns, self.paused = time.time_ns(), False
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tonle.app.cli", self.command, "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                start_new_session=True,
            )
        self.starts += 1

    def kill(self) -> None:
        """Power cut: SIGKILL, no chance to flush anything."""
        if self.running:
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the process is alive, holds its memory and sockets, and does nothing until `resume`.

        What a plant sees when a service is slow to come back: a collector whose
        reconnect comes after the gateway's.
        """
        if self.running:
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        """SIGCONT: carry on where it was stopped."""
        if self.proc is not None and self.paused:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def stop(self, timeout: float = 60.0) -> int | None:
        """Clean stop (SIGTERM): the process finishes what it holds, then exits."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            self.resume()  # a stopped process handles SIGTERM only once it runs again
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        """The last run's exit code (negative: killed by that signal), None while it runs."""
        return None if self.proc is None else self.proc.poll()

    def log_size(self) -> int:
        """Where the log ends now: `log_since` reads what the process wrote after this."""
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with self.log.open("rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 15) -> str:
        """The end of the log, to show with an error."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class AgentProcess(TonleProcess):
    """`tonle agent --config gateway.toml`: the edge agent, killed by the agent-crash and power-cut drills.

    Its counters (messages confirmed, re-sent, ...) start at zero with each
    process; the last status.json a run wrote is what that run did, so each is
    kept when the agent starts again and `counters` adds the runs up.
    """

    command = "agent"

    def __init__(
        self, config: Path, log: Path, status_dir: Path | None = None, secrets: dict[str, str] | None = None
    ) -> None:
        super().__init__(config, log)
        self.secrets = dict(secrets or {})  # passwords the config names by variable: the process's env
        # status.json lives next to the spool: the config's [spool] path unless told.
        self.status_dir = status_dir or Path(tomllib.loads(config.read_text())["spool"]["path"])
        self.finished_runs: list[dict[str, float]] = []  # each earlier run's last agent row

    def start(self) -> None:
        if self.proc is not None:
            self.finished_runs.append(self.row())
        super().start()

    def environment(self) -> dict[str, str]:
        return {**super().environment(), **self.secrets}

    def status(self) -> dict[str, Any] | None:
        """status.json as this run wrote it: None until the running process has written one."""
        status = read_status(self.status_dir)
        if status is None or status.get("ts", 0) < self.started_ns:
            return None
        return status

    def row(self) -> dict[str, float]:
        """This run's agent row from its newest status.json (empty before it wrote one)."""
        status = self.status()
        return dict(status["rows"].get("agent", {})) if status else {}

    def counters(self) -> dict[str, int]:
        """The agent's counters summed over its runs; `resent_at_restart` estimates what a restart
        sent again (each killed run's last `spool_unconfirmed`: a new process sends them as new)."""
        runs = [*self.finished_runs, self.row()]
        out = {name: int(sum(r.get(name, 0.0) for r in runs)) for name in AGENT_COUNTERS}
        out["resent_at_restart"] = int(sum(r.get("spool_unconfirmed", 0.0) for r in self.finished_runs))
        return out


class CollectorProcess(TonleProcess):
    """`tonle collector --config collector.toml`: the collector, killed by the collector-crash drill."""

    command = "collector"

    def environment(self) -> dict[str, str]:
        # The generated file is the whole truth: a TONLE_MQTT_HOST left in the
        # shell would otherwise point the collector away from the demo's broker.
        return {k: v for k, v in super().environment().items() if not k.startswith("TONLE_")}


@dataclass
class Services:
    """What the demo runs on: the config pointed at them, and the daemons it owns (None if configured).

    With its own (secure) broker every part of the demo has an identity of its own, as in a
    plant: `identities` holds each role's `[mqtt]`; with a configured broker every part uses
    the configured `[mqtt]`.
    """

    cfg: TonleConfig
    broker: LocalBroker | None = None
    db: LocalInfluxDB | None = None
    identities: dict[str, MqttConfig] = field(default_factory=dict)

    def mqtt(self, role: str) -> MqttConfig:
        return self.identities.get(role, self.cfg.mqtt)


def mqtt_client(mqtt: MqttConfig, client_id: str) -> MqttConnection:
    """An MQTT connection of the demo itself (the analytics' commands, the drill's traffic watch)."""
    return mqtt_connection(mqtt, "demo", client_id=client_id)
