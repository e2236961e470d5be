"""Which stations have their andon lit now, why, since when, and who has acknowledged it.

The light is a command (`commands`, action `andon` lights it, `clear_andon` puts it out; the
rules light it when a machine breaks down, a person clears it with `tonle command`), and a
station that reports its light (telemetry field `andon`) is believed over the commands: it
is what the floor sees. The acknowledgement is a person's (`andon_acks`, from a QC tablet, a
button box or `tonle andon ack`); one made before the light came on does not count.

Each round writes one `andon_status` row per station, so the andon board has a tile for every
station and `last()` is the state now: 0 off (green), 1 lit and acknowledged (amber: someone
is on it), 2 lit and nobody has answered yet (red).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.inputs import LineKey
from tonle.contract.lineproto import encode_block
from tonle.io.influxql import InfluxQLClient
from tonle.io.writers import Writer
from tonle.schema import ANDON, ANDON_ACKS, ANDON_STATUS, COMMANDS, TELEMETRY

__all__ = ["OFF", "ON_IT", "WAITING", "AndonLight", "AndonWriter", "andon_lights", "read_andon"]

NS = 1_000_000_000
OFF, ON_IT, WAITING = 0, 1, 2
REPORTED_S = 300  # a station's own report of its light counts while this fresh


@dataclass(frozen=True, slots=True)
class AndonLight:
    """One station's andon now."""

    machine: str
    lit: bool
    since_ns: int  # when the light came on (0 when off)
    reason: str
    ack_by: str
    ack_note: str
    ack_ns: int

    @property
    def state(self) -> int:
        if not self.lit:
            return OFF
        return ON_IT if self.ack_by else WAITING


def andon_lights(
    machines: Sequence[str],
    commands: Mapping[str, tuple[int, str, str]],
    reported: Mapping[str, float],
    acks: Mapping[str, tuple[int, str, str]],
) -> list[AndonLight]:
    """Each machine's light from its last andon command (ts, action, reason), the light it
    reports (1 on, 0 off) and its last acknowledgement (ts, by, note)."""
    out = []
    for m in machines:
        ts, action, reason = commands.get(m, (0, "", ""))
        lit = action == "andon"
        if m in reported:
            lit = reported[m] >= 0.5
        if not lit:
            out.append(AndonLight(m, False, 0, "", "", "", 0))
            continue
        since = ts if action == "andon" else 0
        ack_ts, by, note = acks.get(m, (0, "", ""))
        if ack_ts < since or not by:
            ack_ts, by, note = 0, "", ""
        out.append(AndonLight(m, True, since, reason if action == "andon" else "", by, note, ack_ts))
    return out


async def read_andon(
    q: InfluxQLClient, key: LineKey, machines: Sequence[str], now_ns: int
) -> list[AndonLight]:
    """The andon of each machine of the line at `now_ns`, from what InfluxDB holds."""
    where = f"{key.where()} AND time <= {now_ns}"
    cmd_rows = await q.query(
        f"SELECT last(action) AS action, reason FROM {COMMANDS.name} WHERE {where} AND direction = 'cmd' "
        "AND (action = 'andon' OR action = 'clear_andon') GROUP BY machine"
    )
    commands = {s.tags["machine"]: _row(s.values[0]) for s in cmd_rows}
    tel_rows = await q.query(
        f"SELECT last({ANDON}) FROM {TELEMETRY.name} WHERE {where} "
        f"AND time > {now_ns - REPORTED_S * NS} GROUP BY machine"
    )
    reported = {s.tags["machine"]: float(s.values[0][1]) for s in tel_rows if s.values[0][1] is not None}
    ack_rows = await q.query(
        f'SELECT last("by") AS "by", note FROM {ANDON_ACKS.name} WHERE {where} GROUP BY machine'
    )
    acks = {s.tags["machine"]: _row(s.values[0]) for s in ack_rows}
    return andon_lights(machines, commands, reported, acks)


def _row(values: list[Any]) -> tuple[int, str, str]:
    """(time, first field, second field) of a `last(a) AS a, b` row; an absent text is empty."""
    return int(values[0]), values[1] or "", values[2] or ""


def andon_rows(key: LineKey, lights: Iterable[AndonLight], now_ns: int) -> bytes:
    """One `andon_status` row per station at `now_ns`."""
    chunks = []
    stamp = np.array([now_ns], dtype=np.int64)
    for a in lights:
        tags = {"site": key.site, "area": key.area, "line": key.line, "machine": a.machine}
        minutes = (now_ns - a.since_ns) / 60 / NS if a.lit and a.since_ns else 0.0
        ints = {"state": a.state, "lit": int(a.lit), "since_ms": a.since_ns // 1_000_000}
        chunks.append(
            encode_block(
                ANDON_STATUS.name,
                tags,
                stamp,
                {"minutes_lit": np.array([minutes])},
                {k: np.array([v]) for k, v in ints.items()},
                {"reason": [a.reason], "ack_by": [a.ack_by], "ack_note": [a.ack_note]},
            )
        )
    return b"".join(chunks)


class AndonWriter:
    """Writes every station's andon each round (call it with the lines the round found)."""

    def __init__(self, query: InfluxQLClient, writer: Writer) -> None:
        self.query = query
        self.writer = writer
        self.lights: dict[LineKey, list[AndonLight]] = {}

    async def update(self, lines: Mapping[LineKey, list[str]], now_ns: int) -> None:
        chunks = []
        for key, machines in lines.items():
            self.lights[key] = await read_andon(self.query, key, machines, now_ns)
            chunks.append(andon_rows(key, self.lights[key], now_ns))
        if chunks:
            await self.writer.write(b"".join(chunks))
