"""The edge agent's footprint on a gateway: RSS and CPU with 20 devices polled at 10 Hz.

Starts a private mosquitto, 20 simulated fusing-press PLCs on one Modbus TCP server
(units 1..20, the same register map as the demo press), and a real `tonle agent`
process polling each at 10 Hz. After a warm-up it samples the agent process's
RSS and CPU time from /proc for the measuring window, then stops the broker to
let the spool fill for the same time, brings it back and times the replay (from
the broker's restart until the spool holds no more than one interval's messages;
the agent's status file is updated every 0.2 s, which bounds the resolution).

    .venv/bin/python bench/agent.py --seconds 60
    .venv/bin/python bench/agent.py --seconds 60 --agent-python /tmp/edge-venv/bin/python

`--agent-python` runs the agent with another interpreter, e.g. a venv with only
`pip install -e '.[edge]'`, to measure what a gateway install costs.

With `--tls both` (the default) each round measures the agent on a lab broker (plain text,
anonymous) and on the secure broker Tonle runs by default (TLS, a certificate per process,
the generated ACL), the order flipping every round (bench/brokers.py), and prints both side
by side with the TLS/lab ratios. On the secure broker the agent is the gateway identity
`bench-gw` owning its 20 machines, the collector a collector identity, and the observer a
collector identity too: it counts state, count and event messages and the confirmations sent
to the gateway, which the ACL lets only collectors read (an observer reads telemetry and
status only).

A gateway lets go of a message only when a collector confirms the database holds it
(docs/delivery.md), so a real `tonle collector` (its own process) stores into a private
influxd. An observer on the broker counts, over the window, the agent's messages and the
confirmations sent to it; with the agent's own counters (samples, re-sent) that gives the
confirmation traffic per 1,000 samples.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.brokers import MODES, label, rounds_order  # noqa: E402
from firmware_sim.modbus_devices import ModbusTcpPlant, SimulatedPress  # noqa: E402
from tonle.app.demo_plant import AgentProcess, CollectorProcess, read_status  # noqa: E402
from tonle.app.services import LocalBroker, LocalInfluxDB  # noqa: E402
from tonle.config import parse_config  # noqa: E402
from tonle.contract.confirm import confirm_topic  # noqa: E402
from tonle.io.clock import WallClock  # noqa: E402
from tonle.io.connect import mqtt_connection  # noqa: E402

DEVICES = 20
POLL_S = 0.1
GATEWAY, SITE, AREA, LINE = "bench-gw", "bench", "sewing", "B1"
MACHINES = tuple(f"P{u:02d}" for u in range(1, DEVICES + 1))
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class GatewayAgent(AgentProcess):
    """The agent run by `python` (a gateway's own venv) instead of the interpreter running the bench."""

    def __init__(self, config: Path, log: Path, python: str) -> None:
        super().__init__(config, log)
        self.python = python

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.python, "-m", "tonle.app.cli", "agent", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                start_new_session=True,
            )
        self.starts += 1


def proc_sample(pid: int) -> tuple[float, int]:
    """(CPU seconds used so far, RSS bytes) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return cpu, rss


def identities(broker: LocalBroker) -> dict[str, dict[str, Any]]:
    """`[mqtt]` of the gateway, the collector and the observer, made before any of them connects."""
    place = {"site": SITE, "area": AREA, "line": LINE}
    return {
        "gateway": broker.identity(GATEWAY, "gateway", machines=MACHINES, **place),
        "collector": broker.identity("bench-collector", "collector"),
        "observer": broker.identity("bench-counter", "collector"),  # see the module's docstring
    }


def gateway(folder: Path, mqtt: dict[str, Any], port: int) -> Path:
    template = tomllib.loads((ROOT / "examples" / "gateway-demo-line.toml").read_text())
    press = next(d for d in template["devices"] if d["type"] == "modbus_tcp")
    devices = [
        {**press, "name": f"press_{u:02d}", "host": "127.0.0.1", "port": port, "unit": u,
         "machine": MACHINES[u - 1], "poll_interval_s": POLL_S, "timeout_s": 0.5}
        for u in range(1, DEVICES + 1)
    ]  # fmt: skip
    doc = {
        "mqtt": mqtt,
        "agent": {"id": GATEWAY, "site": SITE, "area": AREA, "line": LINE, "publish_interval_s": 1.0,
                  "health_interval_s": 0.2},
        "spool": {"path": str(folder / "spool"), "synchronous": "FULL"},
        "devices": devices,
    }  # fmt: skip
    path = folder / "gateway.toml"
    path.write_text(tomli_w.dumps(doc))
    return path


def collector_config(folder: Path, mqtt: dict[str, Any], db: LocalInfluxDB) -> Path:
    doc = {
        "mqtt": mqtt,
        "influxdb": {"url": db.url, "database": "bench"},
        "collector": {"share_group": "", "site": "bench", "spool_path": str(folder / "collector-spool")},
    }
    path = folder / "collector.toml"
    path.write_text(tomli_w.dumps(doc))
    return path


class Observer:
    """Counts, on the broker, the agent's data messages and the confirmations sent to it."""

    def __init__(self, mqtt: dict[str, Any]) -> None:
        cfg = parse_config({"mqtt": mqtt}, env={}).mqtt
        self.mqtt = mqtt_connection(cfg, "bench", client_id="bench-observer")
        self.data = self.confirms = 0
        self.counting = False

    async def run(self) -> None:
        async with self.mqtt:
            await self.mqtt.subscribe(confirm_topic(GATEWAY), qos=0)
            for kind in ("telemetry", "state", "count", "event"):
                await self.mqtt.subscribe(f"tonle/bench/+/+/+/{kind}", qos=0)
            while True:
                msg = await self.mqtt.messages.get()
                if self.counting:
                    if msg.topic.endswith("/confirm"):
                        self.confirms += 1
                    else:
                        self.data += 1


async def measure(seconds: float, python: str, tls: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = LocalBroker(folder / "broker", secure=tls).start()
        mqtt = identities(broker)
        db = LocalInfluxDB(folder / "influxd").start()
        col_config = collector_config(folder, mqtt["collector"], db)
        collector = CollectorProcess(col_config, folder / "collector.log")
        collector.start()
        observer = Observer(mqtt["observer"])
        watching = asyncio.create_task(observer.run())
        clock = WallClock()
        presses = {u: SimulatedPress(clock, seed=u) for u in range(1, DEVICES + 1)}
        try:
            async with ModbusTcpPlant(presses) as plant:
                config = gateway(folder, mqtt["gateway"], plant.port)
                agent = GatewayAgent(config, folder / "agent.log", python)
                agent.start()
                assert agent.proc is not None
                pid = agent.proc.pid
                await asyncio.sleep(10)  # imports, connections, first polls
                cpu0, _ = proc_sample(pid)
                t0 = time.monotonic()
                peak = 0
                status0 = read_status(folder / "spool")
                observer.counting = True
                while time.monotonic() - t0 < seconds:
                    await asyncio.sleep(1.0)
                    peak = max(peak, proc_sample(pid)[1])
                cpu1, rss = proc_sample(pid)
                wall = time.monotonic() - t0
                status1 = read_status(folder / "spool")
                observer.counting = False
                reads = _reads(status1) - _reads(status0)
                traffic = _traffic(status0, status1, observer)
                traffic["cpu_ms_per_1000_samples"] = round(
                    1e6 * (cpu1 - cpu0) / max(traffic["samples_in_window"], 1), 1
                )

                # Store and forward: an outage as long as the window, then the replay.
                broker.stop()
                await asyncio.sleep(seconds)
                backlog = _spool(folder)
                broker.start()
                t_replay = time.monotonic()
                # Live data keeps flowing (one message per device per second), so the
                # backlog is gone when the spool is back to one interval's worth.
                while _spool(folder) > DEVICES and time.monotonic() - t_replay < 120:
                    await asyncio.sleep(0.05)
                replay_s = time.monotonic() - t_replay
                agent.stop()
                if os.environ.get("BENCH_KEEP_LOG"):
                    print((folder / "agent.log").read_text()[-3000:], file=sys.stderr)
        finally:
            watching.cancel()
            collector.stop()
            db.stop()
            broker.stop()
        return {
            "tls": tls,
            "devices": DEVICES,
            "poll_hz": 1 / POLL_S,
            "window_s": round(wall, 1),
            "reads_per_s": round(reads / wall, 1),
            "expected_reads_per_s": DEVICES / POLL_S,
            "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / wall, 1),
            "rss_mb": round(rss / 2**20, 1),
            "peak_rss_mb": round(peak / 2**20, 1),
            "outage_s": seconds,
            "backlog_messages": backlog,
            "replay_s": round(replay_s, 2),
            "replay_x_real_time": round(seconds / replay_s, 1) if replay_s > 0 else None,
            **traffic,
        }


def _reads(status: dict | None) -> float:
    if not status:
        return 0.0
    return sum(row.get("reads", 0.0) for scope, row in status["rows"].items() if scope.startswith("press_"))


def _traffic(status0: dict | None, status1: dict | None, observer: Observer) -> dict[str, float]:
    """Messages per 1,000 samples over the window: data sent, confirmations received, re-sent."""

    def agent(status: dict | None, key: str) -> float:
        return status["rows"]["agent"].get(key, 0.0) if status else 0.0

    samples = agent(status1, "samples") - agent(status0, "samples")
    per_k = max(samples, 1.0) / 1000
    return {
        "samples_in_window": samples,
        "data_messages_per_1000_samples": round(observer.data / per_k, 2),
        "confirms_per_1000_samples": round(observer.confirms / per_k, 2),
        "resent_per_1000_samples": round(
            (agent(status1, "messages_resent") - agent(status0, "messages_resent")) / per_k, 2
        ),
    }


def _spool(folder: Path) -> int:
    status = read_status(folder / "spool")
    return int(status["rows"]["agent"]["spool_depth"]) if status else 0


# The figures whose TLS/lab ratio is printed.
COMPARED = ("cpu_percent_of_one_core", "cpu_ms_per_1000_samples", "rss_mb", "peak_rss_mb", "replay_s")


async def side_by_side(args: argparse.Namespace) -> dict[str, Any]:
    """Each round measures every mode (ABBA order); one mode prints as the bench always did."""
    runs: dict[bool, list[dict[str, Any]]] = {tls: [] for tls in MODES[args.tls]}
    for r in range(args.rounds):
        for tls in rounds_order(r, args.tls):
            runs[tls].append(await measure(args.seconds, args.agent_python, tls))
    if len(runs) == 1 and args.rounds == 1:
        return next(iter(runs.values()))[0]
    out: dict[str, Any] = {"tls_mode": args.tls, "rounds": args.rounds}
    for tls, found in runs.items():
        out[label(tls)] = found
    if len(runs) == 2:
        med = {
            tls: {k: statistics.median(float(m[k]) for m in found) for k in COMPARED}
            for tls, found in runs.items()
        }
        out["median"] = {label(tls): {k: round(v, 2) for k, v in m.items()} for tls, m in med.items()}
        out["tls_to_lab"] = {k: round(med[True][k] / med[False][k], 3) for k in COMPARED if med[False][k]}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description="Edge agent RSS/CPU with 20 Modbus devices at 10 Hz")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument(
        "--agent-python",
        default=sys.executable,
        help="the Python that runs the agent (default: this one); a tonle[edge] venv measures a gateway",
    )
    p.add_argument(
        "--tls", choices=list(MODES), default="both", help="the secure broker (on), a lab one (off), or both"
    )
    p.add_argument("--rounds", type=int, default=2, help="measurements of each mode, alternating")
    args = p.parse_args()
    print(json.dumps(asyncio.run(side_by_side(args))))


if __name__ == "__main__":
    main()
