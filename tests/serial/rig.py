"""A real serial link for tests: simulated sensor nodes on ptys, real pyserial sources reading them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.sources.serial import ACTIONS, SerialDeviceConfig, SerialNodeSource
from firmware_sim.line import LineOutput, SewingLine, default_line
from firmware_sim.serial_node import SensorNodeSim, SerialLineSim
from tonle.sources.base import Burst, Count, Reading, Sample, StateChange

START = 1_700_000_000_000_000_000
S = 1_000_000_000
WAIT_S = 10.0


@dataclass
class Rig:
    line: SewingLine
    sim: SerialLineSim
    sources: dict[str, SerialNodeSource]
    got: dict[str, list[Reading]]
    tg: asyncio.TaskGroup
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    outputs: list[LineOutput] = field(default_factory=list)
    t_s: int = 0

    def start(self, machine: str, source: SerialNodeSource) -> None:
        """Run `source` for `machine`, cancelling the one before it (a gateway restart)."""
        old = self.tasks.get(machine)
        if old is not None:
            old.cancel()
        self.sources[machine], self.got[machine] = source, []
        run = source.run(self.got[machine].extend)
        self.tasks[machine] = self.tg.create_task(run, name=f"serial-{machine}")

    def node(self, machine: str = "S01") -> SensorNodeSim:
        return self.sim.nodes[machine]

    def step(self, seconds: int) -> None:
        """Run the line `seconds` further, one-second steps, as a node's firmware loop would."""
        for _ in range(seconds):
            self.t_s += 1
            self.outputs.append(self.sim.step(START + self.t_s * S))

    async def until(self, done: Callable[[], bool], what: str) -> None:
        """Poll a condition on the event loop (the link is real I/O) with a deadline."""
        deadline = time.monotonic() + WAIT_S
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {WAIT_S} s waiting for {what}")
            await asyncio.sleep(0.002)

    async def delivered(self, machine: str = "S01") -> None:
        """Wait until the source handled (or gave up as lost) every frame its node has made so far."""
        node, src = self.node(machine), self.sources[machine]
        await self.until(lambda: src.position == (node.boot, node.seq), f"all frames of {machine}")

    def expected(self, station: int) -> dict[str, list[tuple[Any, ...]]]:
        """What the line produced for one station, straight from its output (not via the codec)."""
        out: dict[str, list[tuple[Any, ...]]] = {"T": [], "S": [], "C": [], "V": []}
        for o in self.outputs:
            tel = o.telemetry
            for r in np.flatnonzero(tel.station == station):
                out["T"].append(
                    (
                        int(tel.ts[r]),
                        float(tel.speed_spm[r]),
                        float(tel.current_a[r]),
                        float(tel.temp_c[r]),
                        float(tel.andon[r]),
                    )
                )
            out["S"] += [(s.ts_ns, s.state, s.reason) for s in o.states if s.station == station]
            out["C"] += [(c.ts_ns, c.total, c.good) for c in o.counts if c.station == station]
            out["V"] += [(b.ts_ns, b.fs_hz, b.waveform) for b in o.bursts if b.station == station]
        return out


def received(readings: Iterable[Reading]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {"T": [], "S": [], "C": [], "V": []}
    for r in readings:
        if isinstance(r, Sample):
            f = r.fields
            out["T"].append((r.ts_ns, f["speed_spm"], f["current_a"], f["temp_c"], f["andon"]))
        elif isinstance(r, StateChange):
            out["S"].append((r.ts_ns, r.state, r.reason))
        elif isinstance(r, Count):
            out["C"].append((r.ts_ns, r.total, r.good))
        elif isinstance(r, Burst):
            out["V"].append((r.ts_ns, r.fs_hz, r.waveform))
    return out


def assert_same_readings(rig: Rig, machine: str = "S01", station: int = 0, *, one_boot: bool = True) -> None:
    """The source got exactly what the line produced for the station: each reading once, none missing.

    Comparing multisets already catches a reading pushed twice; within one boot
    of the node the seqs must be distinct too.
    """
    readings = rig.got[machine]
    seqs = [r.seq for r in readings]
    assert not one_boot or len(seqs) == len(set(seqs)), "a frame was pushed twice"
    want, got = rig.expected(station), received(readings)
    for kind in ("T", "S", "C"):
        assert sorted(got[kind]) == sorted(want[kind]), kind
    bursts = sorted(got["V"], key=lambda b: b[0])
    assert [b[:2] for b in bursts] == [b[:2] for b in sorted(want["V"], key=lambda b: b[0])]
    for (_, _, w_got), (_, _, w_want) in zip(bursts, sorted(want["V"], key=lambda b: b[0]), strict=True):
        step = np.abs(w_want).max() / 32767
        np.testing.assert_allclose(w_got, w_want, rtol=0, atol=step / 2 * (1 + 1e-9))


@contextlib.asynccontextmanager
async def serial_rig(
    tmp_path: Path,
    machines: tuple[str, ...] = ("S01",),
    ring_size: int = 2000,
    backlog_s: int = 0,
    **cfg: Any,
) -> AsyncIterator[Rig]:
    """A 3-station line with nodes for `machines`, one connected source each, all synced.

    `backlog_s` runs the line that long before any source opens its port: the
    nodes write into ptys nobody reads, as while the gateway is off.
    """
    line = SewingLine(default_line(3, wearing_station=0), seed=3, start_ns=START)
    names = [s.name for s in line.spec.stations]
    stations = [names.index(m) for m in machines]
    settings: dict[str, Any] = {
        "reconnect_min_s": 0.01,
        "reconnect_max_s": 0.05,
        "read_timeout_s": 60.0,
        "resync_interval_s": 0.02,
        "allowed_commands": ACTIONS,
        "speed_min": 0.1,
        **cfg,
    }
    async with SerialLineSim(line, tmp_path / "tty", stations=stations, ring_size=ring_size) as sim:
        sources = {
            m: SerialNodeSource(
                SerialDeviceConfig(
                    name=f"node-{m}",
                    port=str(sim.links[m]),
                    machine=m,
                    machine_type=sim.nodes[m].machine_type,
                    **settings,
                )
            )
            for m in machines
        }
        async with asyncio.TaskGroup() as tg:
            rig = Rig(line, sim, {}, {}, tg)
            rig.step(backlog_s)
            for m, src in sources.items():
                rig.start(m, src)
            for m, src in sources.items():
                await rig.until(lambda src=src: src.stats.node is not None, f"the hello of {m}")
            yield rig
            for t in rig.tasks.values():
                t.cancel()
