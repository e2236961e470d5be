"""How fast the edge agent's spool appends and replays, with synchronous FULL and NORMAL.

Append: batches of 20 messages of ~400 bytes (20 devices, one columnar batch per
second each), one transaction per batch as the agent does; prints batches/s and
the latency percentiles (FULL pays one fsync per batch).
Replay: a 1-hour backlog of 20 devices at 10 Hz, batched per second (72,000
messages), drained with peek + ack the way the publisher does (a window of 500,
acks in groups as PUBACKs come back); prints messages/s and the multiple of real
time (the backlog was produced at 20 messages/s). Usage:

    .venv/bin/python bench/spool.py [--dir /path/on/the/gateway/disk] [--hours 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tonle.io.spool import Spool

DEVICES = 20
HZ = 10
WINDOW = 500  # edge_agent/publisher.py WINDOW


def payload(rng: random.Random, device: int, second: int) -> bytes:
    """A columnar telemetry batch of one second at HZ, ~400 bytes of JSON like the contract's."""
    t0 = 1_790_000_000_000_000_000 + second * 1_000_000_000
    ts = [t0 + k * 100_000_000 for k in range(HZ)]
    vib = [round(rng.uniform(0.1, 3.0), 3) for _ in range(HZ)]
    cur = [round(rng.uniform(0.5, 9.9), 2) for _ in range(HZ)]
    return json.dumps(
        {"v": 1, "seq": second, "ts": ts, "fields": {"vib_rms": vib, "current_a": cur}}
    ).encode()


def batches(seconds: int) -> list[list[tuple[str, bytes]]]:
    rng = random.Random(1)
    return [
        [(f"tonle/pp1/sewing/L1/m{d:02d}/telemetry", payload(rng, d, s)) for d in range(DEVICES)]
        for s in range(seconds)
    ]


def bench_append(spool: Spool, data: list[list[tuple[str, bytes]]]) -> dict[str, float]:
    latencies = []
    t_start = time.perf_counter()
    for second, batch in enumerate(data):
        t0 = time.perf_counter()
        spool.append(batch, state={f"m{d:02d}/telemetry": second for d in range(DEVICES)})
        latencies.append(time.perf_counter() - t0)
    wall = time.perf_counter() - t_start
    q = statistics.quantiles(latencies, n=100)
    return {
        "appends_per_s": round(len(data) / wall),
        "messages_per_s": round(len(data) * DEVICES / wall),
        "append_ms_p50": round(q[49] * 1e3, 3),
        "append_ms_p99": round(q[98] * 1e3, 3),
    }


def bench_replay(spool: Spool, ack_group: int) -> dict[str, float]:
    """Drain the spool: peek a window, ack it in groups of `ack_group` (out of order within the window)."""
    rng = random.Random(2)
    backlog = spool.depth
    t0 = time.perf_counter()
    last = 0
    while rows := spool.peek(last, WINDOW):
        last = rows[-1][0]
        ids = [r[0] for r in rows]
        rng.shuffle(ids)  # PUBACKs need not come back in order
        for k in range(0, len(ids), ack_group):
            spool.ack(ids[k : k + ack_group])
    wall = time.perf_counter() - t0
    assert spool.depth == 0, spool.depth
    rate = backlog / wall
    return {
        "ack_group": ack_group,
        "messages": backlog,
        "wall_s": round(wall, 3),
        "messages_per_s": round(rate),
        "x_real_time": round(rate / DEVICES),
    }


def run(folder: Path, synchronous: str, seconds: int) -> dict[str, object]:
    data = batches(seconds)
    out: dict[str, object] = {"synchronous": synchronous}
    for ack_group in (WINDOW, 10, 1):
        path = folder / f"spool-{synchronous}-{ack_group}.sqlite"
        with Spool(path, max_bytes=2**30, synchronous=synchronous) as spool:
            appended = bench_append(spool, data)
            if ack_group == WINDOW:
                out["append"] = appended
                out["backlog_mb"] = round(spool.size_bytes / 2**20, 1)
                out["file_mb"] = round(path.stat().st_size / 2**20, 1)
            out[f"replay_ack_{ack_group}"] = bench_replay(spool, ack_group)
        path.unlink()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", type=Path, default=None, help="where to put the spool (default: a temp dir)")
    p.add_argument("--hours", type=float, default=1.0, help="backlog length in hours of 20 devices")
    args = p.parse_args()
    seconds = int(args.hours * 3600)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for mode in ("FULL", "NORMAL"):
            print(json.dumps(run(Path(tmp), mode, seconds)), flush=True)
    print(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
