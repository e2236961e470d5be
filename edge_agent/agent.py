"""The edge agent: reads devices, publishes their data, and applies safe commands.

Its MQTT session carries a retained `status` (online) and a last will that says
offline, so a dashboard knows within one keep-alive when a gateway dies.
Commands arrive on the machines' `cmd` topics, pass the gate (allow-list,
limits, expiry, idempotence), are applied, and are answered on `cmd/ack`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field

import paho.mqtt.client as paho

from edge_agent.commands import CommandGate, Decision, DeviceLimits
from edge_agent.encode import SeqCounters, encode_output
from edge_agent.sources.sim import SimSource
from firmware_sim.clock import Clock
from tonle.config import TonleConfig
from tonle.contract import (
    Command,
    CommandAck,
    MachineAddress,
    PayloadError,
    Status,
    TopicError,
    decode,
    encode,
    parse_topic,
)
from tonle.mqtt import MqttConnection, Will

__all__ = ["Agent", "AgentStats"]

log = logging.getLogger("tonle.agent")
VERSION = "0.1.0"


@dataclass
class AgentStats:
    """What the agent handed to the broker, per (machine, measurement), and its commands."""

    samples: Counter[tuple[str, str]] = field(default_factory=Counter)
    messages: int = 0
    commands: Counter[str] = field(default_factory=Counter)  # by outcome
    bad_commands: int = 0

    @property
    def samples_published(self) -> int:
        return sum(self.samples.values())


class Agent:
    def __init__(self, cfg: TonleConfig, source: SimSource, clock: Clock) -> None:
        a = cfg.agent
        self.cfg = cfg
        self.source = source
        self.clock = clock
        self.addresses = [MachineAddress(a.site, a.area, a.line, m) for m, _ in source.machines]
        self.machine_types = [t for _, t in source.machines]
        self.status_addr = MachineAddress(a.site, a.area, a.line, a.id)
        limits = DeviceLimits(
            allowed=frozenset(a.allowed_commands),
            ranges={"set_speed": (a.speed_min, a.speed_max), "andon": (0.0, 1.0)},
        )
        self.gate = CommandGate({m: limits for m, _ in source.machines})
        self.seq = SeqCounters()
        self.stats = AgentStats()
        self.acks: list[CommandAck] = []
        offline = encode(Status(v=1, ts=clock.now_ns(), online=False, agent=a.id, version=VERSION))
        self.mqtt = MqttConnection(
            cfg.mqtt.host,
            cfg.mqtt.port,
            client_id=cfg.mqtt.client_id or f"tonle-agent-{a.id}",
            will=Will(self.status_addr.topic("status"), offline),
            clean_start=False,
            session_expiry_s=3600,
            username=cfg.mqtt.username or None,
            password=cfg.mqtt.password(),
            on_connect_hook=self._announce,
        )

    async def __aenter__(self) -> Agent:
        await self.mqtt.__aenter__()
        a = self.cfg.agent
        await self.mqtt.subscribe(f"tonle/{a.site}/{a.area}/{a.line}/+/cmd", qos=1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        status = Status(v=1, ts=self.clock.now_ns(), online=False, agent=self.cfg.agent.id, version=VERSION)
        if self.mqtt.connected.is_set():
            fut = self.mqtt.publish_nowait(self.status_addr.topic("status"), encode(status), 1, True)
            await asyncio.wait([fut], timeout=2.0)
        await self.mqtt.__aexit__(None, None, None)

    def _announce(self) -> None:
        status = Status(v=1, ts=self.clock.now_ns(), online=True, agent=self.cfg.agent.id, version=VERSION)
        self.mqtt.publish_nowait(self.status_addr.topic("status"), encode(status), qos=1, retain=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish every interval and answer commands until `stop` is set."""
        async with asyncio.TaskGroup() as tg:
            poll = tg.create_task(self._poll_loop(), name="agent-poll")
            cmds = tg.create_task(self._command_loop(), name="agent-commands")
            await stop.wait()
            poll.cancel()
            cmds.cancel()
        await self.flush()

    async def _poll_loop(self) -> None:
        while True:
            await self.clock.sleep(self.cfg.agent.publish_interval_s)
            self.publish_once()

    async def _command_loop(self) -> None:
        while True:
            msg = await self.mqtt.messages.get()
            self.handle_command(msg)

    def publish_once(self) -> int:
        """Read the devices up to now and hand their data to MQTT (QoS 1); returns samples."""
        out = self.source.poll(self.clock.now_ns())
        n = 0
        for o in encode_output(out, self.addresses, self.machine_types, self.seq):
            self.mqtt.publish_nowait(o.topic, o.payload, qos=1)
            self.stats.samples[(o.machine, o.measurement)] += o.samples
            self.stats.messages += 1
            n += o.samples
        return n

    async def flush(self, timeout: float = 30.0) -> None:
        """Wait until the broker has acknowledged everything handed to it."""
        pending = list(self.mqtt._pending.values())
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    def handle_command(self, msg: paho.MQTTMessage) -> Decision | None:
        try:
            addr, kind = parse_topic(msg.topic)
            if kind != "cmd":
                return None
            cmd = decode("cmd", msg.payload)
            assert isinstance(cmd, Command)
        except (PayloadError, TopicError) as exc:
            self.stats.bad_commands += 1
            log.warning("ignored a malformed command on %r: %s", msg.topic, exc)
            return None
        decision = self.gate.check(addr.machine, cmd, self.clock.now_ns())
        if decision.accepted:
            try:
                detail = self.source.apply(addr.machine, cmd.action, cmd.value)
                decision = Decision("applied", detail)
            except ValueError as exc:
                decision = Decision("rejected", f"the machine refused: {exc}")
            self.gate.record(cmd.id, decision)
        self.stats.commands[decision.status] += 1
        log.info(
            "command %s %s on %s: %s %s", cmd.id, cmd.action, addr.machine, decision.status, decision.detail
        )
        ack = CommandAck(
            v=1,
            id=cmd.id,
            ts=self.clock.now_ns(),
            status=decision.status,
            detail=decision.detail,
            action=cmd.action,
        )
        self.acks.append(ack)
        self.mqtt.publish_nowait(addr.topic("cmd/ack"), encode(ack), qos=1)
        return decision
