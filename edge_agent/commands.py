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

Signed commands (tonle.security.commands) add what an intruder could try. The signature is
checked by the agent before the gate (`edge_agent.command_desk`); the gate then refuses, with
status "refused" and a `code`, a machine this gateway does not own (`not_owned`), a command
stamped further ahead of the gateway's clock than `max_skew_s` (`from_the_future`) and one
that expires further out than `max_expiry_s` (`expiry_too_far`). A *replay* cannot be told
from a legitimate re-send (the analytics sends the same bytes again until it sees an ack), so
both get the first ack once more, as above, and the agent publishes a second ack that audits
the repeat: "refused", code `replayed`, at its own time (`replay_ack`), so the stored
`commands` show every attempt and the first point keeps its "applied". Only commands whose
signature verified reach the gate and use up an id: an unsigned command cannot block a real
one by taking its id first. Ids are remembered for at least `max_expiry_s + max_skew_s`
(`Bounds.keep_ns`), whatever their number: a replay after that is refused as expired, since
no command this gateway accepted can be valid for longer.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from tonle.contract import Command, CommandAck
from tonle.messages import N_, _, render
from tonle.sources.base import DeviceLimits

__all__ = ["Bounds", "CommandGate", "CommandLog", "Decision", "DeviceLimits", "MemoryLog"]

NS = 1_000_000_000
Outcome = Literal["applied", "rejected", "expired", "duplicate", "refused"]
INTERRUPTED = N_(
    "the gateway stopped while applying command {id}; it is not applied again: check the machine"
)
"""An ack's detail is worded in the gateway's language (`--lang`, or the environment) when it
is decided, and is sent and stored as worded; its `code` stays an English key for scripts."""


@dataclass(frozen=True, slots=True)
class Decision:
    """An outcome; `ts` is when it was decided (the ack's time), `original` the first
    outcome of an id seen again, `code` why it was not applied in a word, `signer` the key
    whose signature verified."""

    status: Outcome
    detail: str
    ts: int = 0
    original: Decision | None = None
    code: str = ""
    signer: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == "applied"


@dataclass(frozen=True, slots=True)
class Bounds:
    """How far ahead a command may be stamped and how far out it may expire (`[agent]`)."""

    max_expiry_s: float = 3600.0
    max_skew_s: float = 30.0

    @property
    def keep_ns(self) -> int:
        """How long an id must be remembered: past it, any command accepted with it has expired."""
        return int((self.max_expiry_s + self.max_skew_s) * NS)


class IdStore(Protocol):
    def get(self, cmd_id: str) -> Decision | None: ...
    def put(self, cmd_id: str, decision: Decision, forget_before_ns: int) -> None:
        """Remember `decision`; ids decided before `forget_before_ns` may go, beyond the last `remember`."""


class MemoryLog:
    """Outcomes of command ids in memory (tests): the last `remember`, and all the recent ones."""

    def __init__(self, remember: int = 10_000) -> None:
        self._seen: OrderedDict[str, Decision] = OrderedDict()
        self._remember = remember

    def get(self, cmd_id: str) -> Decision | None:
        return self._seen.get(cmd_id)

    def put(self, cmd_id: str, decision: Decision, forget_before_ns: int) -> None:
        self._seen[cmd_id] = decision
        self._seen.move_to_end(cmd_id)
        while len(self._seen) > self._remember and next(iter(self._seen.values())).ts < forget_before_ns:
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
        for column in ("code", "signer"):  # a log written before commands were signed
            if column not in columns:
                self._db.execute(f"ALTER TABLE commands ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
        self._remember = remember

    def get(self, cmd_id: str) -> Decision | None:
        row = self._db.execute(
            "SELECT status, detail, ts, code, signer FROM commands WHERE id = ?", (cmd_id,)
        ).fetchone()
        return Decision(row[0], row[1], row[2], code=row[3], signer=row[4]) if row else None

    def put(self, cmd_id: str, decision: Decision, forget_before_ns: int) -> None:
        d = decision
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO commands (id, status, detail, ts, code, signer) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (cmd_id, d.status, d.detail, d.ts, d.code, d.signer),
            )
            self._db.execute(
                "DELETE FROM commands WHERE n <= (SELECT MAX(n) FROM commands) - ? AND ts < ?",
                (self._remember, forget_before_ns),
            )

    def close(self) -> None:
        self._db.close()


class CommandGate:
    """Checks commands against each machine's limits and the time bounds; remembers every id's outcome."""

    def __init__(
        self, devices: dict[str, DeviceLimits], log: IdStore | None = None, bounds: Bounds | None = None
    ) -> None:
        self.devices = devices
        self.log: IdStore = log if log is not None else MemoryLog()
        self.bounds = bounds if bounds is not None else Bounds()

    def check(self, machine: str, cmd: Command, now_ns: int, signer: str = "") -> Decision:
        """Decide whether `cmd` (signed by `signer`) may be applied now; an id never passes twice."""
        previous = self.log.get(cmd.id)
        if previous is not None:
            detail = render(
                N_("command {id} was already handled: {status}"), {"id": cmd.id, "status": previous.status}
            )
            return Decision("duplicate", detail, now_ns, original=previous, code="replayed", signer=signer)
        decision = self._judge(machine, cmd, now_ns)
        decision = Decision(decision.status, decision.detail, now_ns, code=decision.code, signer=signer)
        if decision.accepted:
            # Written before the machine moves, replaced by the outcome once it has: a gateway
            # that dies while applying never applies the id again, and says so when asked.
            interrupted = render(INTERRUPTED, {"id": cmd.id})
            self.record(cmd.id, Decision("duplicate", interrupted, now_ns, code="interrupted", signer=signer))
        else:
            self.record(cmd.id, decision)
        return decision

    def record(self, cmd_id: str, decision: Decision) -> None:
        """Remember the final outcome (after the device applied or refused it), with its time."""
        self.log.put(cmd_id, decision, decision.ts - self.bounds.keep_ns)

    @staticmethod
    def answer(cmd: Command, decision: Decision) -> CommandAck:
        """The ack for `decision`; for an id seen again, its first ack once more (see the module doc)."""
        d = decision.original or decision
        return CommandAck(
            v=1,
            id=cmd.id,
            ts=d.ts or decision.ts,
            status=d.status,
            detail=d.detail,
            action=cmd.action,
            code=d.code,
            key=cmd.key,
            signer=d.signer,
        )

    @staticmethod
    def replay_ack(cmd: Command, decision: Decision) -> CommandAck:
        """The audit of an id seen again: "refused", code `replayed`, later than the first ack.

        Its own time keeps it a point of its own in InfluxDB (the first ack's point keeps its
        status); it names who signed this copy.
        """
        first = decision.original
        assert first is not None
        detail = render(
            N_(
                "command {id} came again (a re-send or a replay); it was already handled ({status}) "
                "and is never applied twice"
            ),
            {"id": cmd.id, "status": first.status},
        )
        return CommandAck(
            v=1,
            id=cmd.id,
            ts=max(decision.ts, first.ts + 1),
            status="refused",
            detail=detail,
            action=cmd.action,
            code="replayed",
            key=cmd.key,
            signer=decision.signer,
        )

    def _judge(self, machine: str, cmd: Command, now_ns: int) -> Decision:
        limits = self.devices.get(machine)
        if limits is None:
            detail = render(
                N_("this gateway has no machine called {machine!r}; send the command to its own gateway"),
                {"machine": machine},
            )
            return Decision("refused", detail, code="not_owned")
        refused = self._out_of_bounds(cmd, now_ns)
        if refused is not None:
            return refused
        if now_ns > cmd.expires:
            age_s = (now_ns - cmd.expires) / 1e9
            detail = render(N_("command expired {seconds}s ago; not applied"), {"seconds": f"{age_s:.0f}"})
            return Decision("expired", detail, code="expired")
        if cmd.action not in limits.allowed:
            allowed = ", ".join(sorted(limits.allowed)) or _("nothing")
            detail = render(
                N_("{action!r} is not allowed on {machine}; allowed: {allowed}"),
                {"action": cmd.action, "machine": machine, "allowed": allowed},
            )
            return Decision("rejected", detail, code="not_allowed")
        rng = limits.ranges.get(cmd.action)
        if rng is not None:
            lo, hi = rng
            if cmd.value is None:
                detail = render(
                    N_("{action} needs a value between {lo} and {hi}"),
                    {"action": cmd.action, "lo": f"{lo:g}", "hi": f"{hi:g}"},
                )
                return Decision("rejected", detail, code="no_value")
            if not lo <= cmd.value <= hi:
                detail = render(
                    N_("{action} value {value} is outside the allowed range {lo}..{hi}"),
                    {"action": cmd.action, "value": f"{cmd.value:g}", "lo": f"{lo:g}", "hi": f"{hi:g}"},
                )
                return Decision("rejected", detail, code="out_of_range")
        return Decision("applied", "")

    def _out_of_bounds(self, cmd: Command, now_ns: int) -> Decision | None:
        """A command stamped too far ahead of this gateway's clock, or valid for too long."""
        b = self.bounds
        ahead_s = (cmd.ts - now_ns) / NS
        if ahead_s > b.max_skew_s:
            detail = render(
                N_(
                    "command is stamped {ahead}s ahead of this gateway's clock (at most {limit}s allowed); "
                    "check the sender's and the gateway's clocks (NTP)"
                ),
                {"ahead": f"{ahead_s:.0f}", "limit": f"{b.max_skew_s:g}"},
            )
            return Decision("refused", detail, code="from_the_future")
        out_s = (cmd.expires - now_ns) / NS
        if out_s > b.max_expiry_s:
            detail = render(
                N_(
                    "command expires {seconds}s from now, more than the {limit}s this gateway "
                    "allows (agent.command_max_expiry_s); send it with a shorter expiry"
                ),
                {"seconds": f"{out_s:.0f}", "limit": f"{b.max_expiry_s:g}"},
            )
            return Decision("refused", detail, code="expiry_too_far")
        return None
