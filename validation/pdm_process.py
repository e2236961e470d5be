"""Process failure modes of a cutting or sewing head from physically meaningful features.

Four mechanisms, each read from the quantity that physically drives it:

- heat dissipation: the tool/head sheds heat through the air; it cannot when the
  process runs less than ``delta_t_min_k`` above ambient *and* the spindle turns too
  slowly to move air (``speed_max_rpm``);
- power: mechanical power ``P = torque x angular speed`` outside the drive's window
  ``[power_min_w, power_max_w]`` (stall or overload);
- overstrain: ``tool wear x torque`` (wear makes the tool weaker, torque loads it)
  above the limit of the product variant being made;
- tool wear: the tool has reached the end of its rated life, ``tool_wear_min_min``.

The default limits are the mechanisms documented for the AI4I 2020 milling data set
(Matzka 2020), so nothing is fitted; `fit_process_limits` re-learns them from labelled
data (one split per limit) to check that the data support them. Vectorised over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec
import numpy as np

from tonle.kernels import checks as v

__all__ = [
    "MODES",
    "ProcessFeatures",
    "ProcessLimits",
    "fit_process_limits",
    "process_features",
    "process_modes",
]

MODES = ("heat_dissipation", "power", "overstrain", "tool_wear")


class ProcessLimits(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Limits per failure mechanism; a config entry per machine type (AI4I defaults)."""

    delta_t_min_k: Annotated[float, msgspec.Meta(gt=0)] = 8.6
    speed_max_rpm: Annotated[float, msgspec.Meta(gt=0)] = 1380.0
    power_min_w: Annotated[float, msgspec.Meta(ge=0)] = 3500.0
    power_max_w: Annotated[float, msgspec.Meta(gt=0)] = 9000.0
    strain_max: dict[str, Annotated[float, msgspec.Meta(gt=0)]] = msgspec.field(
        default_factory=lambda: {"L": 11000.0, "M": 12000.0, "H": 13000.0}
    )
    tool_wear_min_min: Annotated[float, msgspec.Meta(ge=0)] = 200.0

    def __post_init__(self) -> None:
        if not self.power_min_w < self.power_max_w:
            raise ValueError(f"power_min_w={self.power_min_w} must be below power_max_w={self.power_max_w}")


@dataclass(frozen=True, slots=True)
class ProcessFeatures:
    """The physical quantities behind each mechanism, one value per row."""

    delta_t_k: np.ndarray  # process minus air temperature
    speed_rpm: np.ndarray
    power_w: np.ndarray  # torque x 2 pi rpm / 60
    strain: np.ndarray  # tool wear (min) x torque (N m)
    tool_wear_min: np.ndarray
    variant: np.ndarray  # product variant label per row (str)

    def rows(self, mask: np.ndarray) -> ProcessFeatures:
        """The features of the selected rows (boolean mask or indices): a fold, a machine."""
        return ProcessFeatures(*(getattr(self, name)[mask] for name in ProcessFeatures.__slots__))


def process_features(
    air_k: np.ndarray,
    process_k: np.ndarray,
    speed_rpm: np.ndarray,
    torque_nm: np.ndarray,
    tool_wear_min: np.ndarray,
    variant: np.ndarray,
) -> ProcessFeatures:
    """Derive the physical features from the raw process readings (all 1-D, same length)."""
    arrays = {
        "air_k": air_k,
        "process_k": process_k,
        "speed_rpm": speed_rpm,
        "torque_nm": torque_nm,
        "tool_wear_min": tool_wear_min,
    }
    a = {k: v.as_float(k, x) for k, x in arrays.items()}
    kinds = np.asarray(variant).astype(str)
    v.same_length(**a, variant=kinds)
    for k in ("speed_rpm", "torque_nm", "tool_wear_min"):
        v.non_negative(k, a[k])
    return ProcessFeatures(
        delta_t_k=a["process_k"] - a["air_k"],
        speed_rpm=a["speed_rpm"],
        power_w=a["torque_nm"] * a["speed_rpm"] * (2 * np.pi / 60),
        strain=a["tool_wear_min"] * a["torque_nm"],
        tool_wear_min=a["tool_wear_min"],
        variant=kinds,
    )


def process_modes(f: ProcessFeatures, limits: ProcessLimits | None = None) -> np.ndarray:
    """bool ``[n_rows, 4]``: which mechanism (in `MODES` order) is at its limit on each row."""
    lim = limits or ProcessLimits()
    unknown = sorted(set(np.unique(f.variant).tolist()) - set(lim.strain_max))
    if unknown:
        raise ValueError(f"no strain_max for product variant(s) {unknown}; add them to the limits")
    strain_max = np.vectorize(lim.strain_max.__getitem__, otypes=[float])(f.variant)
    return np.column_stack(
        [
            (f.delta_t_k < lim.delta_t_min_k) & (f.speed_rpm < lim.speed_max_rpm),
            (f.power_w < lim.power_min_w) | (f.power_w > lim.power_max_w),
            f.strain > strain_max,
            f.tool_wear_min >= lim.tool_wear_min_min,
        ]
    )


def fit_process_limits(f: ProcessFeatures, labels: np.ndarray) -> ProcessLimits:
    """Learn each limit from labelled rows ``[n_rows, 4]`` (MODES order): the split with best F1.

    One threshold per physical quantity (two for the power window and for heat
    dissipation, one per product variant for strain): a handful of parameters, so the
    fit generalises, and a learnt limit far from the documented one would say the data
    or the mechanism differ. A limit sits halfway between the neighbouring values it
    separates.
    """
    y = np.asarray(labels, dtype=bool)
    if y.shape != (f.speed_rpm.shape[0], 4):
        raise ValueError(f"labels must be [n_rows, 4] in MODES order, got {y.shape}")
    dt, rpm = _best_and_below(f.delta_t_k, f.speed_rpm, y[:, 0])
    p_lo = _best_split(f.power_w, y[:, 1] & (f.power_w < np.median(f.power_w)), below=True)
    p_hi = _best_split(f.power_w, y[:, 1] & (f.power_w >= np.median(f.power_w)), below=False)
    strain = {
        str(k): _best_split(f.strain[f.variant == k], y[f.variant == k, 2], below=False)
        for k in np.unique(f.variant)
    }
    wear = _best_split(f.tool_wear_min, y[:, 3], below=False, inclusive=True)
    return ProcessLimits(
        delta_t_min_k=dt,
        speed_max_rpm=rpm,
        power_min_w=p_lo,
        power_max_w=p_hi,
        strain_max=strain,
        tool_wear_min_min=wear,
    )


def _best_split(x: np.ndarray, y: np.ndarray, *, below: bool, inclusive: bool = False) -> float:
    """Threshold c maximising F1 of ``x < c`` (below) or ``x > c`` (or >= with inclusive)."""
    order = np.argsort(-x if not below else x, kind="stable")
    xs, ys = x[order], y[order]
    tp = np.cumsum(ys)
    pred = np.arange(1, len(xs) + 1)
    f1 = 2 * tp / (pred + ys.sum())
    # Only cut between distinct values: a tie cannot be split.
    last_of_run = np.r_[xs[1:] != xs[:-1], True]
    f1 = np.where(last_of_run, f1, -1.0)
    i = int(np.argmax(f1))
    if i + 1 >= len(xs):
        return float(xs[i] + (-1 if not below else 1) * 1e-9)
    if inclusive:
        return float(xs[i])
    return float((xs[i] + xs[i + 1]) / 2)


def _best_and_below(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Thresholds (ca, cb) maximising F1 of ``(a < ca) & (b < cb)``; cb searched on a grid."""
    best = (-1.0, float(np.max(a)), float(np.max(b)))
    for cb in np.unique(np.quantile(b, np.linspace(0.01, 0.99, 99))):  # 99 candidates, not samples
        keep = b < cb
        if not (y & keep).any():
            continue
        ca = _best_split(a[keep], y[keep], below=True)
        pred = (a < ca) & keep
        tp = (pred & y).sum()
        f1 = 2 * tp / (pred.sum() + y.sum())
        if f1 > best[0]:
            best = (float(f1), ca, float(cb))
    return best[1], best[2]
