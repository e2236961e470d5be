"""Pure core of the agent's publishing: readings -> (topic, payload) messages.

Telemetry leaves as one columnar batch per machine and field set per publish
interval, so a second of a whole line is a handful of MQTT messages, not
thousands. Raw vibration bursts are reduced to features here, at the edge,
with the same numpy code the analytics uses: the broker carries features,
not waveforms.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from analytics.features import vibration_features
from edge_agent.sources.base import Burst, Count, Reading, Sample, StateChange
from tonle.contract import Count as CountMsg
from tonle.contract import MachineAddress, State, Telemetry, encode

__all__ = ["Outgoing", "SeqCounters", "encode_readings"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    machine: str
    measurement: str  # where the samples land in InfluxDB
    samples: int


class SeqCounters:
    """Per-machine, per-kind sequence numbers; persisted with the spool so they survive a crash."""

    def __init__(self, state: Mapping[str, int] | None = None) -> None:
        self._next: dict[str, int] = dict(state or {})

    def take(self, machine: str, kind: str, n: int = 1) -> int:
        key = f"seq/{machine}/{kind}"
        first = self._next.get(key, 0)
        self._next[key] = first + n
        return first

    def state(self) -> dict[str, int]:
        return dict(self._next)


def _unique_after(ts: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """Nudge timestamps by whole ns until none equals one in `taken` (one point per ns)."""
    ts = ts.copy()
    while True:
        clash = np.isin(ts, taken)
        if not clash.any():
            return ts
        ts[clash] += 1


def encode_readings(
    readings: Sequence[Reading],
    addresses: Mapping[str, MachineAddress],
    machine_types: Mapping[str, str],
    seq: SeqCounters,
) -> list[Outgoing]:
    """Group readings per machine into contract messages, assigning sequence numbers."""
    samples: dict[tuple[str, tuple[str, ...]], list[Sample]] = defaultdict(list)
    bursts: dict[str, list[Burst]] = defaultdict(list)
    msgs: list[Outgoing] = []
    for r in readings:
        if isinstance(r, Sample):
            samples[(r.machine, tuple(r.fields))].append(r)
        elif isinstance(r, Burst):
            bursts[r.machine].append(r)
    sample_ts: dict[str, list[int]] = defaultdict(list)
    for (machine, names), rows in samples.items():
        addr, mtype = addresses[machine], machine_types.get(machine)
        rows.sort(key=lambda s: s.ts_ns)
        ts = [s.ts_ns for s in rows]
        sample_ts[machine].extend(ts)
        fields = {f: [s.fields[f] for s in rows] for f in names}
        first = seq.take(machine, "telemetry", len(rows))
        payload = encode(Telemetry(v=1, seq=first, ts=ts, fields=fields, machine_type=mtype))
        msgs.append(Outgoing(addr.topic("telemetry"), payload, machine, "telemetry", len(rows)))
    for machine, group in bursts.items():
        addr, mtype = addresses[machine], machine_types.get(machine)
        group.sort(key=lambda b: b.ts_ns)
        b_ts = _unique_after(
            np.array([b.ts_ns for b in group], dtype=np.int64),
            np.array(sample_ts.get(machine, []), dtype=np.int64),
        )
        feats = vibration_features(np.stack([b.waveform for b in group]))
        fields = {
            "vib_rms": feats.rms.tolist(),
            "vib_peak": feats.peak.tolist(),
            "vib_crest": feats.crest.tolist(),
            "vib_kurtosis": feats.kurtosis.tolist(),
        }
        first = seq.take(machine, "telemetry", len(group))
        payload = encode(Telemetry(v=1, seq=first, ts=b_ts.tolist(), fields=fields, machine_type=mtype))
        msgs.append(Outgoing(addr.topic("telemetry"), payload, machine, "telemetry", len(group)))
    for r in readings:
        if isinstance(r, StateChange):
            addr = addresses[r.machine]
            state = State(
                v=1,
                seq=seq.take(r.machine, "state"),
                ts=r.ts_ns,
                state=r.state,  # type: ignore[arg-type]
                reason=r.reason,
                machine_type=machine_types.get(r.machine),
            )
            msgs.append(Outgoing(addr.topic("state"), encode(state), r.machine, "state", 1))
        elif isinstance(r, Count):
            addr = addresses[r.machine]
            count = CountMsg(
                v=1,
                seq=seq.take(r.machine, "count"),
                ts=r.ts_ns,
                total=r.total,
                good=r.good,
                machine_type=machine_types.get(r.machine),
            )
            msgs.append(Outgoing(addr.topic("count"), encode(count), r.machine, "production", 1))
    return msgs
