"""What the rules decided, sent to the floor: an alert for every action, a command for most.

Each command carries an id, an expiry (`analytics.rules.command_ttl_s`) and the reason in
words; the edge agent applies it at most once and answers on `cmd/ack`. Both go through the
outbox (`analytics.outbox`), which sends a command again until its ack arrives and writes
alerts and commands to InfluxDB itself (the collector stores them too, as the same points):
what a restarted service reads back to know what it already did (`analytics.recovery`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from analytics.inputs import LineKey
from analytics.outbox import Outbox
from analytics.rules import Action
from tonle.contract import Alert, Command, MachineAddress

__all__ = ["ISSUED_BY", "Sent", "publish_actions"]

log = logging.getLogger("tonle.analytics")
NS = 1_000_000_000
ISSUED_BY = "tonle-analytics"
"""`issued_by` of the commands this service sends (an operator's commands are not its own)."""


@dataclass(frozen=True, slots=True)
class Sent:
    alerts: int
    commands: int


def publish_actions(outbox: Outbox, line: LineKey, acts: Sequence[Action], now_ns: int, ttl_s: float) -> Sent:
    """Send each action's alert and command to its machine's topics, through the outbox."""
    alerts = commands = 0
    for act in acts:
        addr = MachineAddress(line.site, line.area, line.line, act.machine)
        outbox.alert(addr, _alert(act, now_ns))
        alerts += 1
        if act.command is not None:
            outbox.send(addr, _command(act, now_ns, ttl_s), now_ns)
            commands += 1
        log.warning("%s", act.message)
        now_ns += 1  # one point per ns per series in the alerts/commands measurements
    return Sent(alerts, commands)


def _alert(act: Action, now_ns: int) -> Alert:
    return Alert(
        v=1,
        ts=now_ns,
        severity=act.severity,
        code=act.code,
        message=act.message,
        health=act.health,
        rul_h=act.rul_h,
    )


def _command(act: Action, now_ns: int, ttl_s: float) -> Command:
    assert act.command is not None
    return Command(
        v=1,
        id=uuid.uuid4().hex[:16],
        ts=now_ns,
        expires=now_ns + int(ttl_s * NS),
        action=act.command,
        reason=act.message,
        value=act.value,
        issued_by=ISSUED_BY,
    )
