"""Pure core of the agent's publishing: readings -> (topic, payload) messages.

Telemetry leaves as one columnar batch per machine and field set per publish
interval, so a second of a whole line is a handful of MQTT messages, not
thousands. Raw vibration bursts are reduced to features here, at the edge,
with the same numpy code the analytics uses: the broker carries features,
not waveforms.

Each burst of a machine whose type has bearing geometry (the gateway's `[machine_types]`
merged over the catalogue's sewing-machine types) also carries its envelope
evidence: how far the outer-race, inner-race and ball lines stand above the noise
(`env_outer`, `env_inner`, `env_ball`) and the best supporting harmonic or sideband of
each (`env_*_sup`), and the fault-line evidence per part (`fault_outer`, `fault_inner`,
`fault_ball`, `fault_cage`: `tonle.kernels.fault_lines`, the code `analytics.pdm.diagnose`
runs). That is all `analytics.pdm.name_faults` and `fault_hint` need, so the
service can name the fault without the waveform ever leaving the gateway. The shaft
speed is read from the machine's own `speed_spm` (one arm-shaft turn per stitch), so a
derated machine is read at its derated defect frequencies. numpy only: no scipy here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tonle.config.pdm import DEFAULT_MACHINE_TYPES, MachineTypePdm
from tonle.contract import Count as CountMsg
from tonle.contract import MachineAddress, State, Telemetry, encode
from tonle.kernels.diagnosis import bearing_evidence
from tonle.kernels.fault_lines import fault_lines
from tonle.kernels.features import vibration_features
from tonle.schema import ENVELOPE_FIELDS, FAULT_EVIDENCE_FIELDS, PRODUCTION, STATE, TELEMETRY
from tonle.sources.base import Burst, Count, Reading, Sample, StateChange

__all__ = ["ENVELOPE_FIELDS", "Outgoing", "SeqCounters", "encode_readings", "envelope_fields"]


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
    pdm: Mapping[str, MachineTypePdm] | None = None,
) -> list[Outgoing]:
    """Group readings per machine into contract messages, assigning sequence numbers.

    `pdm` maps a machine type to its bearing geometry and shaft speed (a gateway passes
    its `[machine_types]` merged over the defaults); without it the catalogue's sewing-machine
    table is used. Machines of other types get no envelope fields.
    """
    table = DEFAULT_MACHINE_TYPES if pdm is None else pdm
    samples: dict[tuple[str, tuple[str, ...]], list[Sample]] = defaultdict(list)
    bursts: dict[str, list[Burst]] = defaultdict(list)
    msgs: list[Outgoing] = []
    for r in readings:
        if isinstance(r, Sample):
            samples[(r.machine, tuple(r.fields))].append(r)
        elif isinstance(r, Burst):
            bursts[r.machine].append(r)
    sample_ts = _encode_samples(samples, addresses, machine_types, seq, msgs)
    _encode_bursts(bursts, samples, sample_ts, addresses, machine_types, seq, table, msgs)
    _encode_events(readings, addresses, machine_types, seq, msgs)
    return msgs


def _encode_samples(
    samples: Mapping[tuple[str, tuple[str, ...]], list[Sample]],
    addresses: Mapping[str, MachineAddress],
    machine_types: Mapping[str, str],
    seq: SeqCounters,
    msgs: list[Outgoing],
) -> dict[str, list[int]]:
    """One columnar telemetry message per machine and field set; returns the timestamps used."""
    sample_ts: dict[str, list[int]] = defaultdict(list)
    for (machine, names), rows in samples.items():
        addr, mtype = addresses[machine], machine_types.get(machine)
        rows.sort(key=lambda s: s.ts_ns)
        ts = [s.ts_ns for s in rows]
        sample_ts[machine].extend(ts)
        fields = {f: [s.fields[f] for s in rows] for f in names}
        first = seq.take(machine, "telemetry", len(rows))
        payload = encode(Telemetry(v=1, seq=first, ts=ts, fields=fields, machine_type=mtype))
        msgs.append(Outgoing(addr.topic("telemetry"), payload, machine, TELEMETRY.name, len(rows)))
    return sample_ts


def _encode_bursts(
    bursts: Mapping[str, list[Burst]],
    samples: Mapping[tuple[str, tuple[str, ...]], list[Sample]],
    sample_ts: Mapping[str, list[int]],
    addresses: Mapping[str, MachineAddress],
    machine_types: Mapping[str, str],
    seq: SeqCounters,
    table: Mapping[str, MachineTypePdm],
    msgs: list[Outgoing],
) -> None:
    """Bursts reduced to features (and envelope evidence, for a known machine type) per machine."""
    for machine, group in bursts.items():
        addr, mtype = addresses[machine], machine_types.get(machine)
        group.sort(key=lambda b: b.ts_ns)
        b_ts = _unique_after(
            np.array([b.ts_ns for b in group], dtype=np.int64),
            np.array(sample_ts.get(machine, []), dtype=np.int64),
        )
        waves = np.stack([b.waveform for b in group])
        fields = _features(waves)
        mt = table.get(mtype or "")
        if mt is not None:
            speed = _speed_at(samples, machine, b_ts)
            fields |= envelope_fields(waves, group[0].fs_hz, mt, speed)
        first = seq.take(machine, "telemetry", len(group))
        payload = encode(Telemetry(v=1, seq=first, ts=b_ts.tolist(), fields=fields, machine_type=mtype))
        msgs.append(Outgoing(addr.topic("telemetry"), payload, machine, TELEMETRY.name, len(group)))


def _features(waves: np.ndarray) -> dict[str, list[float]]:
    feats = vibration_features(waves)
    return {
        "vib_rms": feats.rms.tolist(),
        "vib_peak": feats.peak.tolist(),
        "vib_crest": feats.crest.tolist(),
        "vib_kurtosis": feats.kurtosis.tolist(),
    }


def _encode_events(
    readings: Sequence[Reading],
    addresses: Mapping[str, MachineAddress],
    machine_types: Mapping[str, str],
    seq: SeqCounters,
    msgs: list[Outgoing],
) -> None:
    """State changes and counts, one message each, in the order they were read."""
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
            msgs.append(Outgoing(addr.topic("state"), encode(state), r.machine, STATE.name, 1))
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
            msgs.append(Outgoing(addr.topic("count"), encode(count), r.machine, PRODUCTION.name, 1))


def envelope_fields(
    waves: np.ndarray, fs_hz: float, mt: MachineTypePdm, speed_spm: np.ndarray
) -> dict[str, list[float]]:
    """Envelope evidence of each burst ``[n, samples]`` at the machine type's defect frequencies.

    `speed_spm` is the stitch rate at each burst (NaN where unknown, then the rated
    speed is assumed): the defect lines move with the shaft, so a derated machine read
    at its rated frequencies would look healthy.
    """
    shaft_hz = np.where(np.isfinite(speed_spm) & (speed_spm > 0), speed_spm, mt.shaft_rpm) / 60.0
    ev = bearing_evidence(waves, fs_hz, shaft_hz, mt.defect_orders(), band=mt.band_hz)
    cols = np.concatenate([ev.key, ev.support], axis=-1)
    out = {name: np.round(cols[:, i], 3).tolist() for i, name in enumerate(ENVELOPE_FIELDS)}
    # The evidence `analytics.pdm.name_faults` names the part from (bits per family).
    lines = fault_lines(waves, fs_hz, shaft_hz, mt.defect_orders(), band=mt.band_hz)
    out.update(
        {name: np.round(lines.score[:, i], 2).tolist() for i, name in enumerate(FAULT_EVIDENCE_FIELDS)}
    )
    return out


def _speed_at(
    samples: Mapping[tuple[str, tuple[str, ...]], list[Sample]], machine: str, ts: np.ndarray
) -> np.ndarray:
    """The machine's last non-zero `speed_spm` at or before each timestamp (NaN if none).

    Zero is skipped: a burst is only taken while the shaft turns, and a stop between
    the burst and the sample says nothing about the speed it turned at.
    """
    rows = sorted(
        (s.ts_ns, float(s.fields["speed_spm"]))
        for (m, names), group in samples.items()
        if m == machine and "speed_spm" in names
        for s in group
        if float(s.fields["speed_spm"]) > 0
    )
    if not rows:
        return np.full(ts.shape, np.nan)
    at = np.array([r[0] for r in rows], dtype=np.int64)
    spm = np.array([r[1] for r in rows])
    i = np.searchsorted(at, ts, side="right") - 1
    return np.where(i >= 0, spm[np.clip(i, 0, None)], np.nan)
