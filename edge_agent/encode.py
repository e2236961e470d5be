"""Pure core of the agent's publishing: device output -> (topic, payload) messages.

Telemetry leaves as one columnar batch per machine per publish interval, so a
second of a whole line is a handful of MQTT messages, not thousands. Raw
vibration bursts are reduced to features here, at the edge, with the same
numpy code the analytics uses: the broker carries features, not waveforms.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from analytics.features import vibration_features
from firmware_sim.line import LineOutput
from tonle.contract import Count, MachineAddress, State, Telemetry, encode

__all__ = ["Outgoing", "SeqCounters", "encode_output"]

TELEMETRY_FIELDS = ("speed_spm", "current_a", "temp_c", "andon")


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    machine: str
    measurement: str  # where the samples land in InfluxDB
    samples: int


class SeqCounters:
    """Per-machine, per-kind sequence numbers; the collector counts the gaps."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, str], int] = defaultdict(int)

    def take(self, machine: str, kind: str, n: int = 1) -> int:
        first = self._next[(machine, kind)]
        self._next[(machine, kind)] = first + n
        return first


def _unique_after(ts: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """Nudge timestamps by whole ns until none equals one in `taken` (one point per ns)."""
    ts = ts.copy()
    while True:
        clash = np.isin(ts, taken)
        if not clash.any():
            return ts
        ts[clash] += 1


def encode_output(
    out: LineOutput,
    addresses: list[MachineAddress],
    machine_types: list[str],
    seq: SeqCounters,
) -> list[Outgoing]:
    msgs: list[Outgoing] = []
    tel = out.telemetry
    order = np.argsort(tel.station, kind="stable")
    stations = tel.station[order]
    bounds = np.searchsorted(stations, np.arange(len(addresses) + 1))
    burst_by_station: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for st, ts, _fs, wave in out.bursts:
        burst_by_station[st].append((ts, wave))

    for i, addr in enumerate(addresses):
        name, mtype = addr.machine, machine_types[i]
        rows = order[bounds[i] : bounds[i + 1]]
        tel_ts = tel.ts[rows]
        if rows.size:
            fields = {f: getattr(tel, f)[rows].tolist() for f in TELEMETRY_FIELDS}
            first = seq.take(name, "telemetry", rows.size)
            payload = encode(Telemetry(v=1, seq=first, ts=tel_ts.tolist(), fields=fields, machine_type=mtype))
            msgs.append(Outgoing(addr.topic("telemetry"), payload, name, "telemetry", int(rows.size)))
        bursts = burst_by_station.get(i)
        if bursts:
            b_ts = _unique_after(np.array([b[0] for b in bursts], dtype=np.int64), tel_ts)
            feats = vibration_features(np.stack([b[1] for b in bursts]))
            fields = {
                "vib_rms": feats.rms.tolist(),
                "vib_peak": feats.peak.tolist(),
                "vib_crest": feats.crest.tolist(),
                "vib_kurtosis": feats.kurtosis.tolist(),
            }
            first = seq.take(name, "telemetry", len(bursts))
            payload = encode(Telemetry(v=1, seq=first, ts=b_ts.tolist(), fields=fields, machine_type=mtype))
            msgs.append(Outgoing(addr.topic("telemetry"), payload, name, "telemetry", len(bursts)))

    for st, ts, state, reason in out.states:
        addr = addresses[st]
        payload = encode(
            State(
                v=1,
                seq=seq.take(addr.machine, "state"),
                ts=ts,
                state=state,
                reason=reason,
                machine_type=machine_types[st],
            )
        )
        msgs.append(Outgoing(addr.topic("state"), payload, addr.machine, "state", 1))
    for st, ts, total, good in out.counts:
        addr = addresses[st]
        payload = encode(
            Count(
                v=1,
                seq=seq.take(addr.machine, "count"),
                ts=ts,
                total=total,
                good=good,
                machine_type=machine_types[st],
            )
        )
        msgs.append(Outgoing(addr.topic("count"), payload, addr.machine, "production", 1))
    return msgs
