"""The edge-node side of Sparkplug B as bookkeeping (no I/O): births, aliases, `seq`, data.

Tonle publishes its own machines to a plant's SCADA as one Sparkplug edge node with a
device per machine (`tonle.app.sparkplug_bridge`). This class decides what goes on the
wire: an NBIRTH (with `bdSeq` and the rebirth control) and a DBIRTH per device declaring
every metric with an alias and datatype; then data by alias only, `seq` +1 per message.
A metric a device has not declared yet (a new telemetry field) makes that device's
DBIRTH go out again with the whole set, as a host expects before it sees the alias.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tonle.protocols.sparkplug import (
    BDSEQ,
    REBIRTH,
    DataType,
    Metric,
    MetricValue,
    Topic,
    encode_payload,
)

__all__ = ["EdgeNodeBook", "Outgoing"]

Outgoing = tuple[str, bytes]  # (topic, payload)


@dataclass
class _Device:
    metrics: dict[str, tuple[int, DataType]] = field(default_factory=dict)  # name -> (alias, type)
    values: dict[str, MetricValue] = field(default_factory=dict)


@dataclass
class EdgeNodeBook:
    group: str
    node: str
    bdseq: int = 0
    seq: int = 0
    devices: dict[str, _Device] = field(default_factory=dict)
    _next_alias: int = 1

    def topic(self, kind: str, device: str = "") -> str:
        return str(Topic(self.group, kind, self.node, device))

    def death(self, now_ms: int) -> bytes:
        """The NDEATH payload (the MQTT will of this session)."""
        return encode_payload(
            [Metric(BDSEQ, None, DataType.UInt64, self.bdseq)], seq=None, timestamp_ms=now_ms
        )

    def _payload(self, metrics: list[Metric], now_ms: int) -> bytes:
        data = encode_payload(metrics, seq=self.seq, timestamp_ms=now_ms)
        self.seq = (self.seq + 1) % 256
        return data

    def births(self, now_ms: int) -> list[Outgoing]:
        """NBIRTH (seq 0) and every device's DBIRTH: on connect, and on a rebirth request."""
        self.seq = 0
        node = [
            Metric(BDSEQ, None, DataType.UInt64, self.bdseq),
            Metric(REBIRTH, None, DataType.Boolean, False),
        ]
        out = [(self.topic("NBIRTH"), self._payload(node, now_ms))]
        return out + [self._dbirth(name, now_ms) for name in self.devices]

    def _dbirth(self, name: str, now_ms: int) -> Outgoing:
        dev = self.devices[name]
        metrics = [Metric(m, alias, dt, dev.values.get(m)) for m, (alias, dt) in dev.metrics.items()]
        return self.topic("DBIRTH", name), self._payload(metrics, now_ms)

    def update(
        self, device: str, values: Mapping[str, tuple[DataType, MetricValue]], ts_ms: int, *, born: bool
    ) -> list[Outgoing]:
        """The messages for new values of one device: a DDATA, or a DBIRTH when it declares something new.

        `born`: whether the NBIRTH of this session is out; before it nothing is sent, the
        values are only kept for the births.
        """
        dev = self.devices.setdefault(device, _Device())
        new = False
        for name, (dtype, value) in values.items():
            if name not in dev.metrics:
                dev.metrics[name] = (self._next_alias, dtype)
                self._next_alias += 1
                new = True
            dev.values[name] = value
        if not born:
            return []
        if new:
            return [self._dbirth(device, ts_ms)]
        data = [Metric("", dev.metrics[n][0], dev.metrics[n][1], v) for n, (_dt, v) in values.items()]
        return [(self.topic("DDATA", device), self._payload(data, ts_ms))]
