"""What the floor did with the analytics' commands, for the live view: speed, andon, the latest answers.

Read from the `commands` rows the collector stores (the analytics' `cmd` rows and the
gateway's `ack` rows), so the live view shows what the machines applied, not what was
asked: a derate the gateway refused leaves the speed at 100 %. A station's speed is the
value of its last applied `set_speed` (100 % until one is applied); its andon is lit from
an applied `andon` with value 1 until an applied `clear_andon` (or `andon` 0).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tonle.io.influxql import InfluxQLClient, InfluxQLError, quote_str
from tonle.messages import N_, render
from tonle.schema import COMMANDS

__all__ = ["Answer", "CommandBoard"]

NS = 1_000_000_000
LATEST = 3


@dataclass(frozen=True, slots=True)
class Answer:
    """One gateway answer to one command."""

    time_ns: int
    machine: str
    action: str
    value: float | None
    status: str
    detail: str

    def sentence(self, status: str) -> str:
        """'10:42:07 S07 set_speed 70%: applied' (the detail after a refusal); `status` in words."""
        at = dt.datetime.fromtimestamp(self.time_ns / NS).strftime("%H:%M:%S")
        what = self.action if self.value is None else f"{self.action} {_value(self.action, self.value)}"
        words = {"time": at, "machine": self.machine, "what": what, "status": status, "detail": self.detail}
        if self.detail and self.status != "applied":
            return render(N_("{time} {machine} {what}: {status} ({detail})"), words)
        return render(N_("{time} {machine} {what}: {status}"), words)


def _value(action: str, value: float) -> str:
    return f"{value:.0%}" if action == "set_speed" else f"{value:g}"


@dataclass
class CommandBoard:
    """The commands' effect on each station since `since_ns`, refreshed from the database."""

    site: str
    since_ns: int
    speed: dict[str, float] = field(default_factory=dict)
    andon_ns: dict[str, int] = field(default_factory=dict)  # lit since
    latest: list[Answer] = field(default_factory=list)

    async def refresh(self, q: InfluxQLClient) -> bool:
        """Read the commands and answers so far; False (board unchanged) when the database is away."""
        where = f"site = {quote_str(self.site)} AND time >= {self.since_ns}"
        try:
            cmds = await q.query(f"SELECT id, value FROM {COMMANDS.name} WHERE {where} AND direction = 'cmd'")
            acks = await q.query(
                f"SELECT machine, action, status, detail, id FROM {COMMANDS.name} "
                f"WHERE {where} AND direction = 'ack'"
            )
        except InfluxQLError:
            return False
        values = {row[1]: row[2] for s in cmds for row in s.values}
        self.update([_answer(row, values) for s in acks for row in s.values])
        return True

    def update(self, answers: list[Answer]) -> None:
        """Speed, andon and the latest few from all the answers so far (any order)."""
        answers = sorted(answers, key=lambda a: a.time_ns)
        self.speed, self.andon_ns = {}, {}
        for a in answers:
            if a.status != "applied":
                continue
            if a.action == "set_speed" and a.value is not None:
                self.speed[a.machine] = a.value
            elif a.action == "andon" and a.value == 1:
                self.andon_ns.setdefault(a.machine, a.time_ns)
            elif a.action in ("andon", "clear_andon"):
                self.andon_ns.pop(a.machine, None)
        self.latest = answers[-LATEST:]


def _answer(row: list[Any], values: dict[str, Any]) -> Answer:
    t, machine, action, status, detail, cid = row
    value = values.get(cid)
    return Answer(
        int(t),
        machine or "",
        action or "",
        None if value is None else float(value),
        status or "",
        detail or "",
    )
