"""What a Sparkplug B message means to Tonle: topic and payload in, readings and requests out (no I/O).

The host keeps, per edge node, what Sparkplug asks a host to keep: whether the node is
born, its bdSeq (so a stale NDEATH from an old session is ignored), the last `seq`
(0-255, +1 per message after NBIRTH) and the alias table of its births. A data message
that arrives before its node's birth, with a `seq` that skips, or with an alias no birth
declared makes the host ask for a rebirth (NCMD `Node Control/Rebirth`), at most once per
`rebirth_wait_s` until the NBIRTH comes. A payload that cannot be read is refused with a
named reason and counted; the good metrics of a message are never dropped for a bad one.

For commands it also keeps what each birth declared (name -> alias and datatype, per device,
"" for the node's own metrics), forgotten at that device's DDEATH or the node's NDEATH: a
DCMD names the metric, its alias and the datatype the birth gave, and goes only to a device
that is alive. Every metric a birth or data message reports is handed back (`reported`), so
the source can see a written setpoint read back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from edge_agent.sources.sparkplug_config import SparkplugMachine, SparkplugSourceConfig
from tonle.contract import MACHINE_STATES
from tonle.protocols.sparkplug import (
    BDSEQ,
    NUMERIC,
    Metric,
    SparkplugError,
    SparkplugPayload,
    Topic,
    decode_payload,
    parse_topic,
)
from tonle.sources.base import Count, Reading, Sample, StateChange

__all__ = ["HostResult", "SparkplugHost"]

_SEQ_COUNTED = ("DBIRTH", "NDATA", "DDATA", "DDEATH")


@dataclass
class HostResult:
    readings: list[Reading] = field(default_factory=list)
    rebirth: Topic | None = None  # the NCMD topic to send a rebirth request to
    refused: list[str] = field(default_factory=list)  # reasons, one per refused message or metric
    reported: list[tuple[str, str, Metric]] = field(default_factory=list)  # (node, device, named metric)
    died: list[tuple[str, str]] = field(default_factory=list)  # (node, device); device "" = the whole node


@dataclass
class _Node:
    born: bool = False
    bdseq: int | None = None
    seq: int = 0
    aliases: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # alias -> (device, name, type)
    declared: dict[str, dict[str, tuple[int | None, int]]] = field(default_factory=dict)  # born devices
    rebirth_asked_ns: int | None = None


@dataclass
class _Machine:
    cfg: SparkplugMachine
    roles: dict[str, str]
    state: str | None = None
    count: tuple[int, int] | None = None
    total: int | None = None
    good: int | None = None
    last_ns: dict[str, int] = field(default_factory=dict)  # per kind of reading

    def stamp(self, kind: str, ts: int) -> int:
        """A time after the last one of this kind: Sparkplug has milliseconds, a node can send
        several messages in one, and storage keeps one point per timestamp. A time within the
        same millisecond moves up by nanoseconds; an older one (history) is kept as it is."""
        last = self.last_ns.get(kind)
        if last is not None and last - 1_000_000 < ts <= last:
            ts = last + 1
        self.last_ns[kind] = max(ts, last or ts)
        return ts


class SparkplugHost:
    def __init__(self, cfg: SparkplugSourceConfig, rebirth_wait_ns: int | None = None) -> None:
        self.cfg = cfg
        self.rebirth_wait_ns = rebirth_wait_ns or round(cfg.rebirth_wait_s * 1e9)
        self.machines = {(m.edge_node, m.device): _Machine(m, m.metrics()) for m in cfg.nodes}
        self.nodes: dict[str, _Node] = {}
        self.counts: Counter[str] = Counter()  # births, deaths, seq_gaps, rebirth requests...

    def online(self, node: str, device: str) -> bool:
        """Whether the node is born and, for a device, its DBIRTH came after its last DDEATH."""
        n = self.nodes.get(node)
        return n is not None and n.born and device in n.declared

    def declared(self, node: str, device: str, metric: str) -> tuple[int | None, int] | None:
        """(alias, datatype) of a metric the live birth of this device declared, else None."""
        n = self.nodes.get(node)
        return n.declared.get(device, {}).get(metric) if n is not None and n.born else None

    def handle(self, topic: str, data: bytes, now_ns: int) -> HostResult:
        out = HostResult()
        try:
            t = parse_topic(topic)
        except SparkplugError as exc:
            out.refused.append(str(exc.data["reason"]))
            return out
        if t.kind in ("NCMD", "DCMD") or t.group != self.cfg.group:
            return out
        try:
            payload = decode_payload(data)
        except SparkplugError as exc:
            out.refused.append(str(exc.data["reason"]))
            return out
        node = self.nodes.setdefault(t.node, _Node())
        if t.kind == "NBIRTH":
            self._birth(t, node, payload, out, now_ns)
        elif t.kind == "NDEATH":
            self._death(t, node, payload, out, now_ns)
        elif not node.born:
            out.refused.append("before_birth")
            self._ask_rebirth(t, node, out, now_ns)
        else:
            self._in_session(t, node, payload, out, now_ns)
        return out

    def _birth(self, t: Topic, node: _Node, payload: SparkplugPayload, out: HostResult, now_ns: int) -> None:
        self.counts["births"] += 1
        node.born, node.seq, node.rebirth_asked_ns = True, payload.seq or 0, None
        node.aliases, node.declared = {}, {}
        for m in payload.metrics:
            if m.name == BDSEQ and isinstance(m.value, int):
                node.bdseq = m.value
        self._learn(node, "", payload.metrics)
        out.reported.extend((t.node, "", m) for m in payload.metrics if m.name)
        self._readings("", t, payload, out, now_ns)

    def _death(self, t: Topic, node: _Node, payload: SparkplugPayload, out: HostResult, now_ns: int) -> None:
        bdseq = next((m.value for m in payload.metrics if m.name == BDSEQ), None)
        if node.bdseq is not None and bdseq is not None and bdseq != node.bdseq:
            self.counts["stale_deaths"] += 1  # the will of an earlier session: this one is alive
            return
        self.counts["deaths"] += 1
        node.born, node.declared = False, {}
        out.died.append((t.node, ""))
        ts = _ts(payload.timestamp_ms, now_ns)
        for (name, _device), mach in self.machines.items():
            if name == t.node:
                out.readings.extend(self._offline(mach, ts, "NDEATH"))

    def _in_session(
        self, t: Topic, node: _Node, payload: SparkplugPayload, out: HostResult, now_ns: int
    ) -> None:
        expected = (node.seq + 1) % 256
        if payload.seq is not None and payload.seq != expected:
            self.counts["seq_gaps"] += 1
            out.refused.append("seq_gap")
            self._ask_rebirth(t, node, out, now_ns)
        node.seq = payload.seq if payload.seq is not None else expected
        if t.kind == "DBIRTH":
            self.counts["births"] += 1
            self._learn(node, t.device, payload.metrics)
            out.reported.extend((t.node, t.device, m) for m in payload.metrics if m.name)
            self._readings(t.device, t, payload, out, now_ns)
        elif t.kind == "DDEATH":
            self.counts["deaths"] += 1
            node.declared.pop(t.device, None)
            out.died.append((t.node, t.device))
            mach = self.machines.get((t.node, t.device))
            if mach is not None:
                out.readings.extend(self._offline(mach, _ts(payload.timestamp_ms, now_ns), "DDEATH"))
        else:
            device = t.device if t.kind == "DDATA" else ""
            unknown = [
                m for m in payload.metrics if not m.name and (m.alias is None or m.alias not in node.aliases)
            ]
            if unknown:
                out.refused.extend("unknown_alias" for _ in unknown)
                self._ask_rebirth(t, node, out, now_ns)
            named = self._resolve(node, device, payload)
            out.reported.extend((t.node, device, m) for m in named.metrics)
            self._readings(device, t, named, out, now_ns)

    def _learn(self, node: _Node, device: str, metrics: tuple[Metric, ...]) -> None:
        declared = node.declared[device] = {}
        for m in metrics:
            if m.alias is not None and m.name:
                node.aliases[m.alias] = (device, m.name, m.datatype)
            if m.name:
                declared[m.name] = (m.alias, m.datatype)

    def _resolve(self, node: _Node, device: str, payload: SparkplugPayload) -> SparkplugPayload:
        """The payload with every alias replaced by the name and datatype its birth declared."""
        metrics = []
        for m in payload.metrics:
            if m.name:
                metrics.append(m)
            elif (known := node.aliases.get(m.alias if m.alias is not None else -1)) is not None:
                metrics.append(Metric(known[1], m.alias, m.datatype or known[2], m.value, m.timestamp_ms))
        return SparkplugPayload(payload.timestamp_ms, payload.seq, tuple(metrics))

    def _ask_rebirth(self, t: Topic, node: _Node, out: HostResult, now_ns: int) -> None:
        asked = node.rebirth_asked_ns
        if asked is not None and now_ns - asked < self.rebirth_wait_ns:
            return
        node.rebirth_asked_ns = now_ns
        self.counts["rebirth_requests"] += 1
        out.rebirth = Topic(t.group, "NCMD", t.node)

    def _readings(
        self, device: str, t: Topic, payload: SparkplugPayload, out: HostResult, now_ns: int
    ) -> None:
        mach = self.machines.get((t.node, device))
        if mach is None:
            return
        by_ts: dict[int, dict[str, float]] = {}
        changes: list[Reading] = []
        count_ts: int | None = None
        for m in payload.metrics:
            role = mach.roles.get(m.name)
            if role is None:
                continue
            ts = _ts(m.timestamp_ms if m.timestamp_ms is not None else payload.timestamp_ms, now_ns)
            if role == "state":
                changes.extend(self._state(mach, ts, m, out))
            elif m.value is None:
                continue  # a null metric says "no value now": nothing to store
            elif m.datatype not in NUMERIC or isinstance(m.value, str):
                out.refused.append("not_a_number")
            elif role.startswith("field:"):
                by_ts.setdefault(ts, {})[role[6:]] = float(m.value)
            else:
                setattr(mach, role.removeprefix("count_"), int(m.value))  # total or good
                count_ts = ts
        out.readings.extend(
            Sample(mach.cfg.machine, mach.stamp("sample", ts), f) for ts, f in sorted(by_ts.items())
        )
        out.readings.extend(changes)
        if count_ts is not None:  # one Count for the counters of one message
            out.readings.extend(self._count(mach, count_ts))

    def _state(self, mach: _Machine, ts: int, m: Metric, out: HostResult) -> list[Reading]:
        number = isinstance(m.value, int | float) and not isinstance(m.value, bool)
        text = str(int(m.value)) if number else str(m.value)  # type: ignore[arg-type]
        state = mach.cfg.states.get(text, text if not mach.cfg.states else None)
        if state is None or m.value is None:
            out.refused.append("unknown_state")
            return []
        if state not in MACHINE_STATES:
            out.refused.append("unknown_state")
            return []
        if state == mach.state:
            return []
        mach.state = state
        return [StateChange(mach.cfg.machine, mach.stamp("state", ts), state, reason=f"{m.name}={text}")]

    def _count(self, mach: _Machine, ts: int) -> list[Reading]:
        if mach.total is None or (mach.cfg.count_good and mach.good is None):
            return []  # wait for both counters when both are mapped
        good = mach.good if mach.cfg.count_good and mach.good is not None else mach.total
        if (mach.total, good) == mach.count:
            return []
        mach.count = (mach.total, good)
        return [Count(mach.cfg.machine, mach.stamp("count", ts), total=mach.total, good=good)]

    def _offline(self, mach: _Machine, ts: int, why: str) -> list[Reading]:
        """Only a machine with a state metric goes offline: its next birth brings its state back
        (a meter has no state, as with Modbus)."""
        if not mach.cfg.state or mach.state == "offline":
            return []
        mach.state = "offline"
        return [StateChange(mach.cfg.machine, mach.stamp("state", ts), "offline", reason=why)]


def _ts(ms: int | None, now_ns: int) -> int:
    return ms * 1_000_000 if ms else now_ns
