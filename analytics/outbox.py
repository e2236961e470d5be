"""The commands this service sent and no machine has acknowledged yet.

What confirms a command is the edge agent's `cmd/ack` carrying its id (docs/delivery.md),
not the broker's PUBACK: a broker killed before it delivered the command, a gateway that was
away when its session was lost, or an agent that died between receiving and applying it all
leave a rule latch that believes the machine was derated when it was not. So every command
stays in the outbox until an ack with its id arrives, and is published again (the same id,
time and expiry: the same message) after `RESEND_POLICY`'s backoff while it has not expired.
The agent applies an id at most once and answers a repeat with its first ack
(`edge_agent.commands`), so a re-send costs a message, never a second derate. A command that
expires unacknowledged is dropped, counted (`commands_unconfirmed` in `pipeline`) and logged
once as not confirmed.

The outbox also writes each command and alert straight to InfluxDB, exactly as the collector
stores them from MQTT (same measurement, tags, fields and time: the two copies are one
point), so a restarted service (`analytics.recovery`) sees a command the broker lost before
the collector stored it, and takes the unacknowledged ones back into its outbox.

Every command is signed with the service's key (`analytics.signing_key`, named
`analytics.signer`) for the machine it goes to (`tonle.security.commands`) before it is sent
or kept: a gateway refuses anything else. Ed25519 is deterministic, so a re-send, or a command
rebuilt from the database after a restart, is the same bytes. Only an ack that names this service's key as
the verified `signer` settles a command: an ack with code `replayed` is the gateway's audit of
a repeat (the first ack comes again just before it), and a refused forgery that borrowed one of
our ids says nothing about our command.

It runs inside the rounds (`take_acks`, `resend_due`, `rows`): no task of its own, so the
same code runs on wall time and on a test's virtual clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

import numpy as np
import paho.mqtt.client as paho

from tonle.contract import (
    Alert,
    Command,
    CommandAck,
    MachineAddress,
    PayloadError,
    TopicError,
    decode,
    encode,
    encode_block,
    parse_topic,
)
from tonle.io.backoff import Backoff, BackoffPolicy
from tonle.io.mqtt import MqttConnection
from tonle.messages import _
from tonle.schema import ALERTS, COMMANDS, PIPELINE
from tonle.security.commands import sign_command, verify_command
from tonle.security.signing import SignatureRefused, Signer, TrustedKeys

__all__ = ["RESEND_POLICY", "Outbox", "alert_row", "command_row"]

log = logging.getLogger("tonle.analytics")
NS = 1_000_000_000
RESEND_POLICY = BackoffPolicy(base_s=10.0, max_s=60.0)
"""Wait before sending an unacknowledged command again: 10 s, 20 s, 40 s, then every 60 s
(jittered), checked at each round. With the default 120 s expiry that is 3 or 4 re-sends at
most, and none when the agent answers within 10 s."""


def command_row(addr: MachineAddress, cmd: Command) -> bytes:
    """`cmd` as the collector stores a `cmd` message (collector.rows): direction=cmd, status=sent."""
    floats: dict[str, np.ndarray] = {} if cmd.value is None else {"value": np.array([cmd.value])}
    strings: dict[str, list[str]] = {
        "id": [cmd.id],
        "action": [cmd.action],
        "status": ["sent"],
        "reason": [cmd.reason],
        "issued_by": [cmd.issued_by],
        "claimed_key": [cmd.key],
        "sig": [cmd.sig],
    }
    tags = {**addr.tags(), "direction": "cmd"}
    ts = np.array([cmd.ts], dtype=np.int64)
    return encode_block(COMMANDS.name, tags, ts, floats, {"expires": np.array([cmd.expires])}, strings)


def alert_row(addr: MachineAddress, alert: Alert) -> bytes:
    """`alert` as the collector stores an `alert` message (collector.rows)."""
    floats = {
        k: np.array([v]) for k, v in (("health", alert.health), ("rul_h", alert.rul_h)) if v is not None
    }
    tags = {**addr.tags(), "severity": alert.severity}
    ts = np.array([alert.ts], dtype=np.int64)
    return encode_block(
        ALERTS.name, tags, ts, floats, None, {"code": [alert.code], "message": [alert.message]}
    )


@dataclass
class _Pending:
    addr: MachineAddress
    cmd: Command
    due_ns: int
    backoff: Backoff
    last: asyncio.Future[int] | None = None  # the last publish's PUBACK, while paho holds it


@dataclass
class Outbox:
    """Commands sent and not yet acknowledged, the acks that settle them, and their counters."""

    mqtt: MqttConnection
    site: str = "+"  # the site whose acks are read ("+": every site, as analytics.site)
    signer: Signer = field(kw_only=True)  # the site whose acks are read ("+": every site, as analytics.site)
    policy: BackoffPolicy = RESEND_POLICY
    rng: random.Random = field(default_factory=random.Random)
    pending: dict[str, _Pending] = field(default_factory=dict)
    sent: int = 0  # commands sent the first time
    resent: int = 0  # sends of a command again
    confirmed: int = 0  # commands an agent acknowledged (applied, rejected, expired or duplicate)
    unconfirmed: int = 0  # commands that expired with no ack
    _rows: list[bytes] = field(default_factory=list)
    _listening: bool = False
    _own: TrustedKeys = field(init=False)

    def __post_init__(self) -> None:
        self._own = TrustedKeys.parse({self.signer.name: self.signer.public_text})

    async def listen(self) -> None:
        """Subscribe to the agents' acks (once; the connection renews it on every reconnect)."""
        if not self._listening:
            await self.mqtt.subscribe(f"tonle/{self.site}/+/+/+/cmd/ack", qos=1)
            self._listening = True

    def send(self, addr: MachineAddress, cmd: Command, now_ns: int) -> None:
        """Sign and publish `cmd` (QoS 1), keep it until its ack, and store it."""
        self.track(addr, cmd, now_ns)
        pending = self.pending[cmd.id]
        self._publish(pending, now_ns)
        self._rows.append(command_row(addr, pending.cmd))
        self.sent += 1

    def alert(self, addr: MachineAddress, alert: Alert) -> None:
        """Publish `alert` (QoS 1) and store it; an alert has no ack, the stored row is its record."""
        self.mqtt.publish_nowait(addr.topic("alert"), encode(alert), qos=1)
        self._rows.append(alert_row(addr, alert))

    def track(self, addr: MachineAddress, cmd: Command, due_ns: int) -> None:
        """Sign `cmd` and keep it until its ack; (re)sent at the first `resend_due` at or after `due_ns`."""
        if cmd.id not in self.pending:
            signed = sign_command(cmd, addr, self.signer)
            self.pending[cmd.id] = _Pending(addr, signed, due_ns, Backoff(self.policy, self.rng))

    def restore(self, addr: MachineAddress, cmd: Command, due_ns: int) -> bool:
        """Keep a command read back from the database, if this service's key signed it for `addr`.

        Anyone who can publish on a `cmd` topic gets a row stored; only our own signature
        proves the row is a command we sent, so nothing else is ever signed and sent again.
        """
        try:
            verify_command(self._own, cmd, addr)
        except SignatureRefused as exc:
            log.warning(
                _(
                    "command {id} to {machine} in the database was not signed by this service ({code}); "
                    "not sent again"
                ).format(id=cmd.id, machine=addr.machine, code=exc.code)
            )
            return False
        if cmd.id not in self.pending:
            self.pending[cmd.id] = _Pending(addr, cmd, due_ns, Backoff(self.policy, self.rng))
        return True

    def take_acks(self) -> int:
        """Settle every command whose ack has arrived since the last call; returns how many."""
        settled = 0
        while not self.mqtt.messages.empty():
            settled += self._settle(self.mqtt.messages.get_nowait())
        return settled

    def resend_due(self, now_ns: int) -> int:
        """Send again each unacknowledged command whose wait is over; drop the expired ones."""
        resent = 0
        for cmd_id, p in list(self.pending.items()):
            if now_ns > p.cmd.expires:
                del self.pending[cmd_id]
                self.unconfirmed += 1
                log.warning(
                    _(
                        "command {id} ({action} to {machine}) expired with no answer from the gateway: "
                        "not confirmed, the machine may not have applied it"
                    ).format(id=cmd_id, action=p.cmd.action, machine=p.addr.machine)
                )
            elif now_ns >= p.due_ns and self.mqtt.connected.is_set() and (p.last is None or p.last.done()):
                # (not while paho still holds the last copy: it sends that again itself on reconnect)
                self._publish(p, now_ns)
                self.resent += 1
                resent += 1
        return resent

    def rows(self, now_ns: int) -> bytes:
        """The commands and alerts not yet written, and the outbox's counters as a `pipeline` row."""
        counters = {
            "commands_sent": self.sent,
            "commands_resent": self.resent,
            "commands_confirmed": self.confirmed,
            "commands_unconfirmed": self.unconfirmed,
            "commands_pending": len(self.pending),
        }
        health = encode_block(
            PIPELINE.name,
            {"component": "analytics", "instance": self.mqtt.client_id},
            np.array([now_ns], dtype=np.int64),
            {k: np.array([float(v)]) for k, v in counters.items()},
        )
        return b"".join(self._rows) + health

    def written(self) -> None:
        """The rows of `rows` are in the database (HTTP 204): forget them."""
        self._rows.clear()

    def _publish(self, p: _Pending, now_ns: int) -> None:
        p.last = self.mqtt.publish_nowait(p.addr.topic("cmd"), encode(p.cmd), qos=1)
        p.due_ns = now_ns + int(p.backoff.next_delay() * NS)

    def _settle(self, msg: paho.MQTTMessage) -> int:
        try:
            addr, kind = parse_topic(msg.topic)
            ack = decode("cmd/ack", bytes(msg.payload))
        except (PayloadError, TopicError) as exc:
            log.warning(
                _("ignored a malformed command ack on {topic!r}: {reason}").format(
                    topic=msg.topic, reason=exc
                )
            )
            return 0
        assert isinstance(ack, CommandAck)
        if ack.code == "replayed" or ack.signer != self.signer.name:
            # The gateway's audit of a re-send (the first ack, sent just before it, settles), or
            # the refusal of a command this service did not sign that carried one of its ids.
            return 0
        p = self.pending.pop(ack.id, None) if kind == "cmd/ack" else None
        if p is None:
            return 0  # another service's command, or one settled already
        self.confirmed += 1
        if ack.status in ("rejected", "expired", "refused"):
            log.warning(
                _("command {id} ({action} to {machine}) was not applied: {status} {detail}").format(
                    id=ack.id, action=p.cmd.action, machine=addr.machine, status=ack.status, detail=ack.detail
                )
            )
        return 1
