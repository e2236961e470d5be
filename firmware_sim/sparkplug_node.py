"""A Sparkplug B edge node, as SCADA-side firmware publishes it, through a real MQTT broker.

It does what Sparkplug 3.0 asks of an edge node: an NDEATH as its MQTT will (with the
session's bdSeq), an NBIRTH declaring every node metric with its alias and datatype,
then a DBIRTH per device, data messages that carry aliases only, `seq` 0-255 going up
by one per message, and new births when a host sends `Node Control/Rebirth`. Births and
data go at QoS 0 as the spec says. A test can make it skip a `seq` (a lost message) or
send data before its births, and can make it die, to drive the host's checks. Payloads
are encoded by `tonle.protocols.sparkplug`, the codec the gateway decodes with.

Commands: the node subscribes to its NCMD and to its devices' DCMD topics. A DCMD's metrics
(by name, or by alias alone) go to the handler `on_write` registered for that device, which
applies what it accepts and returns the values to report; they go out at once in a DDATA,
as a Sparkplug device reports a changed setpoint by exception. A device with no handler
ignores writes, as firmware ignores a metric it does not let anyone write.

The default device is an automatic cutting table (`CUTTER_METRICS`): spindle speed, the
machine's mode code, cumulative plies cut and plies passed by the quality check, and the
writable spindle speed setpoint the speed follows (`CutterModel`, `stuck` to make it keep
its old setpoint whatever is written, like a controller that copies its panel's value
over the written one).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tonle.io.clock import Clock, WallClock
from tonle.io.mqtt import MqttConnection, TlsFiles, Will
from tonle.protocols.sparkplug import (
    BDSEQ,
    REBIRTH,
    DataType,
    Metric,
    MetricValue,
    SparkplugError,
    Topic,
    decode_payload,
    encode_payload,
    is_rebirth_request,
    parse_topic,
)

__all__ = [
    "CUTTER_METRICS",
    "CUTTER_MODES",
    "NOMINAL_RPM",
    "SETPOINT",
    "CutterModel",
    "SparkplugEdgeNode",
    "run_cutter",
]

CUTTER_MODES = {0: "idle", 1: "running", 2: "breakdown", 3: "setup"}
NOMINAL_RPM = 1200.0  # the cutter's full spindle speed: a set_speed of 1.0
SETPOINT = "Spindle/SpeedSetpoint"
CUTTER_METRICS: dict[str, tuple[DataType, MetricValue]] = {
    "Spindle/Speed": (DataType.Float, 0.0),
    "Spindle/Temperature": (DataType.Double, 31.5),
    "Status/Mode": (DataType.Int32, 0),
    "Production/Total": (DataType.UInt64, 0),
    "Production/Good": (DataType.UInt64, 0),
    SETPOINT: (DataType.Float, NOMINAL_RPM),  # writable (DCMD)
}

WriteHandler = Callable[[Mapping[str, MetricValue]], Mapping[str, MetricValue]]


@dataclass
class SparkplugEdgeNode:
    """`async with SparkplugEdgeNode(...) as node:` connects, births, and answers rebirths."""

    host: str
    port: int
    group: str
    node: str
    devices: Mapping[str, Mapping[str, tuple[DataType, MetricValue]]] = field(
        default_factory=lambda: {"Cutter1": CUTTER_METRICS}
    )
    # The node's own metrics (a machine that is the edge node itself), declared in its NBIRTH,
    # reported in NDATA, written by NCMD: device "" in `values`, `writes` and `on_write`.
    node_metrics: Mapping[str, tuple[DataType, MetricValue]] = field(default_factory=dict)
    clock: Clock = field(default_factory=WallClock)
    bdseq: int = 0
    seq: int = 0
    rebirths: int = 0  # rebirth requests honoured
    values: dict[tuple[str, str], MetricValue] = field(default_factory=dict)
    # The plant broker's login, as a real edge node has it: TLS with the plant's CA, a password.
    username: str | None = None
    password: str | None = None
    tls: TlsFiles | None = None
    # Writes received (device, metric, value), and the handler of each writable device.
    writes: list[tuple[str, str, MetricValue]] = field(default_factory=list)
    on_write: dict[str, WriteHandler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.aliases: dict[tuple[str, str], tuple[int, DataType]] = {}
        alias = 1
        for device, metrics in {**self.devices, "": self.node_metrics}.items():
            for name, (dtype, value) in metrics.items():
                self.aliases[(device, name)] = (alias, dtype)
                self.values.setdefault((device, name), value)
                alias += 1
        self._mqtt: MqttConnection | None = None
        self._task: asyncio.Task[None] | None = None

    def _now_ms(self) -> int:
        return self.clock.now_ns() // 1_000_000

    def _topic(self, kind: str, device: str = "") -> str:
        return str(Topic(self.group, kind, self.node, device))

    def _death_payload(self) -> bytes:
        return encode_payload(
            [Metric(BDSEQ, None, DataType.UInt64, self.bdseq)], seq=None, timestamp_ms=self._now_ms()
        )

    async def __aenter__(self) -> SparkplugEdgeNode:
        self._mqtt = MqttConnection(
            self.host,
            self.port,
            client_id=f"spb-{self.group}-{self.node}",
            will=Will(self._topic("NDEATH"), self._death_payload(), qos=1, retain=False),
            username=self.username,
            password=self.password,
            tls=self.tls,
        )
        await self._mqtt.__aenter__()
        await self._mqtt.subscribe(self._topic("NCMD"), qos=0)
        await self._mqtt.subscribe(self._topic("DCMD", "+"), qos=0)
        await self._mqtt.wait_subscribed()
        self._task = asyncio.create_task(self._commands(), name=f"spb-node-{self.node}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._mqtt is not None:
            await self._mqtt.__aexit__(None, None, None)
            self._mqtt = None

    def _send(self, kind: str, metrics: list[Metric], device: str = "", *, count: bool = True) -> None:
        assert self._mqtt is not None, "use inside 'async with'"
        seq = self.seq if count else None
        payload = encode_payload(metrics, seq=seq, timestamp_ms=self._now_ms())
        self._mqtt.publish_nowait(self._topic(kind, device), payload, qos=0)
        if count:
            self.seq = (self.seq + 1) % 256

    def birth(self) -> None:
        """NBIRTH (seq 0, bdSeq, the rebirth control) then a DBIRTH per device, with every alias."""
        self.seq = 0
        node = [
            Metric(BDSEQ, None, DataType.UInt64, self.bdseq),
            Metric(REBIRTH, None, DataType.Boolean, False),
        ]
        for name in self.node_metrics:
            alias, dtype = self.aliases[("", name)]
            node.append(Metric(name, alias, dtype, self.values[("", name)]))
        self._send("NBIRTH", node)
        for device, metrics in self.devices.items():
            declared = []
            for name in metrics:
                alias, dtype = self.aliases[(device, name)]
                declared.append(Metric(name, alias, dtype, self.values[(device, name)]))
            self._send("DBIRTH", declared, device)

    def update(self, device: str, changes: Mapping[str, MetricValue]) -> None:
        """A DDATA (NDATA for the node's own metrics, device "") with the changed metrics by alias only."""
        metrics = []
        for name, value in changes.items():
            alias, dtype = self.aliases[(device, name)]
            self.values[(device, name)] = value
            metrics.append(Metric("", alias, dtype, value))
        self._send("DDATA" if device else "NDATA", metrics, device)

    def send_raw(self, device: str, payload: bytes) -> None:
        """Any bytes on the device's DDATA topic (a broken payload, for the host's checks)."""
        assert self._mqtt is not None
        self._mqtt.publish_nowait(self._topic("DDATA", device), payload, qos=0)

    async def flushed(self) -> None:
        """Return once the broker has routed everything sent so far (a QoS 1 round trip behind it)."""
        assert self._mqtt is not None
        await self._mqtt.publish(f"firmware_sim/sparkplug/{self.node}/flush", b"", qos=1)

    def skip_seq(self) -> None:
        """Lose the next message on the way: the host sees a gap in `seq`."""
        self.seq = (self.seq + 1) % 256

    def device_death(self, device: str) -> None:
        self._send("DDEATH", [], device)

    async def death(self) -> None:
        """The NDEATH a node's will would carry, sent now (QoS 1) as a node going down cleanly does."""
        assert self._mqtt is not None
        await self._mqtt.publish(self._topic("NDEATH"), self._death_payload(), qos=1)

    async def _commands(self) -> None:
        assert self._mqtt is not None
        while True:
            msg = await self._mqtt.messages.get()
            try:
                payload = decode_payload(msg.payload)
                topic = parse_topic(msg.topic)
            except SparkplugError:
                continue  # a node ignores a command it cannot read
            if topic.kind == "NCMD" and is_rebirth_request(payload):
                self.rebirths += 1
                self.birth()
            elif topic.kind == "NCMD":
                self._write("", payload.metrics)  # a write of the node's own metrics
            elif topic.kind == "DCMD" and topic.device in self.devices:
                self._write(topic.device, payload.metrics)

    def _write(self, device: str, metrics: tuple[Metric, ...]) -> None:
        """Apply a DCMD (an NCMD: device "") through its handler; report what it holds now in a DDATA
        (an NDATA)."""
        by_alias = {alias: name for (dev, name), (alias, _dt) in self.aliases.items() if dev == device}
        written: dict[str, MetricValue] = {}
        for m in metrics:
            name = m.name or by_alias.get(m.alias if m.alias is not None else -1, "")
            if (device, name) in self.aliases:
                written[name] = m.value
                self.writes.append((device, name, m.value))
        handler = self.on_write.get(device)
        if written and handler is not None:
            report = handler(written)
            if report:
                self.update(device, report)


@dataclass
class CutterModel:
    """An automatic cutting table, one step a second: cuts plies while running, now and then a set-up.

    Seeded, so a demo run is repeatable; values are what its edge node publishes.
    """

    seed: int = 11
    mode: int = 1
    total: int = 0
    good: int = 0
    temperature: float = 31.5
    setpoint: float = NOMINAL_RPM  # spindle speed setpoint, rpm (written over Sparkplug DCMD)
    stuck: bool = False  # takes writes and keeps its old setpoint

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def step(self) -> dict[str, MetricValue]:
        rng = self._rng
        if self.mode == 1 and rng.random() < 0.02:
            self.mode = 3  # a new marker to set up
        elif self.mode == 3 and rng.random() < 0.2:
            self.mode = 1
        changes: dict[str, MetricValue] = {"Status/Mode": self.mode}
        running = self.mode == 1
        speed = rng.gauss(self.setpoint, 15.0 * self.setpoint / NOMINAL_RPM) if running else 0.0
        self.temperature += (0.02 if running else -0.05) + rng.gauss(0.0, 0.01)
        changes.update({"Spindle/Speed": round(speed, 1), "Spindle/Temperature": round(self.temperature, 2)})
        changes[SETPOINT] = self.setpoint
        if running and rng.random() < 0.25:  # a ply every four seconds or so
            self.total += 1
            self.good += 1 if rng.random() > 0.03 else 0
            changes.update({"Production/Total": self.total, "Production/Good": self.good})
        return changes

    def write(self, metrics: Mapping[str, MetricValue]) -> dict[str, MetricValue]:
        """A DCMD: take a new setpoint (unless stuck); the setpoint it holds now, to report."""
        value = metrics.get(SETPOINT)
        if isinstance(value, int | float) and not isinstance(value, bool) and not self.stuck:
            self.setpoint = float(value)
        return {SETPOINT: self.setpoint}


async def run_cutter(node: SparkplugEdgeNode, model: CutterModel, device: str = "Cutter1") -> None:
    """Birth, then one DDATA a second on the node's clock, until cancelled; DCMDs go to the model."""
    node.on_write[device] = model.write
    node.values.update({(device, k): v for k, v in model.step().items()})
    node.birth()
    while True:
        await node.clock.sleep(1.0)
        node.update(device, model.step())
