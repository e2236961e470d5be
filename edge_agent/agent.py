"""The edge agent: reads devices, spools their data, publishes it, and applies safe commands.

Data path: sources push readings -> every publish interval they are encoded into
contract messages -> appended to the durable spool (with the sequence counters,
in one transaction) -> the sources are told the readings are safe (a serial node
then forgets them) -> the publisher drains the spool to the broker.
Its MQTT session carries a retained `status` and a last will that says offline.
Commands arrive on the machines' `cmd` topics, must carry a signature by a trusted
key (`edge_agent.command_desk`), pass the gate (ownership, time bounds, allow-list,
limits, expiry, at most once per id, remembered across restarts), are applied by
the source that owns the machine, and are answered on `cmd/ack`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import paho.mqtt.client as paho

from edge_agent.command_desk import CommandDesk, trusted_keys
from edge_agent.commands import Bounds, CommandGate, Decision, DeviceLimits, IdStore
from edge_agent.encode import SeqCounters, encode_readings
from edge_agent.health import source_rows
from edge_agent.publisher import SpoolPublisher
from edge_agent.replays import ReplayGuard
from tonle.config import AgentConfig, MqttConfig
from tonle.config.pdm import MachineTypePdm
from tonle.contract import (
    REFUSAL_CODES,
    CommandAck,
    Health,
    HealthRow,
    MachineAddress,
    Status,
    encode,
)
from tonle.contract.confirm import confirm_topic, decode_confirm, gateway_of_confirm_topic
from tonle.errors import TonleError
from tonle.io.backoff import Backoff, BackoffPolicy
from tonle.io.clock import Clock
from tonle.io.connect import mqtt_connection
from tonle.io.mqtt import MqttError, Will
from tonle.io.spool import Spool, SpoolError
from tonle.messages import _
from tonle.sources.base import Reading, Source

__all__ = ["Agent", "AgentStats"]

log = logging.getLogger("tonle.agent")
VERSION = "0.2.0"
SOURCE_RESTART_MIN_S = 1.0
SOURCE_RESTART_MAX_S = 30.0
SOURCE_RESTART_POLICY = BackoffPolicy(base_s=SOURCE_RESTART_MIN_S, max_s=SOURCE_RESTART_MAX_S)
SHUTDOWN_DRAIN_S = 30.0
DISCONNECTED_WARNING_S = 60.0
# While the spool cannot be written (disk full even after dropping the oldest), readings
# wait in memory up to this many (~100 MB), the oldest given up first; warned once a minute.
MAX_PENDING_READINGS = 200_000
SPOOL_WARN_INTERVAL_S = 60.0


@dataclass
class AgentStats:
    """What the agent made durable, per (machine, measurement), and its commands."""

    samples: Counter[tuple[str, str]] = field(default_factory=Counter)
    messages: int = 0
    commands: Counter[str] = field(default_factory=Counter)  # by outcome
    refused: Counter[str] = field(default_factory=Counter)  # refused before the machine, by code
    bad_commands: int = 0
    bad_confirms: int = 0
    source_crashes: int = 0
    unspooled: int = 0  # readings given up while the spool could not be written (held ones aside)

    @property
    def samples_published(self) -> int:
        return sum(self.samples.values())


class Agent:
    def __init__(
        self,
        mqtt_cfg: MqttConfig,
        agent_cfg: AgentConfig,
        sources: Sequence[Source],
        clock: Clock,
        spool: Spool,
        command_log: IdStore | None = None,
        status_file: Path | None = None,
        machine_types: Mapping[str, MachineTypePdm] | None = None,
    ) -> None:
        """`machine_types`: bearing and speed per machine type for edge envelope evidence (None: defaults)."""
        a = agent_cfg
        self.machine_table = machine_types
        self.cfg = a
        self.status_file = status_file
        self.sources = list(sources)
        self.clock = clock
        self.spool = spool
        self.addresses: dict[str, MachineAddress] = {}
        self.machine_types: dict[str, str] = {}
        self.owner: dict[str, Source] = {}
        limits: dict[str, DeviceLimits] = {}
        for src in self.sources:
            src_limits: dict[str, DeviceLimits] = getattr(src, "limits", {})
            for machine, mtype in src.machines:
                if machine in self.owner:
                    raise ValueError(f"machine {machine!r} is listed under two devices; names must be unique")
                self.addresses[machine] = MachineAddress(a.site, a.area, a.line, machine)
                self.machine_types[machine] = mtype
                self.owner[machine] = src
                limits[machine] = src_limits.get(machine, DeviceLimits(frozenset(), {}))
        self.gate = CommandGate(limits, command_log, Bounds(a.command_max_expiry_s, a.command_max_skew_s))
        self.seq, self.replays = self._saved_state()
        for src in self.sources:  # a source that can fill a gap (OPC UA history) learns where it starts
            if (resume := getattr(src, "resume", None)) is not None:
                resume(self.replays.state())
        self.stats = AgentStats()
        self.desk = CommandDesk(trusted_keys(a), self.gate, self.owner, clock, self.stats, self._publish_ack)
        self._pending: list[Reading] = []
        self._spool_warned_at = -math.inf
        self.status_addr = MachineAddress(a.site, a.area, a.line, a.id)
        offline = encode(Status(v=1, ts=clock.now_ns(), online=False, agent=a.id, version=VERSION))
        self.mqtt = mqtt_connection(
            mqtt_cfg,
            "agent",
            name=a.id,
            will=Will(self.status_addr.topic("status"), offline),
            clean_start=False,
            session_expiry_s=24 * 3600,
            on_connect_hook=self._announce,
        )
        self.publisher = SpoolPublisher(
            spool,
            self.mqtt,
            a.id,
            unconfirmed_max=a.unconfirmed_max,
            confirm_timeout_s=a.confirm_timeout_s,
            held_timeout_s=a.held_timeout_s,
        )

    def _saved_state(self) -> tuple[SeqCounters, ReplayGuard]:
        """The sequence counters, and the replay guard of the machines whose device hands its last
        values out again on a reconnect (OPC UA), as the last spool write left them."""
        saved = self.spool.load_state()
        replaying = [m for m, src in self.owner.items() if getattr(src, "replays_on_reconnect", False)]
        return SeqCounters({k: v for k, v in saved.items() if k.startswith("seq/")}), ReplayGuard(
            replaying, saved
        )

    # -- lifecycle ---------------------------------------------------------------
    async def __aenter__(self) -> Agent:
        await self.mqtt.__aenter__()
        a = self.cfg
        await self.mqtt.subscribe(f"tonle/{a.site}/{a.area}/{a.line}/+/cmd", qos=1)
        await self.mqtt.subscribe(confirm_topic(a.id), qos=1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        status = Status(v=1, ts=self.clock.now_ns(), online=False, agent=self.cfg.id, version=VERSION)
        if self.mqtt.connected.is_set():
            fut = self.mqtt.publish_nowait(self.status_addr.topic("status"), encode(status), 1, True)
            await asyncio.wait([fut], timeout=2.0)
        await self.mqtt.__aexit__(None, None, None)

    def _announce(self) -> None:
        status = Status(v=1, ts=self.clock.now_ns(), online=True, agent=self.cfg.id, version=VERSION)
        self.mqtt.publish_nowait(self.status_addr.topic("status"), encode(status), qos=1, retain=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Read, spool, publish and answer commands until `stop` is set, then drain what it can."""
        async with asyncio.TaskGroup() as tg:
            readers = [tg.create_task(self._keep_running(s), name=f"source-{s.name}") for s in self.sources]
            readers.append(tg.create_task(self._flush_loop(), name="agent-flush"))
            # It also reads the confirmations, so it runs until the drain below is over.
            commands = tg.create_task(self.command_loop(), name="agent-commands")
            readers.append(tg.create_task(self._health_loop(), name="agent-health"))
            publisher = tg.create_task(self.publisher.run(), name="agent-publisher")
            await stop.wait()
            for t in readers:
                t.cancel()
            await self.flush()
            if self.mqtt.connected.is_set() and not await self.publisher.drain(timeout=SHUTDOWN_DRAIN_S):
                left = _("stopping with {depth} messages still in the spool; they are sent at the next start")
                log.warning(left.format(depth=self.spool.depth))
            if self.status_file is not None:
                self.write_status_file()
            publisher.cancel()
            commands.cancel()

    async def _keep_running(self, src: Source) -> None:
        """A source that stops is restarted with backoff (SOURCE_RESTART_POLICY); the others go on.

        A failure a technician can fix (a TonleError: say a serial port that is missing or
        not allowed) is one plain warning with the fix; anything else is a driver bug and
        is logged with its traceback. Neither takes the gateway down.
        """
        backoff = Backoff(SOURCE_RESTART_POLICY)
        while True:
            try:
                await src.run(self.sink)
            except asyncio.CancelledError:
                raise
            except TonleError as exc:
                self.stats.source_crashes += 1
                wait = backoff.next_delay()
                log.warning(
                    _("device {device}: {error}; retrying in {wait:.0f} s").format(
                        device=src.name, error=exc, wait=wait
                    )
                )
                await asyncio.sleep(wait)
            except Exception:  # a driver bug must not take the gateway down; the traceback is logged
                self.stats.source_crashes += 1
                wait = backoff.next_delay()
                log.exception(
                    _("device {device} stopped with an error; restarting it in {wait:.0f} s").format(
                        device=src.name, wait=wait
                    )
                )
                await asyncio.sleep(wait)

    def sink(self, readings: Sequence[Reading]) -> None:
        self._pending.extend(readings)

    async def _flush_loop(self) -> None:
        while True:
            await self.clock.sleep(self.cfg.publish_interval_s)
            await self.flush()

    # -- data path ---------------------------------------------------------------
    async def flush(self) -> int:
        """Spool what the sources pushed since the last flush, then tell them it is safe."""
        readings, self._pending = self._pending, []
        if not readings:
            return 0
        before, seen = self.seq.state(), self.replays.state()
        fresh = self.replays.filter(readings)
        out = encode_readings(fresh, self.addresses, self.machine_types, self.seq, self.machine_table)
        try:
            self.spool.append(
                [(o.topic, o.payload) for o in out], state=self.seq.state() | self.replays.state()
            )
        except SpoolError as exc:
            # Nothing was stored: keep the readings (the sources are not told they are safe, so
            # serial nodes keep their frames too) and hand the same numbers out again next time.
            self.seq = SeqCounters(before)
            self.replays.restore(seen)
            kept = readings[-MAX_PENDING_READINGS:]
            self.stats.unspooled += len(readings) - len(kept)
            self._pending = kept + self._pending
            now = time.monotonic()
            if now - self._spool_warned_at >= SPOOL_WARN_INTERVAL_S:
                self._spool_warned_at = now
                log.error(
                    _(
                        "could not write to the spool, {held} readings held in memory ({lost} lost so far): "
                        "{error}"
                    ).format(held=len(self._pending), lost=self.stats.unspooled, error=exc)
                )
            return 0
        for o in out:
            self.stats.samples[(o.machine, o.measurement)] += o.samples
        self.stats.messages += len(out)
        for src in self.sources:
            await src.commit()
        self.publisher.wake()
        return sum(o.samples for o in out)

    def poll_sims(self) -> None:
        """Step in-process simulated sources to the clock's time (virtual-time tests)."""
        for src in self.sources:
            push = getattr(src, "push_once", None)
            if push is not None:
                push(self.sink)

    # -- commands ----------------------------------------------------------------
    async def command_loop(self) -> None:
        """Commands for our machines, and the collectors' confirmations of what they stored."""
        while True:
            msg = await self.mqtt.messages.get()
            if gateway_of_confirm_topic(msg.topic) is not None:
                self.handle_confirm(msg)
            else:
                await self.handle_command(msg)

    def handle_confirm(self, msg: paho.MQTTMessage) -> None:
        try:
            confirm = decode_confirm(msg.payload)
        except ValueError as exc:
            self.stats.bad_confirms += 1
            log.warning(
                _("ignored a malformed confirmation on {topic!r}: {reason}").format(
                    topic=msg.topic, reason=exc
                )
            )
            return
        self.publisher.confirm(confirm)

    async def handle_command(self, msg: paho.MQTTMessage) -> Decision | None:
        return await self.desk.handle(msg)

    @property
    def acks(self) -> list[CommandAck]:
        """Every ack this agent sent, in order (a repeat's audit ack included)."""
        return self.desk.acks

    def _publish_ack(self, topic: str, ack: CommandAck) -> None:
        self.mqtt.publish_nowait(topic, encode(ack), qos=1)

    # -- own health ----------------------------------------------------------------
    async def _health_loop(self) -> None:
        last_warning = -math.inf
        while True:
            await self.clock.sleep(self.cfg.health_interval_s)
            if self.mqtt.connected.is_set():
                self.publish_health()
            elif time.monotonic() - last_warning >= DISCONNECTED_WARNING_S:
                last_warning = time.monotonic()
                log.warning(
                    _(
                        "no connection to the MQTT broker at {host}:{port}; {depth} messages are kept in the "
                        "spool and will be sent when it is back (check [mqtt] host and port, the network "
                        "cable, and that mosquitto is running)"
                    ).format(host=self.mqtt.host, port=self.mqtt.port, depth=self.spool.depth)
                )
            if self.status_file is not None:
                self.write_status_file()

    def write_status_file(self) -> None:
        """The agent's health as a small JSON file next to its spool.

        A technician (or the demo's live view) can read it on the gateway even
        while the broker is unreachable, which is exactly when it matters.
        """
        assert self.status_file is not None
        body = {
            "ts": self.clock.now_ns(),
            "broker_connected": self.mqtt.connected.is_set(),
            "rows": {row.scope: row.fields for row in self.health_rows()},
        }
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(body))
        os.replace(tmp, self.status_file)

    def health_rows(self) -> list[HealthRow]:
        s = self.stats
        rows = [
            HealthRow(
                "agent",
                {
                    "spool_depth": float(self.spool.depth),
                    "spool_unsent": float(self.publisher.unsent),
                    "spool_unconfirmed": float(self.publisher.unconfirmed),
                    "spool_held": float(self.publisher.held),
                    "spool_bytes": float(self.spool.size_bytes),
                    "spool_dropped": float(self.spool.dropped),
                    "unspooled": float(self.stats.unspooled),
                    "held_readings": float(len(self._pending)),
                    "mqtt_reconnects": float(max(0, self.mqtt.stats.connects - 1)),
                    "samples": float(s.samples_published),
                    "commands_applied": float(s.commands["applied"]),
                    "commands_refused": float(
                        s.commands["rejected"] + s.commands["expired"] + s.commands["refused"]
                    ),
                    "commands_malformed": float(s.bad_commands),
                    "messages_confirmed": float(self.publisher.confirmed),
                    "messages_resent": float(self.publisher.resent),
                    "no_subscriber_pubacks": float(self.publisher.no_subscriber),
                    "source_crashes": float(s.source_crashes),
                    "repeats_dropped": float(self.replays.dropped),
                    **{f"refused_{code}": float(s.refused[code]) for code in REFUSAL_CODES},
                },
            )
        ]
        rows.extend(source_rows(self.sources))
        return rows

    def publish_health(self) -> None:
        health = Health(v=1, ts=self.clock.now_ns(), component="agent", rows=self.health_rows())
        with contextlib.suppress(MqttError):
            self.mqtt.publish_nowait(self.status_addr.topic("health"), encode(health), qos=1)
