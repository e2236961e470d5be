"""Sparkplug B edge nodes as a Tonle source: the gateway is a Sparkplug host application.

Why at the edge agent (docs/sparkplug.md): the readings then enter the gateway's spool
like any device's, so sequence numbers, completeness and the end-to-end confirmation
apply unchanged from the gateway on, and the collector never learns a second payload
format. The source holds one MQTT session to the broker the edge nodes publish to (the
plant's, or one beside the gateway), announces itself on the Sparkplug 3.0 STATE topic
(retained, with a will that says offline), subscribes to its group, and turns births,
data and deaths into readings through `SparkplugHost`. Rebirth requests go out as NCMD.
Sparkplug data is QoS 0 by the spec, so a message lost between node and broker cannot be
recovered: the `seq` check counts it and asks the node to publish its births again.

Commands write a setpoint metric as OPC UA and Modbus sources do, and read it back: a DCMD
(an NCMD for a node's own metrics) names the metric, with the alias and datatype the live
birth declared, at QoS 0 as the spec says; the command counts as applied only when the node
then reports the metric (data or a new birth) holding the value. Sparkplug has no reply to
a command, so the read-back is the only proof: without it in `timeout_s`, the refusal says
the command may or may not have been applied. A machine whose node or device is dead, or
was never born, is refused at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field

from edge_agent.sources.sparkplug_config import SparkplugCommand, SparkplugMachine, SparkplugSourceConfig
from edge_agent.sources.sparkplug_host import HostResult, SparkplugHost
from tonle.errors import MqttError
from tonle.io.clock import Clock, WallClock
from tonle.io.mqtt import MqttConnection, Will
from tonle.io.plant_broker import plant_connection
from tonle.messages import N_, _, render
from tonle.protocols.sparkplug import (
    NAMESPACE,
    Metric,
    MetricValue,
    SparkplugError,
    Topic,
    command_value,
    encode_command,
    encode_state,
    rebirth_request,
    state_topic,
)
from tonle.sources.base import CommandRefused, DeviceLimits, Sink, SourceHealth

__all__ = ["UNREADABLE", "SparkplugHealth", "SparkplugSource"]

# Refusals that mean the message itself is bad (`corrupt_frames`); the others (`before_birth`,
# `seq_gap`, `unknown_alias`) mean it came out of turn and are `read_errors`.
UNREADABLE = frozenset({"not_protobuf", "bad_topic", "not_a_number", "unknown_state"})


@dataclass
class SparkplugHealth(SourceHealth):
    """SourceHealth plus the host's own counters; `refused` counts messages and metrics by reason."""

    refused: Counter[str] = field(default_factory=Counter)
    births: int = 0
    deaths: int = 0
    seq_gaps: int = 0
    rebirth_requests: int = 0


@dataclass
class _Watch:
    """One command waiting for its metric to be reported by the node (or for the node to die)."""

    node: str
    device: str
    metric: str
    seen: list[MetricValue] = field(default_factory=list)
    died: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class SparkplugSource:
    def __init__(self, cfg: SparkplugSourceConfig, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self._clock = clock or WallClock()
        self.host = SparkplugHost(cfg)
        self._health = SparkplugHealth()
        for m in cfg.nodes:
            self._health.per_machine_reads[m.machine] = self._health.per_machine_errors[m.machine] = 0
        self._born_ms = 0
        self.mqtt: MqttConnection | None = None
        self._by_machine = {m.machine: m for m in cfg.nodes}
        self._watches: list[_Watch] = []

    @property
    def machines(self) -> list[tuple[str, str]]:
        return [(m.machine, m.machine_type) for m in self.cfg.nodes]

    @property
    def health(self) -> SparkplugHealth:
        h, c = self._health, self.host.counts
        h.births, h.deaths, h.seq_gaps, h.rebirth_requests = (
            c["births"],
            c["deaths"],
            c["seq_gaps"],
            c["rebirth_requests"],
        )
        h.connected = self.mqtt is not None and self.mqtt.connected.is_set()
        if self.mqtt is not None and self.mqtt.last_error is not None:  # a wrong CA, a refused login
            h.last_error = str(self.mqtt.last_error)
        return h

    @property
    def limits(self) -> dict[str, DeviceLimits]:
        """Each machine's allowed actions and their ranges, for the agent's command gate."""
        out = {}
        for m in self.cfg.nodes:
            ranges = {c.action: (c.min, c.max) for c in m.commands}
            out[m.machine] = DeviceLimits(frozenset(ranges), ranges)
        return out

    async def commit(self) -> None:
        """Nothing to tell: Sparkplug data is QoS 0 and has no acknowledgement to give."""

    def _connection(self) -> MqttConnection:
        cfg = self.cfg
        # One timestamp for the birth and its will, as Sparkplug 3.0 (host STATE) asks.
        self._born_ms = self._clock.now_ns() // 1_000_000
        return plant_connection(
            cfg,
            f"tonle-spb-{cfg.host_id}",
            will=Will(state_topic(cfg.host_id), encode_state(False, self._born_ms), qos=1, retain=True),
            on_connect_hook=self._announce,
        )

    def _announce(self) -> None:
        if self.mqtt is not None:
            payload = encode_state(True, self._born_ms)
            self.mqtt.publish_nowait(state_topic(self.cfg.host_id), payload, qos=1, retain=True)

    async def run(self, sink: Sink) -> None:
        """Read the group's messages until cancelled; the MQTT session reconnects by itself."""
        self.mqtt = mqtt = self._connection()
        try:
            async with mqtt:
                try:
                    await mqtt.subscribe(f"{NAMESPACE}/{self.cfg.group}/#", qos=1)
                    while True:
                        msg = await mqtt.messages.get()
                        self._handle(sink, msg.topic, msg.payload)
                finally:
                    await self._say_offline(mqtt)
        finally:
            self.mqtt = None

    def _handle(self, sink: Sink, topic: str, payload: bytes) -> None:
        now = self._clock.now_ns()
        result = self.host.handle(topic, payload, now)
        h = self._health
        for reason in result.refused:
            h.refused[reason] += 1
            if reason in UNREADABLE:
                h.corrupt_frames += 1
            else:  # a message that arrived out of turn (lost one before it, no birth yet)
                h.read_errors += 1
            h.last_error = render(N_("{source}: refused a Sparkplug message ({reason}) on {topic}"),
                                  {"source": self.name, "reason": reason, "topic": topic})  # fmt: skip
        if result.readings:
            h.reads += 1
            for r in result.readings:
                h.per_machine_reads[r.machine] = h.per_machine_reads.get(r.machine, 0) + 1
            sink(result.readings)
        if result.rebirth is not None and self.mqtt is not None and self.mqtt.connected.is_set():
            self.mqtt.publish_nowait(str(result.rebirth), rebirth_request(now // 1_000_000), qos=0)
        if self._watches:
            self._notify(result)

    def _notify(self, result: HostResult) -> None:
        """Hand every reported value of a watched metric, and every death, to its command."""
        for w in self._watches:
            values = [
                m.value
                for node, device, m in result.reported
                if (node, device, m.name) == (w.node, w.device, w.metric)
            ]
            died = any(node == w.node and device in ("", w.device) for node, device in result.died)
            if values or died:
                w.seen.extend(values)
                w.died |= died
                w.changed.set()

    async def _say_offline(self, mqtt: MqttConnection) -> None:
        """A clean stop says offline itself (a broker sends the will only when the link breaks)."""
        if not mqtt.connected.is_set():
            return
        fut = mqtt.publish_nowait(state_topic(self.cfg.host_id), encode_state(False, self._born_ms), 1, True)
        await asyncio.wait([fut], timeout=2.0)

    # -- commands --------------------------------------------------------------------------------
    async def apply(
        self, machine: str, action: str, value: float | None, *, cmd_id: str | None = None
    ) -> str:
        """Send the setpoint as the birth declared it and, unless told not to, wait for its read-back."""
        m, cmd = self._command(machine, action, value)
        assert value is not None
        place = f"{m.edge_node}/{m.device}" if m.device else m.edge_node
        mqtt = self.mqtt
        if mqtt is None or not mqtt.connected.is_set():
            text = N_("the broker of {source} is not connected; {action} not sent to {machine}")
            raise _refused(text, source=self.name, action=action, machine=machine)
        if not self.host.online(m.edge_node, m.device):
            text = N_(
                "{machine} is not online: no birth from {place} since it died or the gateway started; "
                "{action} not sent"
            )
            raise _refused(text, machine=machine, place=place, action=action)
        declared = self.host.declared(m.edge_node, m.device, cmd.metric)
        if declared is None:
            text = N_(
                "the birth of {place} does not declare metric {metric}; {action} not sent "
                "(check commands.metric of {machine})"
            )
            raise _refused(text, place=place, metric=cmd.metric, action=action, machine=machine)
        alias, datatype = declared
        try:
            raw = command_value(datatype, value / cmd.scale)
        except SparkplugError as exc:
            text = N_("{machine}: metric {metric}: {error}; {action} not sent")
            raise _refused(text, machine=machine, metric=cmd.metric, error=exc, action=action) from exc
        topic = Topic(self.cfg.group, "DCMD" if m.device else "NCMD", m.edge_node, m.device)
        payload = encode_command(
            [Metric(cmd.metric, alias, datatype, raw)], self._clock.now_ns() // 1_000_000
        )
        watch = _Watch(m.edge_node, m.device, cmd.metric)
        self._watches.append(watch)  # before the publish: the answer can come before the next line runs
        try:
            try:
                mqtt.publish_nowait(str(topic), payload, qos=0)  # QoS 0, not retained: Sparkplug 3.0
            except MqttError as exc:  # paho refused it (the link dropped in between)
                text = N_("{machine}: {error}; {action} may or may not have been applied")
                raise _refused(text, machine=machine, error=exc, action=action) from exc
            words = {"action": action, "value": f"{value:g}", "metric": cmd.metric}
            if not cmd.readback:
                return render(N_("{action}={value} sent to metric {metric} (no read-back configured)"), words)
            await self._read_back(machine, cmd, value, watch)
            return render(N_("{action}={value} written to metric {metric} and read back"), words)
        finally:
            self._watches.remove(watch)

    async def _read_back(self, machine: str, cmd: SparkplugCommand, value: float, watch: _Watch) -> None:
        """Return once the node reports the metric at `value`; raise CommandRefused at the deadline.

        A report of another value does not end the wait at once: the node may have sent it
        before it took the command (its periodic data crossing the DCMD on the broker).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cmd.timeout_s
        last: float | None = None
        while True:
            for v in watch.seen:
                if v is None or isinstance(v, str):
                    continue
                back = float(v) * cmd.scale
                if abs(back - value) <= cmd.tolerance * max(1.0, abs(value)):
                    return
                last = back
            watch.seen.clear()
            if watch.died:
                text = N_(
                    "{machine} went offline before reporting {metric}; "
                    "{action} may or may not have been applied"
                )
                raise _refused(text, machine=machine, metric=cmd.metric, action=cmd.action)
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            watch.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await watch.changed.wait()
        if last is None:
            text = N_(
                "{machine} reported no value of {metric} within {seconds} s; "
                "{action} may or may not have been applied"
            )
            raise _refused(
                text, machine=machine, metric=cmd.metric, seconds=f"{cmd.timeout_s:g}", action=cmd.action
            )
        raise _refused(
            N_("read-back mismatch: wrote {value}, device reports {got}"), value=f"{value:g}", got=f"{last:g}"
        )

    def _command(
        self, machine: str, action: str, value: float | None
    ) -> tuple[SparkplugMachine, SparkplugCommand]:
        m = self._by_machine.get(machine)
        if m is None:
            raise _refused(
                N_("{source} has no machine called {machine!r}"), source=self.name, machine=machine
            )
        cmd = next((c for c in m.commands if c.action == action), None)
        if cmd is None:
            known = ", ".join(sorted(c.action for c in m.commands)) or _("none")
            text = N_("{action!r} is not configured for {machine}; configured: {known}")
            raise _refused(text, action=action, machine=machine, known=known)
        if value is None or not cmd.min <= value <= cmd.max:
            text = N_("{action} on {machine} needs a value in {limits}, got {value}")
            raise _refused(
                text, action=action, machine=machine, limits=f"{cmd.min:g}..{cmd.max:g}", value=value
            )
        return m, cmd


def _refused(template: str, **data: object) -> CommandRefused:
    """The refusal worded in the gateway's language (it becomes the ack's detail)."""
    return CommandRefused(render(template, data))
