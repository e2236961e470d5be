"""`tonle demo --drill intruder`: someone on the plant network tries to move a machine.

While the line runs, a rogue client makes the attempts a class should see fail, each against
the real broker and the real gateway of the demo:

1. connects without TLS and without a certificate (the broker hangs up);
2. uses another gateway's certificate to publish data for this line's machines, and to send
   a command (the broker refuses both: that gateway owns another line, and gateways never
   command);
3. with an operator's certificate (allowed to send commands), sends a `set_speed` nobody
   signed, one signed by a key no gateway trusts, and one whose value was changed after it
   was signed (the gateway refuses each, with its reason);
4. replays, byte for byte, a command the analytics signed and the gateway applied (the
   gateway applies an id once: the replay is refused as such).

The summary's `intruder` object lists every attempt, who refused it (broker or gateway, with
the reason) and `applied`: how many of the intruder's commands moved a machine, read from
the gateway's own counter. It must be 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tonle.app.demo_plant import AgentProcess
from tonle.app.services import LocalBroker
from tonle.contract import Command, CommandAck, MachineAddress, decode, encode
from tonle.errors import MqttError
from tonle.io.mqtt import MqttConnection, TlsFiles
from tonle.messages import _
from tonle.security.commands import load_signer, sign_command
from tonle.security.signing import Signer

__all__ = ["INTRUDER_GATEWAY", "INTRUDER_OPERATOR", "Intruder"]

log = logging.getLogger("tonle.app.demo")
NS = 1_000_000_000
INTRUDER_GATEWAY = "demo-gateway-l9"  # a real gateway of another line, whose certificate was stolen
INTRUDER_OPERATOR = "demo-intruder-op"  # an operator's certificate: may send commands, not sign them
NOT_AUTHORIZED = 135
ACK_TIMEOUT_S = 20.0
STATUS_TIMEOUT_S = 20.0


@dataclass
class Intruder:
    """The attempts of one drill, against `broker` and the gateway `agent` of line `addr`."""

    broker: LocalBroker
    agent: AgentProcess
    target: MachineAddress  # the machine the intruder wants to move
    analytics_key: Path  # the analytics' signing key: only to make the command that is replayed
    analytics_name: str
    attempts: list[dict[str, Any]] = field(default_factory=list)
    _acks: dict[str, list[CommandAck]] = field(default_factory=lambda: defaultdict(list))
    _mine: set[str] = field(default_factory=set)  # ids the drill sent

    async def run(self) -> dict[str, Any]:
        await self.anonymous()
        await self.stolen_gateway()
        (applied_before, before_ts), (applied_after, after_ts) = await self.commands()
        others = self._others_applied(before_ts, after_ts)
        by_broker = sum(a["refused_by"] == "broker" for a in self.attempts)
        by_agent = sum(a["refused_by"] == "gateway" for a in self.attempts)
        return {
            "attempts": self.attempts,
            "refused_by_broker": by_broker,
            "refused_by_gateway": by_agent,
            "not_refused": len(self.attempts) - by_broker - by_agent,
            "applied": int(applied_after - applied_before) - others,
            "others_applied_meanwhile": others,
        }

    # -- at the broker -----------------------------------------------------------------
    async def anonymous(self) -> None:
        c = MqttConnection(self.broker.host, self.broker.port, "intruder-anonymous")
        async with c:
            try:
                await c.check_reachable(10)
                self._note("connect without TLS or a certificate", None, "connected")
            except MqttError as exc:
                self._note("connect without TLS or a certificate", "broker", exc.reason or str(exc))

    async def stolen_gateway(self) -> None:
        t = self.target
        async with self._as(INTRUDER_GATEWAY) as gw:
            await gw.wait_connected()
            rc = await gw.publish_nowait(t.topic("telemetry"), b'{"v":1}', qos=1)
            self._note_rc(f"publish data for {t.machine} with gateway {INTRUDER_GATEWAY}'s certificate", rc)
            cmd = self._command("set_speed", 0.5)
            rc = await gw.publish_nowait(t.topic("cmd"), encode(cmd), qos=1)
            self._note_rc(f"send set_speed to {t.machine} with gateway {INTRUDER_GATEWAY}'s certificate", rc)

    # -- at the gateway ----------------------------------------------------------------
    async def commands(self) -> tuple[tuple[float, int], tuple[float, int]]:
        """Send the forged commands as an operator; the gateway's applied counter before and after."""
        t = self.target
        own = load_signer(self.analytics_key, self.analytics_name)
        rogue = Signer(self.analytics_name, Ed25519PrivateKey.generate())  # the right name, another key
        async with self._as(INTRUDER_OPERATOR) as op:
            await op.wait_connected()
            # The whole line's answers: the analytics' own commands meanwhile are not the intruder's.
            await op.subscribe(f"tonle/{t.site}/{t.area}/{t.line}/+/cmd/ack", qos=1)
            await op.wait_subscribed()
            listener = asyncio.create_task(self._listen(op))
            try:
                # The command that will be replayed: the analytics' own, applied once, not the intruder's.
                real = sign_command(self._command("clear_andon", None), t, own)
                await op.publish_nowait(t.topic("cmd"), encode(real), qos=1)
                await self._ack_of(real.id)
                applied_before = await self._applied_since(time.time_ns())
                altered = sign_command(self._command("set_speed", 0.9), t, own)
                forged = [
                    ("send an unsigned set_speed", self._command("set_speed", 0.5)),
                    (
                        "send a set_speed signed by a key no gateway trusts",
                        sign_command(self._command("set_speed", 0.5), t, rogue),
                    ),
                    ("change the value of a signed set_speed", msgspec.structs.replace(altered, value=0.5)),
                    ("replay a command the analytics signed, byte for byte", real),
                ]
                self._mine |= {real.id, *(cmd.id for _, cmd in forged)}
                for what, cmd in forged:
                    seen = len(self._acks[cmd.id])
                    await op.publish_nowait(t.topic("cmd"), encode(cmd), qos=1)
                    ack = await self._refusal(cmd.id, seen)
                    if ack is None:
                        self._note(what, None, "no refusal from the gateway")
                    else:
                        self._note(what, "gateway", f"{ack.code}: {ack.detail}")
                after = await self._applied_since(time.time_ns())
                await self._explained(applied_before, after)
                return applied_before, after
            finally:
                listener.cancel()

    # -- helpers -------------------------------------------------------------------------
    def _command(self, action: str, value: float | None) -> Command:
        now = time.time_ns()
        return Command(
            v=1,
            id=uuid.uuid4().hex[:16],
            ts=now,
            expires=now + 60 * NS,
            action=action,  # type: ignore[arg-type]
            reason="intruder drill",
            value=value,
            issued_by="analytics",  # claimed: never trusted
        )

    def _as(self, name: str) -> MqttConnection:
        s = self.broker.identity(name, "observer")  # registered before the broker started
        tls = TlsFiles(s["ca_file"], s["cert_file"], s["key_file"])
        return MqttConnection(self.broker.host, self.broker.port, name, tls=tls)

    async def _listen(self, op: MqttConnection) -> None:
        while True:
            msg = await op.messages.get()
            with contextlib.suppress(ValueError):
                ack = decode("cmd/ack", bytes(msg.payload))
                if isinstance(ack, CommandAck):
                    self._acks[ack.id].append(ack)

    async def _ack_of(self, cmd_id: str) -> CommandAck | None:
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._acks[cmd_id]:
                return self._acks[cmd_id][0]
            await asyncio.sleep(0.05)
        return None

    async def _refusal(self, cmd_id: str, seen: int) -> CommandAck | None:
        """The first refusal among the acks for `cmd_id` after the first `seen` ones."""
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while time.monotonic() < deadline:
            for ack in self._acks[cmd_id][seen:]:
                if ack.status in ("refused", "rejected", "expired"):
                    return ack
            await asyncio.sleep(0.05)
        return None

    async def _applied_since(self, ts_ns: int) -> tuple[float, int]:
        """The gateway's applied-commands counter and when it wrote it (a status.json after `ts_ns`)."""
        deadline = time.monotonic() + STATUS_TIMEOUT_S
        while time.monotonic() < deadline:
            status = self.agent.status()
            if status is not None and status.get("ts", 0) > ts_ns:
                applied = float(status["rows"].get("agent", {}).get("commands_applied", 0.0))
                return applied, int(status["ts"])
            await asyncio.sleep(0.2)
        raise TimeoutError("the gateway wrote no status.json for 20 s; see agent.log")

    async def _explained(self, before: tuple[float, int], after: tuple[float, int]) -> None:
        """Wait until the acks of every command the counter says was applied have come in.

        The gateway applies the analytics' own commands (an andon, a derate) during the drill
        too; their acks may reach this listener just after the counter is read. Waiting for
        them (still listening) keeps the count of the intruder's applied commands from racing
        them; if one of the intruder's own commands moved the machine, the wait runs out and the
        summary shows it.
        """
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while time.monotonic() < deadline:
            if after[0] - before[0] - self._others_applied(before[1], after[1]) <= 0:
                return
            await asyncio.sleep(0.05)

    def _others_applied(self, after_ns: int, until_ns: int) -> int:
        """Commands of others (the analytics) the gateway applied between its two counter readings.

        Judged by the gateway's own time on the ack, as the counter is: an ack that arrives late
        does not move a command from one reading to the other.
        """
        return sum(
            1
            for cmd_id, acks in self._acks.items()
            if cmd_id not in self._mine and acks[0].status == "applied" and after_ns < acks[0].ts <= until_ns
        )

    def _note_rc(self, what: str, rc: int) -> None:
        if rc == NOT_AUTHORIZED:
            self._note(what, "broker", "not authorised")
        else:
            self._note(what, None, f"accepted by the broker (reason code {rc})")

    def _note(self, what: str, refused_by: str | None, why: str) -> None:
        self.attempts.append({"attempt": what, "refused_by": refused_by, "answer": why})
        if refused_by:
            log.warning(
                _("DRILL: intruder: {what} - refused by the {refused_by} ({why})").format(
                    what=what, refused_by=refused_by, why=why
                )
            )
        else:
            log.error(_("DRILL: intruder: {what} - NOT refused ({why})").format(what=what, why=why))
