"""The collector against the raw ingest ceiling of the same InfluxDB, in one run.

1. Ceiling: an optimal direct writer (pre-built line protocol, 5,000-point batches, two
   concurrent writers) stores N points in a fresh database.
2. Collector, columnar: a separate process publishes the same points as columnar batch
   messages (500 samples x 4 fields each) at QoS 1; the in-process collector stores them.
3. Collector, single-sample: one point per MQTT message, as many simple devices send.

Prints points/s for each and the collector/ceiling ratio, and the collector process's
peak RSS. Publishers run in their own process so they do not share the collector's GIL.

    .venv/bin/python bench/collector.py --points 400000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.service import Collector, make_writer  # noqa: E402
from tonle.config import parse_config  # noqa: E402
from tonle.contract import MachineAddress, Telemetry, encode, encode_block  # noqa: E402
from tonle.influxql import InfluxQLClient  # noqa: E402
from tonle.services import LocalBroker, LocalInfluxDB  # noqa: E402

T0 = 1_780_000_000_000_000_000
MACHINES = 100
FIELDS = ("vib_rms", "temp_c", "current_a", "speed_spm")


def columns(n: int, machine: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    ts = T0 + machine + np.arange(n, dtype=np.int64) * 1_000_000
    rng = np.random.default_rng(machine)
    return ts, {f: rng.random(n) * 100 for f in FIELDS}


def ceiling(url: str, db: str, points: int) -> float:
    """Direct writes of pre-built line protocol: the best this influxd does."""
    per = points // MACHINES
    body = b"".join(
        encode_block("telemetry", {"site": "bench", "machine": f"M{m:03d}"}, *columns(per, m))
        for m in range(MACHINES)
    )
    lines = body.splitlines(keepends=True)
    batches = [b"".join(lines[i : i + 5000]) for i in range(0, len(lines), 5000)]
    httpx.post(f"{url}/query", data={"q": f'CREATE DATABASE "{db}"'}).raise_for_status()

    async def write_all() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            queue = list(batches)

            async def worker() -> None:
                while queue:
                    r = await http.post("/write", params={"db": db, "precision": "ns"}, content=queue.pop())
                    assert r.status_code == 204, r.text

            await asyncio.gather(worker(), worker())

    t0 = time.perf_counter()
    asyncio.run(write_all())
    return len(lines) / (time.perf_counter() - t0)


def publisher(host: str, port: int, site: str, points: int, per_msg: int) -> None:
    """Runs in its own process: publish `points` samples at QoS 1 as fast as the broker takes them."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{site}", protocol=paho.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect(host, port)
    c.loop_start()
    per_machine = points // MACHINES
    infos = []
    for m in range(MACHINES):
        topic = MachineAddress(site, "a", "L1", f"M{m:03d}").topic("telemetry")
        ts, cols = columns(per_machine, m)
        ts_l, cols_l = ts.tolist(), {f: v.tolist() for f, v in cols.items()}
        for i in range(0, per_machine, per_msg):
            if per_msg == 1:
                msg = Telemetry(v=1, seq=i, ts=ts_l[i], fields={f: cols_l[f][i] for f in FIELDS})
            else:
                msg = Telemetry(
                    v=1,
                    seq=i,
                    ts=ts_l[i : i + per_msg],
                    fields={f: cols_l[f][i : i + per_msg] for f in FIELDS},
                )
            infos.append(c.publish(topic, encode(msg), qos=1))
            if len(infos) > 5000:
                infos.pop(0).wait_for_publish()
    for info in infos:
        info.wait_for_publish()
    c.loop_stop()
    c.disconnect()


async def through_collector(
    broker: LocalBroker, db: LocalInfluxDB, name: str, points: int, per_msg: int
) -> float:
    cfg = parse_config(
        {
            "mqtt": {"host": broker.host, "port": broker.port},
            "influxdb": {"url": db.url, "database": name},
            "collector": {"share_group": "", "instance": name, "batch_points": 5000, "receive_maximum": 2000},
        },
        env={},
    )
    stop = asyncio.Event()
    async with make_writer(cfg) as writer, InfluxQLClient(db.url, name) as q:
        collector = Collector(cfg, writer)
        task = asyncio.create_task(collector.run(stop))
        await asyncio.wait_for(collector.ready.wait(), 30)
        proc = mp.get_context("spawn").Process(
            target=publisher, args=(broker.host, broker.port, name, points, per_msg)
        )
        t0 = time.perf_counter()
        proc.start()
        expected = (points // MACHINES) * MACHINES
        while collector.stats.points < expected:
            await asyncio.sleep(0.05)
            if not proc.is_alive() and proc.exitcode:
                raise RuntimeError("the publisher failed")
        elapsed = time.perf_counter() - t0
        proc.join()
        stored = (await q.query("SELECT count(vib_rms) FROM telemetry"))[0].values[0][1]
        assert stored == expected, (stored, expected)
        stop.set()
        await task
    return expected / elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=400_000)
    p.add_argument(
        "--single-points", type=int, default=60_000, help="points for the one-point-per-message run"
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(Path(tmp) / "b").start()
        db = LocalInfluxDB(Path(tmp) / "i").start()
        try:
            top = ceiling(db.url, "ceiling", args.points)
            col = asyncio.run(through_collector(broker, db, "columnar", args.points, 500))
            single = asyncio.run(through_collector(broker, db, "single", args.single_points, 1))
        finally:
            broker.stop()
            db.stop()
    print(json.dumps({
        "points": args.points,
        "ceiling_points_per_s": round(top),
        "collector_columnar_points_per_s": round(col),
        "ratio_columnar_to_ceiling": round(col / top, 3),
        "collector_single_sample_points_per_s": round(single),
        "collector_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
