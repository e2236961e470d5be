"""Every command a gateway receives, from its topic to its ack: signature, gate, machine, answer.

Nothing that moves a machine runs unauthenticated, and there is no switch to make it so. In
order: a payload that does not decode is counted and dropped (no id to answer); the
signature is verified against the trusted keys for the address the command *arrived on*
(`tonle.security.commands`), and a command that is unsigned, signed by an unknown or revoked
key, or altered (another value, another machine's topic) is refused at once, without using up
its id; then the gate (`edge_agent.commands`) refuses a machine this gateway does not own, a
stamp too far ahead, an expiry too far out, an expired command, an id already handled (a
replay), and checks the machine's limits; only then does the source that owns the machine
apply it.

Each refusal is an ack on `cmd/ack` with status "refused", a `code` and a plain detail, a
`refused_<code>` counter in the agent's health rows, and one warning line a technician can
read. `issued_by` in the payload is never used: the ack's `signer` is the key that verified.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Protocol

import paho.mqtt.client as paho

from edge_agent.commands import CommandGate, Decision
from tonle.config import AgentConfig
from tonle.contract import Command, CommandAck, MachineAddress, PayloadError, TopicError, decode, parse_topic
from tonle.io.clock import Clock
from tonle.messages import _
from tonle.security.commands import verify_command
from tonle.security.signing import SignatureRefused, TrustedKeys
from tonle.sources.base import CommandRefused, Source

__all__ = ["CommandCounts", "CommandDesk", "trusted_keys"]

log = logging.getLogger("tonle.agent")


class CommandCounts(Protocol):
    """Where the desk counts (the agent's `AgentStats`)."""

    commands: Counter[str]  # by status
    refused: Counter[str]  # refusals before the machine, by code
    bad_commands: int


class CommandDesk:
    """Answers each command on the topic it came from; keeps the acks it sent (`acks`)."""

    def __init__(
        self,
        keys: TrustedKeys,
        gate: CommandGate,
        owner: Mapping[str, Source],
        clock: Clock,
        counts: CommandCounts,
        publish: Callable[[str, CommandAck], None],
    ) -> None:
        self.keys = keys
        self.gate = gate
        self.owner = owner
        self.clock = clock
        self.counts = counts
        self.publish = publish
        self.acks: list[CommandAck] = []

    async def handle(self, msg: paho.MQTTMessage) -> Decision | None:
        """Decide, apply if allowed, and answer; None for a message that is not a command."""
        try:
            addr, kind = parse_topic(msg.topic)
            if kind != "cmd":
                return None
            cmd = decode("cmd", msg.payload)
            assert isinstance(cmd, Command)
        except (PayloadError, TopicError) as exc:
            self.counts.bad_commands += 1
            log.warning(
                _("ignored a malformed command on {topic!r}: {error}").format(topic=msg.topic, error=exc)
            )
            return None
        try:
            signer = verify_command(self.keys, cmd, addr)
        except SignatureRefused as exc:
            decision = Decision("refused", str(exc), self.clock.now_ns(), code=exc.code)
            self._answer(addr, cmd, decision, CommandGate.answer(cmd, decision))
            return decision
        decision = self.gate.check(addr.machine, cmd, self.clock.now_ns(), signer)
        if decision.accepted:
            decision = await self._apply(addr, cmd, decision)
        if decision.original is not None:  # an id seen again: its first ack, then the audit of the repeat
            self._send(addr, CommandGate.answer(cmd, decision))
            self._answer(addr, cmd, decision, CommandGate.replay_ack(cmd, decision))
        else:
            self._answer(addr, cmd, decision, CommandGate.answer(cmd, decision))
        return decision

    async def _apply(self, addr: MachineAddress, cmd: Command, decision: Decision) -> Decision:
        try:
            detail = await self.owner[addr.machine].apply(addr.machine, cmd.action, cmd.value, cmd_id=cmd.id)
            outcome = Decision("applied", detail, self.clock.now_ns(), signer=decision.signer)
        except CommandRefused as exc:
            outcome = Decision(
                "rejected",
                f"the machine refused: {exc}",
                self.clock.now_ns(),
                code="machine_refused",
                signer=decision.signer,
            )
        self.gate.record(cmd.id, outcome)
        return outcome

    def _answer(self, addr: MachineAddress, cmd: Command, decision: Decision, ack: CommandAck) -> None:
        """Count, log and publish the verdict on `cmd` (`ack` says it on the wire)."""
        self.counts.commands[decision.status] += 1
        if ack.status == "refused" or ack.code == "expired":
            self.counts.refused[ack.code] += 1
            log.warning(
                _("refused command {id} ({action} for {machine}, key {key!r}): {detail}").format(
                    id=cmd.id, action=cmd.action, machine=addr.machine, key=cmd.key, detail=ack.detail
                )
            )
        else:
            log.info(
                _("command {id} {action} on {machine} by {signer}: {status} {detail}").format(
                    id=cmd.id,
                    action=cmd.action,
                    machine=addr.machine,
                    signer=decision.signer,
                    status=decision.status,
                    detail=decision.detail,
                )
            )
        self._send(addr, ack)

    def _send(self, addr: MachineAddress, ack: CommandAck) -> None:
        self.acks.append(ack)
        self.publish(addr.topic("cmd/ack"), ack)


def trusted_keys(a: AgentConfig) -> TrustedKeys:
    """The keys whose commands this gateway applies; with none, it says every command will be refused."""
    keys = TrustedKeys.parse(a.trusted_keys, a.revoked_keys)
    if not set(keys.keys) - keys.revoked:
        log.warning(
            _(
                "no trusted command key in [agent.trusted_keys]: every command will be refused; "
                "add the analytics' public key (and the operators') there"
            )
        )
    return keys
