"""OPC UA tags per second per gateway core: the agent's CPU time per tag received.

A separate process serves `--tags` Double variables on a loopback asyncua server and writes
every one of them each `--period-ms` (each a data change with its SourceTimestamp). The
gateway side is the real `OpcUaSource` subscribed to all of them (one monitored item each),
feeding a real `Agent`'s sink, flushed to its spool (encode + SQLite) every 0.5 s, as on a
gateway. The agent process's CPU time (`time.process_time`) over the measured window
divided into the tags it received gives µs per tag; its inverse is tags/s per core.

    .venv/bin/python bench/opcua.py --tags 200 --period-ms 100 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from edge_agent.agent import Agent
from edge_agent.sources.opcua import OpcUaSource, RetryPolicy
from edge_agent.sources.opcua_config import parse_opcua_source
from tonle.config import AgentConfig, MqttConfig
from tonle.io.clock import WallClock
from tonle.io.spool import Spool
from tonle.sources.base import Sample


def _serve(port: int, tags: int, period_s: float, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    from asyncua import Server, ua

    async def main() -> None:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench/")
        await server.register_namespace("urn:tonle:bench")
        obj = await server.nodes.objects.add_object("ns=2;s=Bench", "2:Bench")
        ids = []
        for i in range(tags):
            await obj.add_variable(f"ns=2;s=T{i}", f"2:T{i}", 0.0)
            ids.append(ua.NodeId.from_string(f"ns=2;s=T{i}"))
        async with server:
            ready.set()
            k = 0
            while True:
                k += 1
                when = datetime.now(UTC)
                for i, nid in enumerate(ids):
                    dv = ua.DataValue(ua.Variant(float(k + i), ua.VariantType.Double), SourceTimestamp=when)
                    await server.write_attribute_value(nid, dv)
                await asyncio.sleep(period_s)

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _measure(
    port: int, tags: int, seconds: float, warmup_s: float, spool_dir: Path
) -> dict[str, float]:
    cfg = parse_opcua_source({
        "type": "opcua", "name": "bench", "endpoint": f"opc.tcp://127.0.0.1:{port}/bench/", "machine": "B1",
        "machine_type": "bench", "publishing_interval_ms": 100, "watchdog_s": 10.0, "timeout_s": 10.0,
        "nodes": [{"field": f"t{i}", "node": f"ns=2;s=T{i}", "sampling_interval_ms": 0, "queue_size": 10}
                  for i in range(tags)],
    })  # fmt: skip
    src = OpcUaSource(cfg, retry=RetryPolicy(link_base_s=0.2))
    spool = Spool(spool_dir / "spool.sqlite", 2**30)
    agent = Agent(MqttConfig(port=1, tls=False), AgentConfig(id="gw-bench"), [src], WallClock(), spool)
    received = 0

    def sink(batch: list) -> None:  # type: ignore[type-arg]
        # tags, not readings: the values of one publish response leave as one sample per time
        nonlocal received
        received += sum(len(r.fields) if isinstance(r, Sample) else 1 for r in batch)
        agent.sink(batch)

    task = asyncio.create_task(src.run(sink))
    while received < tags:  # the first value of every tag: the subscription is up
        await asyncio.sleep(0.05)
    await asyncio.sleep(warmup_s)
    start_n, start_cpu, start_wall = received, time.process_time(), time.monotonic()
    while time.monotonic() - start_wall < seconds:
        await asyncio.sleep(0.5)
        await agent.flush()
    n, cpu, wall = received - start_n, time.process_time() - start_cpu, time.monotonic() - start_wall
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return {
        "tags": tags, "tags_received": n, "tags_per_s": round(n / wall), "agent_cpu_s": round(cpu, 2),
        "agent_cpu_us_per_tag": round(cpu / n * 1e6, 1), "tags_per_s_per_core": round(n / cpu),
        "spool_depth": spool.depth, "watchdog_trips": src.health.watchdog_trips,
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tags", type=int, default=200)
    p.add_argument("--period-ms", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup-s", type=float, default=3.0)
    args = p.parse_args()
    port = _free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(
        target=_serve, args=(port, args.tags, args.period_ms / 1000, ready), daemon=True
    )
    server.start()
    try:
        if not ready.wait(120):
            raise SystemExit("the bench OPC UA server did not start")
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(_measure(port, args.tags, args.seconds, args.warmup_s, Path(tmp)))
        result["offered_tags_per_s"] = round(args.tags / (args.period_ms / 1000))
        print(json.dumps(result))
    finally:
        server.terminate()
        server.join(10)


if __name__ == "__main__":
    main()
