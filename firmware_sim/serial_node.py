"""Sewing-station sensor nodes on pseudo-terminals: a whole line of them, one per station.

`SerialLineSim` runs one node (`firmware_sim.sensor_node.SensorNodeSim`) per station on
one shared `SewingLine`, stepped on a clock; each station's output becomes that node's
frames, in time order, exactly as twelve separate MCUs would send them. Each node sits
on its own pty with a stable link path (`firmware_sim.pty_wire`), which is what the
gateway opens.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from firmware_sim.line import LineOutput, SewingLine
from firmware_sim.pty_wire import KICK_S
from firmware_sim.sensor_node import FIRMWARE, RING_SIZE, NodeStats, SensorNodeSim
from tonle.io.clock import Clock
from tonle.protocols.serial_frames import Body, Count, State, Telemetry, Vibration

__all__ = ["FIRMWARE", "KICK_S", "RING_SIZE", "NodeStats", "SensorNodeSim", "SerialLineSim", "station_bodies"]


def station_bodies(out: LineOutput, stations: Iterable[int] | None = None) -> dict[int, list[Body]]:
    """Split one step of line output into each station's frames, in time order."""
    want = None if stations is None else set(stations)
    items: defaultdict[int, list[tuple[int, int, Body]]] = defaultdict(list)
    tel = out.telemetry
    columns = (tel.ts, tel.station, tel.speed_spm, tel.current_a, tel.temp_c, tel.andon)
    for ts, st, speed, cur, temp, andon in zip(*(c.tolist() for c in columns), strict=True):
        if want is None or st in want:
            items[st].append((ts, 2, Telemetry(ts, speed, cur, temp, round(andon))))
    for s in out.states:
        items[s.station].append((s.ts_ns, 0, State(s.ts_ns, s.state, s.reason)))
    for c in out.counts:
        items[c.station].append((c.ts_ns, 1, Count(c.ts_ns, c.total, c.good)))
    for b in out.bursts:
        if want is None or b.station in want:
            items[b.station].append((b.ts_ns, 3, Vibration.from_waveform(b.ts_ns, b.fs_hz, b.waveform)))
    return {
        st: [body for _, _, body in sorted(rows, key=lambda r: (r[0], r[1]))]
        for st, rows in items.items()
        if want is None or st in want
    }


class SerialLineSim:
    """A whole line of sensor nodes: one `SewingLine`, one node and one pty link per station.

    Use as `async with SerialLineSim(line, "run/tty") as sim: await sim.run(clock)`;
    the gateway opens `sim.links["S01"]` and so on.
    """

    def __init__(
        self,
        line: SewingLine,
        link_dir: str | Path,
        *,
        stations: Sequence[int] | None = None,
        ring_size: int = RING_SIZE,
    ) -> None:
        self.line = line
        self.link_dir = Path(link_dir)
        chosen = range(line.n) if stations is None else stations
        nodes = [
            SensorNodeSim(line, i, self.link_dir / line.spec.stations[i].name, ring_size=ring_size)
            for i in chosen
        ]
        self.nodes: dict[str, SensorNodeSim] = {n.machine: n for n in nodes}
        self._by_station = {n.station: n for n in nodes}

    @property
    def links(self) -> dict[str, Path]:
        """Machine name -> the stable path a gateway opens."""
        return {name: node.link for name, node in self.nodes.items()}

    async def __aenter__(self) -> SerialLineSim:
        self.link_dir.mkdir(parents=True, exist_ok=True)
        try:
            for node in self.nodes.values():
                node.plug()
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for node in self.nodes.values():
            node.unplug()

    def step(self, now_ns: int) -> LineOutput:
        """Run the line up to `now_ns` and hand each node its station's output; return the output."""
        out = self.line.advance_to(now_ns)
        for station, bodies in station_bodies(out, self._by_station).items():
            self._by_station[station].publish(bodies)
        return out

    async def run(self, clock: Clock, tick_s: float = 1.0) -> None:
        """Step the line every `tick_s` of `clock` until cancelled."""
        while True:
            await clock.sleep(tick_s)
            self.step(clock.now_ns())
