"""The collector against the raw ingest ceiling of the same InfluxDB and broker, in one run.

1. Ceiling: an optimal direct writer (pre-built line protocol, 5,000-point batches, two
   concurrent writers) stores N points in a fresh database.
2. Collector, columnar: a publisher process sends the same points as columnar batch messages
   (500 samples x 4 fields each) at QoS 1; the collector (its own process) stores them.
3. Broker ceiling for small messages: one-point messages are queued at the broker for a
   plain paho subscriber's persistent session (auto-ack, QoS 1, no work), which then
   drains them as fast as mosquitto delivers (a Python publisher alone tops out near the
   same rate, so publishing during the measurement would measure the publisher).
4. Collector, single-sample: the same backlog drained by the collector (one point per
   MQTT message, as many simple devices send), timed from its start (includes connecting).
5. Latency: a steady 10k points/s (1,000 messages/s of 10 samples, stamped when sent);
   sample timestamp to queryable in InfluxDB, p50 and p99 over probe samples.

The collector runs in its own process, so its peak RSS (VmHWM) is its own. Steps 1-2 run
`--rounds` times, alternating, and the medians are compared: on a shared 2-core VM the
ceiling alone varies by 20 % from run to run.

With `--spool-refs`, each round of step 2 runs twice: as above, and with every message
carrying the spool reference a gateway puts on it (MQTT v5 user properties `tonle-gw`,
`tonle-spool`, docs/delivery.md), so the collector also builds and publishes confirmations.
Both are reported side by side with the collector's CPU per 1,000 samples and the
confirmations it sent.

With `--tls both` (the default), steps 2-5 run against two brokers in one run, alternating
round by round (bench/brokers.py): the secure broker Tonle runs by default (TLS, a client
certificate per process, the generated ACL: the publisher is a gateway identity owning the
100 machines it publishes for, the collector a collector identity, the bare subscriber an
observer that may read telemetry) and a plain-text lab broker. The lab figures keep their
keys; the TLS figures are under "tls" and their ratios to the lab's under "tls_to_lab".
`--tls off` is the bench as it was; `--tls on` measures the secure broker alone.

    .venv/bin/python bench/collector.py --points 400000
    .venv/bin/python bench/collector.py --points 400000 --rounds 3 --only columnar --spool-refs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import sys
import tempfile
import time
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.brokers import MODES, paho_client, rounds_order, start_brokers  # noqa: E402
from tonle.app.services import LocalBroker, LocalInfluxDB  # noqa: E402
from tonle.contract import MachineAddress, Telemetry, encode, encode_block, subscription  # noqa: E402
from tonle.security.registry import Member  # noqa: E402

T0 = 1_780_000_000_000_000_000
MACHINES = 100
FIELDS = ("vib_rms", "temp_c", "current_a", "speed_spm")
SPAWN = mp.get_context("spawn")


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


MACHINE_NAMES = tuple(f"M{m:03d}" for m in range(MACHINES))
PROBE_NAMES = tuple(f"P{m:03d}" for m in range(MACHINES))


def gateway(broker: LocalBroker, site: str) -> dict[str, Any]:
    """The `[mqtt]` of the gateway publishing for `site` (made by `provision`)."""
    return broker.identity(f"bench-pub-{site}", "gateway")


def provision(brokers: dict[bool, LocalBroker], args: argparse.Namespace) -> None:
    """Every identity of the run, made before any client connects, with one reload per broker.

    mosquitto 2.0.11 reloads its ACL on SIGHUP but leaves an offline persistent session of a
    certificate client without its ACL until it reconnects, so messages published for it
    meanwhile are dropped (an identity added mid-run lost the single-sample backlog).
    """
    sites = ["latency"]
    for r in range(args.rounds):
        sites += [f"columnar{r}", f"plain{r}", f"single{r}"] + ([f"refs{r}"] if args.spool_refs else [])
    for tls, broker in brokers.items():
        if not tls:
            continue
        for base in sites:
            site = _name(base, None, tls)
            machines = PROBE_NAMES if base == "latency" else MACHINE_NAMES
            place = {"site": site, "area": "a", "line": "L1"}
            broker.plant.add(Member(f"bench-pub-{site}", "gateway", machines=machines, **place))
            if base.startswith("plain"):
                broker.plant.add(Member(f"bench-sub-{site}", "observer", site=site))
            else:
                broker.plant.add(Member(f"bench-col-{site}", "collector"))
        broker.apply()  # a running broker restarts to load the new rules


def _client(settings: dict[str, Any], client_id: str) -> Any:
    c = paho_client(settings, client_id)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect(settings["host"], settings["port"])
    c.loop_start()
    return c


def publisher(settings: dict[str, Any], site: str, points: int, per_msg: int, refs: bool = False) -> None:
    """Own process: publish `points` samples at QoS 1 as fast as the broker takes them.

    With `refs`, each message carries a spool reference as a gateway's does (ids 1, 2, ...).
    """
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    c = _client(settings, f"bench-pub-{site}")
    per_machine = points // MACHINES
    infos = []
    spool_id = 0

    def props() -> Properties | None:
        nonlocal spool_id
        if not refs:
            return None
        spool_id += 1
        p = Properties(PacketTypes.PUBLISH)
        p.UserProperty = [("tonle-gw", f"bench-gw-{site}"), ("tonle-spool", f"12345:{spool_id}")]
        return p

    for m in range(MACHINES):
        topic = MachineAddress(site, "a", "L1", f"M{m:03d}").topic("telemetry")
        ts, cols = columns(per_machine, m)
        ts_l, cols_l = ts.tolist(), {f: v.tolist() for f, v in cols.items()}
        for i in range(0, per_machine, per_msg):
            if per_msg == 1:
                msg = Telemetry(v=1, seq=i, ts=ts_l[i], fields={f: cols_l[f][i] for f in FIELDS})
            else:
                sl = slice(i, i + per_msg)
                msg = Telemetry(v=1, seq=i, ts=ts_l[sl], fields={f: cols_l[f][sl] for f in FIELDS})
            infos.append(c.publish(topic, encode(msg), qos=1, properties=props()))
            if len(infos) > 5000:
                infos.pop(0).wait_for_publish()
    for info in infos:
        info.wait_for_publish()
    c.loop_stop()
    c.disconnect()


def steady_publisher(
    settings: dict[str, Any], site: str, seconds: float, rate_msgs: int, per_msg: int
) -> None:
    """Own process: `rate_msgs` messages/s of `per_msg` samples each, stamped with the send time.

    Machine P000 carries the probes: its sample `seq` k is sent at a known time.
    """
    c = _client(settings, f"bench-steady-{site}")
    topics = [MachineAddress(site, "a", "L1", f"P{m:03d}").topic("telemetry") for m in range(MACHINES)]
    seqs = [0] * MACHINES
    tick = 0.01
    per_tick = max(1, round(rate_msgs * tick))
    start = time.perf_counter()
    k = 0
    infos = []
    while (now := time.perf_counter()) - start < seconds:
        for _ in range(per_tick):
            m = k % MACHINES
            k += 1
            t = time.time_ns()
            ts = [t - (per_msg - 1 - j) * 1_000_000 for j in range(per_msg)]  # 1 kHz, newest = now
            msg = Telemetry(v=1, seq=seqs[m], ts=ts, fields={f: [1.5] * per_msg for f in FIELDS})
            seqs[m] += per_msg
            infos.append(c.publish(topics[m], encode(msg), qos=1))
        if len(infos) > 5000:
            infos = [i for i in infos if not i.is_published()]
        next_tick = start + (round((now - start) / tick) + 1) * tick
        time.sleep(max(0.0, next_tick - time.perf_counter()))
    for info in infos:
        info.wait_for_publish()
    c.loop_stop()
    c.disconnect()


def plain_subscriber(settings: dict[str, Any], topic: str, expected: int, ready: Any, result: Any) -> None:
    """Own process: drain a backlog at QoS 1 with paho's automatic acks and no work.

    Connects once to leave a persistent session with the subscription, waits for
    `ready` to be cleared by the parent (the backlog is published meanwhile), then
    reconnects and times the drain: the broker's delivery ceiling, without the
    publisher's cost in the measurement.
    """
    import threading

    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    got = [0, 0.0]
    done = threading.Event()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        if got[0] == 0:
            got[1] = time.perf_counter()
        got[0] += 1
        if got[0] >= expected:
            done.set()

    def connect(subscribe: bool) -> Any:
        c = paho_client(settings, f"bench-sub-{topic.split('/')[1]}")
        c.on_message = on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        subscribed = threading.Event()
        c.on_subscribe = lambda *a: subscribed.set()
        c.connect(settings["host"], settings["port"], clean_start=False, properties=props)
        c.loop_start()
        if subscribe:
            c.subscribe(topic, qos=1)
            subscribed.wait(30)
        return c

    c = connect(subscribe=True)
    c.disconnect()
    c.loop_stop()
    ready.set()
    while ready.is_set():
        time.sleep(0.01)
    c = connect(subscribe=False)
    done.wait(300)
    result.value = expected / (time.perf_counter() - got[1])
    c.disconnect()
    c.loop_stop()


def collector_process(
    cfg: dict[str, Any], points: Synchronized, ready: Any, stop: Any, rss: Any, cpu: Any, confirms: Any
) -> None:
    """Own process: the real collector; publishes its stored-point count, its CPU seconds since it
    was ready and the confirmations it sent through shared memory."""
    from collector.service import Collector
    from tonle.config import parse_config
    from tonle.io.connect import influx_writer

    async def main() -> None:
        config = parse_config(cfg, env={})
        halt = asyncio.Event()
        async with influx_writer(config) as writer:
            collector = Collector(config, writer)
            task = asyncio.create_task(collector.run(halt))
            await collector.ready.wait()
            cpu0 = time.process_time()
            ready.set()
            while not stop.is_set():
                cpu.value = time.process_time() - cpu0
                confirms.value = collector.confirmer.sent
                points.value = collector.stats.points
                await asyncio.sleep(0.01)
            points.value = collector.stats.points
            halt.set()
            await task

    asyncio.run(main())
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            rss.value = int(line.split()[1]) / 1024


class CollectorProc:
    def __init__(self, broker: LocalBroker, db: LocalInfluxDB, name: str, spool: Path) -> None:
        cfg = {
            # Its own identity per instance: on the secure broker the client id is the
            # certificate name, and each instance keeps its own session as on the lab broker.
            "mqtt": broker.identity(f"bench-col-{name}", "collector"),
            "influxdb": {"url": db.url, "database": name},
            "collector": {
                "share_group": "",
                "instance": name,
                "batch_points": 5000,
                "receive_maximum": 2000,
                "spool_path": str(spool),
            },
        }
        self.points = SPAWN.Value("q", 0)
        self.rss = SPAWN.Value("d", 0.0)
        self.cpu = SPAWN.Value("d", 0.0)
        self.confirms = SPAWN.Value("q", 0)
        self.ready, self.stop = SPAWN.Event(), SPAWN.Event()
        self.proc = SPAWN.Process(
            target=collector_process,
            args=(cfg, self.points, self.ready, self.stop, self.rss, self.cpu, self.confirms),
        )

    def __enter__(self) -> CollectorProc:
        self.proc.start()
        if not self.ready.wait(60):
            raise RuntimeError("the collector did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.proc.join(30)


def through_collector(
    broker: LocalBroker,
    db: LocalInfluxDB,
    tmp: Path,
    name: str,
    points: int,
    per_msg: int,
    refs: bool = False,
) -> tuple[float, float, float, int]:
    """(points/s, peak RSS MB, collector CPU seconds, confirmations sent) for one columnar run."""
    with CollectorProc(broker, db, name, tmp / f"{name}.spool") as col:
        pub = SPAWN.Process(target=publisher, args=(gateway(broker, name), name, points, per_msg, refs))
        t0 = time.perf_counter()
        pub.start()
        expected = (points // MACHINES) * MACHINES
        while col.points.value < expected:
            time.sleep(0.01)
            if not pub.is_alive() and pub.exitcode:
                raise RuntimeError("the publisher failed")
        elapsed = time.perf_counter() - t0
        cpu_s, confirms = col.cpu.value, col.confirms.value
        pub.join()
    stored = _count(db.url, name, "SELECT count(vib_rms) FROM telemetry")
    assert stored == expected, (stored, expected)
    return expected / elapsed, col.rss.value, cpu_s, confirms


def broker_ceiling(broker: LocalBroker, messages: int, site: str = "plain") -> float:
    """The bare paho subscriber's drain rate (on the secure broker: an observer of `site`)."""
    result, ready = SPAWN.Value("d", 0.0), SPAWN.Event()
    reader = broker.identity(f"bench-sub-{site}", "observer", site=site)
    pub = gateway(broker, site)
    sub = SPAWN.Process(
        target=plain_subscriber,
        args=(reader, subscription("telemetry", site=site), messages, ready, result),
    )
    sub.start()
    ready.wait(30)
    publisher(pub, site, messages, 1)
    ready.clear()
    sub.join(300)
    return result.value


def drain_through_collector(
    broker: LocalBroker, db: LocalInfluxDB, tmp: Path, points: int, name: str = "single"
) -> tuple[float, float]:
    """One point per message, published while the collector is away; then time its drain."""
    with CollectorProc(broker, db, name, tmp / f"{name}.spool"):
        pass  # leaves the persistent session and its subscriptions at the broker
    publisher(gateway(broker, name), name, points, 1)
    expected = (points // MACHINES) * MACHINES
    col = CollectorProc(broker, db, name, tmp / f"{name}.spool")
    t0 = time.perf_counter()
    with col:
        while col.points.value < expected:
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
    stored = _count(db.url, name, "SELECT count(vib_rms) FROM telemetry")
    assert stored == expected, (stored, expected)
    return expected / elapsed, col.rss.value


def latency(
    broker: LocalBroker, db: LocalInfluxDB, tmp: Path, seconds: float, rate_pts: int, name: str = "latency"
) -> dict[str, float]:
    """Sample timestamp to queryable: poll the newest stored seq of the probe machine."""
    per_msg = 10
    rate_msgs = rate_pts // per_msg
    with CollectorProc(broker, db, name, tmp / f"{name}.spool") as col:
        pub = SPAWN.Process(
            target=steady_publisher,
            args=(gateway(broker, name), name, seconds, rate_msgs, per_msg),
        )
        pub.start()
        lat: list[float] = []
        seen = -1
        q = "SELECT last(\"seq\") FROM telemetry WHERE machine = 'P000'"
        with httpx.Client(base_url=db.url, timeout=10) as http:
            while pub.is_alive():
                r = http.get("/query", params={"db": name, "q": q, "epoch": "ns"})
                series = r.json()["results"][0].get("series")
                now = time.time_ns()
                if series:
                    ts, seq = series[0]["values"][0]
                    if seq > seen:
                        # The newest sample of the newest probe message: stamped at send time.
                        lat.append((now - ts) / 1e6)
                        seen = seq
                time.sleep(0.005)
        pub.join()
        stored_rate = col.points.value / seconds
    arr = np.array(lat[len(lat) // 10 :])  # skip the first tenth (connection warm-up)
    return {
        "latency_rate_points_per_s": rate_pts,
        "latency_stored_points_per_s": round(stored_rate),
        "latency_probes": int(arr.size),
        "latency_p50_ms": round(float(np.percentile(arr, 50)), 1),
        "latency_p99_ms": round(float(np.percentile(arr, 99)), 1),
        "latency_max_ms": round(float(arr.max()), 1),
    }


def _refs_figures(
    points: int, plain: float, plain_cpu: list[float], refs: list[tuple[float, float, float, int]]
) -> dict[str, Any]:
    """The columnar run with spool references beside the one without (medians of the rounds)."""
    rate = float(np.median([r[0] for r in refs]))
    per_k = points / 1000
    return {
        "collector_columnar_refs_points_per_s": round(rate),
        "collector_columnar_refs_each": [round(r[0]) for r in refs],
        "ratio_refs_to_plain": round(rate / plain, 3),
        "collector_cpu_ms_per_1000_samples": round(1000 * float(np.median(plain_cpu)) / per_k, 2),
        "collector_refs_cpu_ms_per_1000_samples": round(
            1000 * float(np.median([r[2] for r in refs])) / per_k, 2
        ),
        "confirms_per_1000_samples": round(float(np.median([r[3] for r in refs])) / per_k, 3),
        "collector_refs_peak_rss_mb": round(max(r[1] for r in refs), 1),
    }


def _count(url: str, db: str, q: str) -> int:
    r = httpx.get(f"{url}/query", params={"db": db, "q": q})
    return int(r.json()["results"][0]["series"][0]["values"][0][1])


def _name(base: str, r: int | None, tls: bool) -> str:
    """Database, site and identity name of one measurement (its own on each broker)."""
    return f"{base}{'' if r is None else r}{'tls' if tls else ''}"


def columnar(
    brokers: dict[bool, LocalBroker], db: LocalInfluxDB, tmp: Path, args: argparse.Namespace
) -> dict[bool, dict[str, Any]]:
    """Rounds alternate the ceiling and the collector on each broker, so all see the same load."""
    tops: list[float] = []
    runs: dict[bool, list[tuple[float, float, float, int]]] = {tls: [] for tls in brokers}
    refs: dict[bool, list[tuple[float, float, float, int]]] = {tls: [] for tls in brokers}
    for r in range(args.rounds):
        tops.append(ceiling(db.url, f"ceiling{r}", args.points))
        for tls in rounds_order(r, args.tls):
            b = brokers[tls]
            runs[tls].append(through_collector(b, db, tmp, _name("columnar", r, tls), args.points, 500))
            if args.spool_refs:
                refs[tls].append(
                    through_collector(b, db, tmp, _name("refs", r, tls), args.points, 500, refs=True)
                )
    top = float(np.median(tops))
    out = {}
    for tls, rs in runs.items():
        col = float(np.median([c[0] for c in rs]))
        cpus = [c[2] for c in rs]
        out[tls] = {
            "rounds": args.rounds,
            "ceiling_points_per_s": round(top),
            "ceiling_each": [round(t) for t in tops],
            "collector_columnar_points_per_s": round(col),
            "collector_columnar_each": [round(c[0]) for c in rs],
            "ratio_columnar_to_ceiling": round(col / top, 3),
            "collector_columnar_peak_rss_mb": round(max(c[1] for c in rs), 1),
            "collector_columnar_cpu_ms_per_1000_samples": round(
                1e6 * float(np.median(cpus)) / args.points, 2
            ),
        }
        if refs[tls]:
            out[tls] |= _refs_figures(args.points, col, cpus, refs[tls])
    return out


def single(
    brokers: dict[bool, LocalBroker], db: LocalInfluxDB, tmp: Path, args: argparse.Namespace
) -> dict[bool, dict[str, Any]]:
    """The bare subscriber and the collector draining one-point messages, each round on each broker."""
    plains: dict[bool, list[float]] = {tls: [] for tls in brokers}
    drains: dict[bool, list[tuple[float, float]]] = {tls: [] for tls in brokers}
    for r in range(args.rounds):
        for tls in rounds_order(r, args.tls):
            b = brokers[tls]
            plains[tls].append(broker_ceiling(b, args.single_points, _name("plain", r, tls)))
            drains[tls].append(
                drain_through_collector(b, db, tmp, args.single_points, _name("single", r, tls))
            )
    out = {}
    for tls in brokers:
        plain = float(np.median(plains[tls]))
        one = float(np.median([d[0] for d in drains[tls]]))
        out[tls] = {
            "plain_subscriber_msgs_per_s": round(plain),
            "plain_subscriber_each": [round(p) for p in plains[tls]],
            "collector_single_sample_points_per_s": round(one),
            "collector_single_sample_each": [round(d[0]) for d in drains[tls]],
            "ratio_single_to_plain_subscriber": round(one / plain, 3),
            "collector_single_peak_rss_mb": round(max(d[1] for d in drains[tls]), 1),
        }
    return out


# The figures whose TLS/lab ratio is printed (higher is better for rates, lower for the rest).
COMPARED = (
    "collector_columnar_points_per_s",
    "collector_columnar_cpu_ms_per_1000_samples",
    "collector_columnar_peak_rss_mb",
    "collector_columnar_refs_points_per_s",
    "collector_refs_cpu_ms_per_1000_samples",
    "plain_subscriber_msgs_per_s",
    "collector_single_sample_points_per_s",
    "collector_single_peak_rss_mb",
    "latency_p50_ms",
    "latency_p99_ms",
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=400_000)
    p.add_argument("--single-points", type=int, default=100_000, help="points for the one-per-message run")
    p.add_argument("--rounds", type=int, default=3, help="rounds of each measurement; medians are reported")
    p.add_argument("--latency-seconds", type=float, default=20.0)
    p.add_argument("--latency-rate", type=int, default=10_000, help="points/s for the latency run")
    p.add_argument("--only", choices=["columnar", "single", "latency"], help="run one part (for profiling)")
    p.add_argument(
        "--spool-refs", action="store_true", help="columnar also with spool references (confirmations)"
    )
    p.add_argument(
        "--tls", choices=list(MODES), default="both", help="the secure broker (on), a lab one (off), or both"
    )
    p.add_argument(
        "--tcp-nodelay",
        action="store_true",
        help="both brokers with set_tcp_nodelay true (not Tonle's setting today: shows what it changes)",
    )
    args = p.parse_args()
    figures: dict[bool, dict[str, Any]] = {tls: {} for tls in MODES[args.tls]}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        brokers = start_brokers(tmp, args.tls, nodelay=args.tcp_nodelay)
        provision(brokers, args)
        db = LocalInfluxDB(tmp / "i").start()
        try:
            parts = []
            if args.only in (None, "columnar"):
                parts.append(columnar(brokers, db, tmp, args))
            if args.only in (None, "single"):
                parts.append(single(brokers, db, tmp, args))
            if args.only in (None, "latency"):
                parts.append(
                    {
                        tls: latency(
                            b, db, tmp, args.latency_seconds, args.latency_rate, _name("latency", None, tls)
                        )
                        for tls, b in brokers.items()
                    }
                )
            for part in parts:
                for tls, found in part.items():
                    figures[tls] |= found
        finally:
            for b in brokers.values():
                b.stop()
            db.stop()
    print(json.dumps(_report(args, figures)))


def _report(args: argparse.Namespace, figures: dict[bool, dict[str, Any]]) -> dict[str, Any]:
    """One mode: its figures as the bench always printed them. Both: the lab's so, and the TLS
    figures under "tls" with their ratios to the lab's under "tls_to_lab"."""
    out: dict[str, Any] = {"points": args.points, "tls_mode": args.tls, "tcp_nodelay": args.tcp_nodelay}
    if len(figures) == 1:
        return out | next(iter(figures.values()))
    lab, tls = figures[False], figures[True]
    ratios = {k: round(tls[k] / lab[k], 3) for k in COMPARED if lab.get(k)}
    return out | lab | {"tls": tls, "tls_to_lab": ratios}


if __name__ == "__main__":
    main()
