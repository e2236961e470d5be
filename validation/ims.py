"""IMS bearing run, test 2: baseline, health index and drift alarm on the provided feature tables.

The stretch in the repository is healthy, so what it shows is the quiet claim (no alarm,
health near 1); that the chart fires on a real change is shown by adding a known
degradation to these real features (`ims_detection_delay`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analytics.baseline import OnlineBaseline, robust_z
from analytics.drift import feature_drift
from analytics.health import health_index
from validation.files import read_csv

__all__ = [
    "IMS_FEATURES",
    "IMS_FLOORS",
    "ImsResult",
    "ImsTable",
    "evaluate_ims",
    "ims_detection_delay",
    "load_ims",
]

IMS_FEATURES = ("rms", "kurtosis", "env_bpfo", "env_bpfi", "env_bsf")
# Smallest baseline spread per feature, in log units: 5 % for RMS (operation moves it that
# much), 10 % for kurtosis and the envelope line amplitudes (noisier by nature).
IMS_FLOORS = np.array([0.05, 0.10, 0.10, 0.10, 0.10])


@dataclass(frozen=True, slots=True)
class ImsTable:
    time: np.ndarray  # datetime64[s] [n_snapshots]
    rms: np.ndarray  # [4 bearings, n]
    kurtosis: np.ndarray  # Pearson (Gaussian 3) [4, n]
    log_features: np.ndarray  # [4, n, len(IMS_FEATURES)]: log RMS, log kurtosis, log line amplitudes


def load_ims(data_dir: Path, *, part: str = "part1") -> ImsTable:
    """The stats and spectral tables of test 2 (`part`: which file pair, e.g. a held-out part2)."""
    folder = Path(data_dir) / "ims_bearing"
    stats = read_csv(folder / f"ims_test2_stats_{part}.csv")
    spec = read_csv(folder / f"ims_test2_spectral_{part}.csv")
    if not np.array_equal(stats["file_index"], spec["file_index"]):
        raise ValueError("IMS stats and spectral tables do not cover the same snapshots")
    rms = np.stack([stats[f"Bearing{b}_ch1_rms"].astype(float) for b in range(1, 5)])
    kurt = np.stack(
        [stats[f"Bearing{b}_ch1_kurt"].astype(float) + 3.0 for b in range(1, 5)]
    )  # excess -> Pearson
    # Energies are sums of squares: half their log is the log amplitude of the line.
    lines = [
        np.stack([0.5 * np.log(spec[f"Bearing{b}_ch1_env_{d}_energy"].astype(float)) for b in range(1, 5)])
        for d in ("bpfo", "bpfi", "bsf")
    ]
    feats = np.stack([np.log(rms), np.log(kurt), *lines], axis=-1)
    return ImsTable(stats["timestamp"].astype("datetime64[s]"), rms, kurt, feats)


@dataclass(frozen=True, slots=True)
class ImsResult:
    baseline: int  # snapshots learnt
    first_alarm: np.ndarray  # [4] snapshot index, -1 if none
    alarm_feature: list[str]  # feature that fired first per bearing, "" if none
    health: np.ndarray  # [4, n] per snapshot (NaN while learning)
    max_cusum: np.ndarray  # [4, n_features] highest chart value after learning


def evaluate_ims(table: ImsTable, *, capacity: int = 30, k: float = 1.0, h: float = 8.0) -> ImsResult:
    """Learn each bearing's baseline from its first `capacity` snapshots, then chart the rest."""
    x = table.log_features
    base = OnlineBaseline.empty(x.shape[0], x.shape[2], capacity, abs_floor=IMS_FLOORS)
    learnt = base.update(x)
    loc, scale = base.location_scale()
    z = robust_z(x, loc, scale)
    z[learnt] = np.nan  # the learning snapshots are not judged against themselves
    drift = feature_drift(z, k=k, h=h)
    hi = health_index(table.rms, table.kurtosis, np.exp(loc[:, :1]), np.exp(loc[:, 1:2]))
    hi[learnt] = np.nan
    names = [IMS_FEATURES[f] if f >= 0 else "" for f in drift.first_feature.tolist()]
    return ImsResult(capacity, drift.first_alarm, names, hi, np.nanmax(drift.cusum, axis=1))


def ims_detection_delay(
    table: ImsTable, *, bearing: int, start: int, log_rise_per_snapshot: np.ndarray, capacity: int = 30
) -> int:
    """Snapshots from `start` until the alarm when a synthetic degradation is added there.

    `log_rise_per_snapshot` ``[n_features]`` is added, growing linearly, to the real
    healthy features: the chart must find a known change on top of real noise. -1 if
    it never fires.
    """
    x = table.log_features.copy()
    steps = np.clip(np.arange(x.shape[1]) - start + 1, 0, None)
    x[bearing] += steps[:, None] * np.asarray(log_rise_per_snapshot)[None, :]
    ims = ImsTable(table.time, np.exp(x[..., 0]), np.exp(x[..., 1]), x)
    first = int(evaluate_ims(ims, capacity=capacity).first_alarm[bearing])
    return first - start if first >= start else -1
