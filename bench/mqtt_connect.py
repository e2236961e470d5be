"""What one MQTT connect costs with TLS and a client certificate, beside a plain-text one.

A gateway on bad Wi-Fi reconnects often, and every reconnect to the secure broker is a TLS
handshake: the broker proves itself with its certificate, the gateway with its own (P-256,
from the run's CA), and the broker checks it against the CA and the CRL. This times, from
the first byte to the CONNACK, `--connects` connects of a paho client (as tonle.io.mqtt
configures it: MQTT v5, `tls_set` with the CA, certificate and key) to the secure broker
Tonle runs by default and to a lab broker, alternating one by one, and reports the medians,
the client's CPU per connect and the broker's CPU per connect (from /proc, connect and
disconnect together). No TLS session resumption: paho does not keep sessions between
connects, so every reconnect is a full handshake.

A third broker, "tls_nodelay", is the secure one with `set_tcp_nodelay true`: mosquitto
leaves Nagle's algorithm on by default, and on a TLS connection the CONNACK follows the
server's session tickets, so it waits for the client's delayed ACK (40 ms on Linux).

    .venv/bin/python bench/mqtt_connect.py --connects 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.brokers import NoDelayBroker, paho_client  # noqa: E402
from tonle.app.services import LocalBroker  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
NAME = "bench-conn"


def start(folder: Path) -> dict[str, LocalBroker]:
    return {
        "lab": LocalBroker(folder / "lab", secure=False).start(),
        "tls": LocalBroker(folder / "tls").start(),
        "tls_nodelay": NoDelayBroker(folder / "tls-nodelay").start(),
    }


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def connect_once(settings: dict[str, Any]) -> tuple[float, float]:
    """(wall ms, client CPU ms) from starting the connect to the CONNACK; then disconnect."""
    c = paho_client(settings, NAME)
    acked: list[int] = []
    c.on_connect = lambda client, userdata, flags, reason, props: acked.append(reason.value)
    t0, c0 = time.perf_counter(), time.process_time()
    c.connect(settings["host"], settings["port"])  # TCP, then the TLS handshake, then CONNECT
    while not acked:
        c.loop(timeout=0.05)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if acked[0] != 0:
        raise RuntimeError(f"the broker refused the connect (reason {acked[0]})")
    c.disconnect()
    c.loop(timeout=0.05)
    return 1000 * wall, 1000 * cpu


def measure(connects: int, warmup: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        brokers = start(Path(tmp))
        try:
            settings = {
                tls: b.identity(NAME, "gateway", site="s", area="a", line="L1", machines=("M1",))
                for tls, b in brokers.items()
            }
            for _ in range(warmup):
                for tls in brokers:
                    connect_once(settings[tls])
            walls: dict[str, list[float]] = {tls: [] for tls in brokers}
            cpus: dict[str, list[float]] = {tls: [] for tls in brokers}
            broker_cpu = dict.fromkeys(brokers, 0.0)
            for i in range(connects):
                for tls in list(brokers) if i % 2 == 0 else reversed(brokers):
                    pid = brokers[tls].proc.pid  # type: ignore[union-attr]
                    before = cpu_s(pid)
                    wall, cpu = connect_once(settings[tls])
                    broker_cpu[tls] += cpu_s(pid) - before
                    walls[tls].append(wall)
                    cpus[tls].append(cpu)
        finally:
            for b in brokers.values():
                b.stop()
    out: dict[str, Any] = {"connects": connects}
    for tls in walls:
        w = sorted(walls[tls])
        out[tls] = {
            "median_ms": round(statistics.median(w), 2),
            "p90_ms": round(w[int(0.9 * (len(w) - 1))], 2),
            "min_ms": round(w[0], 2),
            "client_cpu_ms_median": round(statistics.median(cpus[tls]), 2),
            "broker_cpu_ms_per_connect": round(1000 * broker_cpu[tls] / connects, 2),
        }
    for tls in ("tls", "tls_nodelay"):
        out[f"{tls}_minus_lab_median_ms"] = round(out[tls]["median_ms"] - out["lab"]["median_ms"], 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--connects", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2, help="connects of each mode not counted")
    args = p.parse_args()
    print(json.dumps(measure(args.connects, args.warmup)))


if __name__ == "__main__":
    main()
