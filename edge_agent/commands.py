"""The command gate: the only way a command reaches a machine.

A command moves a physical machine, so it is checked here before anything
happens: known device, action on that device's allow-list, value inside the
configured limits, not expired, and never applied twice (idempotent by id).
Pure logic with no I/O, so every refusal is tested directly.

A command id that comes again (the analytics sends a command again until it sees an ack,
docs/delivery.md; the broker redelivers after a reconnect) is never applied again, and is
answered with its *original* ack: the same status, detail and time. The sender learns
what really happened even when the first ack was lost, and the two acks are one point in
InfluxDB (same series and timestamp), so the dashboards keep showing "applied", not
"duplicate". The gate's own verdict on the repeat is still "duplicate" (the agent counts
it as such). An id is remembered before the machine moves, so a gateway that loses power
while applying a command does not apply it again after its restart (at most once, even
then); asked again, it answers "duplicate" and says it was interrupted.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from tonle.contract import Command, CommandAck
from tonle.sources.base import DeviceLimits

__all__ = ["CommandGate", "CommandLog", "Decision", "DeviceLimits", "MemoryLog"]

Outcome = Literal["applied", "rejected", "expired", "duplicate"]
INTERRUPTED = "the gateway stopped while applying command {id}; it is not applied again: check the machine"


@dataclass(frozen=True, slots=True)
class Decision:
    """An outcome; `ts` is when it was decided (the ack's time), `original` the first
    outcome of an id seen again."""

    status: Outcome
    detail: str
    ts: int = 0
    original: Decision | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "applied"


class IdStore(Protocol):
    def get(self, cmd_id: str) -> Decision | None: ...
    def put(self, cmd_id: str, decision: Decision) -> None: ...


class MemoryLog:
    """Outcomes of the last `remember` command ids, in memory (tests, the demo)."""

    def __init__(self, remember: int = 10_000) -> None:
        self._seen: OrderedDict[str, Decision] = OrderedDict()
        self._remember = remember

    def get(self, cmd_id: str) -> Decision | None:
        return self._seen.get(cmd_id)

    def put(self, cmd_id: str, decision: Decision) -> None:
        self._seen[cmd_id] = decision
        self._seen.move_to_end(cmd_id)
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)


class CommandLog:
    """Outcomes of command ids on disk, so a command the broker redelivers after the
    agent restarted (its session is persistent) is still applied at most once."""

    def __init__(self, path: Path, remember: int = 10_000) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS commands "
            "(n INTEGER PRIMARY KEY, id TEXT UNIQUE, status TEXT, detail TEXT, ts INTEGER NOT NULL DEFAULT 0)"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(commands)")}
        if "ts" not in columns:  # a log written before acks were repeated: its outcomes have no time
            self._db.execute("ALTER TABLE commands ADD COLUMN ts INTEGER NOT NULL DEFAULT 0")
        self._remember = remember

    def get(self, cmd_id: str) -> Decision | None:
        row = self._db.execute("SELECT status, detail, ts FROM commands WHERE id = ?", (cmd_id,)).fetchone()
        return Decision(row[0], row[1], row[2]) if row else None

    def put(self, cmd_id: str, decision: Decision) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO commands (id, status, detail, ts) VALUES (?, ?, ?, ?)",
                (cmd_id, decision.status, decision.detail, decision.ts),
            )
            self._db.execute(
                "DELETE FROM commands WHERE n <= (SELECT MAX(n) FROM commands) - ?", (self._remember,)
            )

    def close(self) -> None:
        self._db.close()


class CommandGate:
    """Checks commands against each machine's limits; remembers every id's outcome."""

    def __init__(self, devices: dict[str, DeviceLimits], log: IdStore | None = None) -> None:
        self.devices = devices
        self.log: IdStore = log if log is not None else MemoryLog()

    def check(self, machine: str, cmd: Command, now_ns: int) -> Decision:
        """Decide whether `cmd` may be applied now; a duplicate id never passes twice."""
        previous = self.log.get(cmd.id)
        if previous is not None:
            detail = f"command {cmd.id} was already handled: {previous.status}"
            return Decision("duplicate", detail, now_ns, original=previous)
        decision = self._judge(machine, cmd, now_ns)
        decision = Decision(decision.status, decision.detail, now_ns)
        if decision.accepted:
            # Written before the machine moves, replaced by the outcome once it has: a gateway
            # that dies while applying never applies the id again, and says so when asked.
            self.record(cmd.id, Decision("duplicate", INTERRUPTED.format(id=cmd.id), now_ns))
        else:
            self.record(cmd.id, decision)
        return decision

    def record(self, cmd_id: str, decision: Decision) -> None:
        """Remember the final outcome (after the device applied or refused it), with its time."""
        self.log.put(cmd_id, decision)

    @staticmethod
    def answer(cmd: Command, decision: Decision) -> CommandAck:
        """The ack for `decision`; for an id seen again, its first ack once more (see the module doc)."""
        first = decision.original
        if first is not None:
            return CommandAck(
                v=1,
                id=cmd.id,
                ts=first.ts or decision.ts,
                status=first.status,
                detail=first.detail,
                action=cmd.action,
            )
        return CommandAck(
            v=1, id=cmd.id, ts=decision.ts, status=decision.status, detail=decision.detail, action=cmd.action
        )

    def _judge(self, machine: str, cmd: Command, now_ns: int) -> Decision:
        limits = self.devices.get(machine)
        if limits is None:
            return Decision("rejected", f"this gateway has no machine called {machine!r}")
        if now_ns > cmd.expires:
            age_s = (now_ns - cmd.expires) / 1e9
            return Decision("expired", f"command expired {age_s:.0f}s ago; not applied")
        if cmd.action not in limits.allowed:
            allowed = ", ".join(sorted(limits.allowed)) or "nothing"
            return Decision("rejected", f"{cmd.action!r} is not allowed on {machine}; allowed: {allowed}")
        rng = limits.ranges.get(cmd.action)
        if rng is not None:
            lo, hi = rng
            if cmd.value is None:
                return Decision("rejected", f"{cmd.action} needs a value between {lo:g} and {hi:g}")
            if not lo <= cmd.value <= hi:
                return Decision(
                    "rejected",
                    f"{cmd.action} value {cmd.value:g} is outside the allowed range {lo:g}..{hi:g}",
                )
        return Decision("applied", "")
