"""Shared plumbing for the OPC UA tests: the pocket-setter's node map, a source runner, waits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from edge_agent.sources.opcua import OpcUaSource, RetryPolicy
from edge_agent.sources.opcua_config import parse_opcua_source
from tonle.sources.base import Count, Reading, Sample, StateChange

WAIT_S = 8.0
FAST = RetryPolicy(link_base_s=0.05, link_max_s=0.2, jitter=0.0)
T0_NS = 1_780_000_000_000_000_000  # the simulated controller's clock: far from the wall clock

STATES = {"0": "idle", "1": "running", "2": "breakdown", "3": "maintenance", "4": "setup"}
NODES: list[dict[str, Any]] = [
    {"field": "state_code", "node": "ns=2;s=PS.State", "role": "state", "states": STATES},
    {"field": "pieces_total", "node": "ns=2;s=PS.PiecesTotal", "role": "count_total"},
    {"field": "pieces_good", "node": "ns=2;s=PS.PiecesGood", "role": "count_good"},
    {"field": "speed_ppm", "node": "ns=2;s=PS.Speed", "sampling_interval_ms": 0, "queue_size": 50},
    {"field": "vib_rms", "path": "2:PocketSetter/2:Vibration", "sampling_interval_ms": 0, "queue_size": 50},
    {"field": "current_a", "node": "ns=2;s=PS.Current", "mode": "poll", "poll_interval_s": 0.05},
]
COMMANDS = [{"action": "set_speed", "node": "ns=2;s=PS.SpeedSetpoint", "min": 0, "max": 40}]


def config(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "opcua", "name": "ps_opcua", "endpoint": endpoint, "machine": "PS1",
        "machine_type": "pocket_setter", "publishing_interval_ms": 50, "watchdog_s": 1.0,
        "timeout_s": 2.0, "nodes": NODES, "commands": COMMANDS, **extra,
    }  # fmt: skip


def source(endpoint: str, clock: Any = None, **extra: Any) -> OpcUaSource:
    """The source for the simulated pocket-setter; `clock` is the gateway's (a StepClock keeps it with
    the machine's, far from the wall clock, where the backfill's `backfill_s` window is measured)."""
    return OpcUaSource(parse_opcua_source(config(endpoint, **extra)), clock, retry=FAST)


class StepClock:
    """The simulated controller's clock: moves only when a test says so (a second per tick)."""

    def __init__(self, start_ns: int = T0_NS) -> None:
        self.t = start_ns

    def now_ns(self) -> int:
        return self.t

    def tick(self) -> int:
        self.t += 1_000_000_000
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Collector:
    """A sink that keeps every reading, for assertions."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def __call__(self, batch: Sequence[Reading]) -> None:
        self.readings.extend(batch)

    def samples(self, field: str) -> list[Sample]:
        return [r for r in self.readings if isinstance(r, Sample) and field in r.fields]

    def states(self) -> list[StateChange]:
        return [r for r in self.readings if isinstance(r, StateChange)]

    def counts(self) -> list[Count]:
        return [r for r in self.readings if isinstance(r, Count)]


async def until(done: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Poll a condition until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(
    src: OpcUaSource, sink: Callable[[Sequence[Reading]], None]
) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(src.run(sink), name=f"source-{src.name}")
    try:
        yield task
    finally:
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=WAIT_S)
        assert done, f"source {src.name} ignored its cancellation"
        if not task.cancelled() and (exc := task.exception()) is not None:
            raise exc


class FreezingProxy:
    """A TCP relay in front of a server that can go silent without closing anything.

    `freeze()` stops carrying bytes on every open connection, both ways, and keeps the
    sockets open: the half-open link (a switch that lost power, a NAT that forgot the
    flow) under which a subscription stops silently. Connections made afterwards work.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._generation = 0  # connections born in an older generation are frozen
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> FreezingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def freeze(self) -> None:
        self._generation += 1

    async def _handle(self, down_r: asyncio.StreamReader, down_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [down_w, up_w]
        born = self._generation
        for r, w in ((down_r, up_w), (up_r, down_w)):
            t = asyncio.create_task(self._pipe(r, w, born))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, born: int) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await r.read(65536):
                if self._generation != born:
                    continue  # frozen: swallow, answer nothing, close nothing
                w.write(data)
                await w.drain()
