"""What a sewing line is made of: stations, buffers, failure rates, and a calibrated default.

Calibration of `default_line` against real data
-----------------------------------------------
`shared/data/garment_productivity/garments_worker_productivity.csv` (UCI 597:
one Bangladeshi garment factory, Jan-Mar 2015, one row per team per day; see
its PROVENANCE.md). Over the 691 sewing-department rows:

- `smv` per garment: median 22.5 min (5-95 %: 11.4-30.3) for teams of
  `no_of_workers` median 57 (5-95 %: 32-59). Work content per worker
  (`smv / no_of_workers`) is median 0.44 min (5-95 %: 0.26-0.57). A 12-station
  line is a cut-down polo-shirt line, so our operations carry more work each
  (0.40-0.85 min), inside the 0.3-1.5 min range of single garment operations,
  and close to balanced, as an industrial engineer would balance them.
- `actual_productivity` (team efficiency: SAM produced / minutes worked):
  median 0.75, inter-quartile 0.66-0.80, 5-95 % 0.37-0.95. Operator
  efficiency is drawn from N(0.75, 0.10) clipped to [0.5, 1.0]: the median,
  a spread from the IQR (0.14 / 1.35 ≈ 0.10), and the 0.5-1.0 range of single
  operators (the team tail below 0.5 comes from idle time, which the
  simulator produces itself through breaks and starving).
- `targeted_productivity`: median 0.75, which sets the line target the way
  garment factories do: target pcs/h = 60 × operators × 0.75 / total SAM.
- `wip` per worker is median 20 pieces in bundle systems; a single-piece-flow
  line keeps less between operations, so buffers hold 10 pieces and start at 5.

Not in the data (engineering values, stated here so nobody mistakes them for
measurements): machine speeds, bearings and housing resonances come from the
machine-type catalogue `tonle.kernels.machine_types` (lockstitch ~4,000 spm,
overlock ~6,000, a 6203 arm-shaft bearing, 2.6-3.4 kHz), a 2 % reject rate,
about one thread break per running hour (30-90 s) and a needle break every
~20 running hours (2-5 min), ambient 30 °C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tonle.kernels.bearing import BEARINGS
from tonle.kernels.machine_types import MACHINE_SPM, MACHINE_TYPES

__all__ = ["MACHINE_SPM", "OPERATIONS", "LineSpec", "StationSpec", "default_line"]


# A knit polo shirt, in sewing order: (operation, machine type, SAM in minutes, rank).
# A line with n stations keeps the n operations of lowest rank (the ones no polo
# can be made without come first), still in sewing order.
OPERATIONS: tuple[tuple[str, str, float, int], ...] = (
    ("attach care label", "lockstitch", 0.40, 11),
    ("join shoulders", "overlock", 0.45, 1),
    ("make placket", "lockstitch", 0.65, 7),
    ("attach placket", "lockstitch", 0.85, 2),
    ("box-stitch placket", "lockstitch", 0.70, 13),
    ("attach collar", "overlock", 0.60, 3),
    ("back-neck tape", "lockstitch", 0.55, 12),
    ("top-stitch neck tape", "lockstitch", 0.50, 14),
    ("attach sleeve cuffs", "overlock", 0.50, 10),
    ("attach sleeves", "overlock", 0.75, 4),
    ("top-stitch armholes", "coverstitch", 0.60, 15),
    ("close side seams", "overlock", 0.80, 5),
    ("make side vents", "lockstitch", 0.55, 16),
    ("hem bottom", "coverstitch", 0.55, 6),
    ("bartack vents", "bartack", 0.40, 17),
    ("buttonhole placket", "buttonhole", 0.45, 8),
    ("sew buttons", "button_sew", 0.50, 9),
    ("tack armhole seams", "lockstitch", 0.40, 18),
)

OPERATOR_EFF_MEAN = 0.75
OPERATOR_EFF_SD = 0.10
TARGET_EFFICIENCY = 0.75
HEALTHY_WEAR_PER_H = 1e-4
WORN_INITIAL_WEAR = 0.55
WORN_WEAR_PER_H = 0.15  # 0.45 of wear left / 0.15 per h ≈ 3 h of running to seizure
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class StationSpec:
    """One operator at one machine doing one operation."""

    name: str
    operation: str
    sam_min: float
    efficiency: float
    machine_type: str = "lockstitch"
    nominal_spm: float = 4000.0
    bearing: str = "6203"
    initial_wear: float = 0.1
    wear_per_h: float = HEALTHY_WEAR_PER_H
    resonance_hz: float = 3000.0  # structural resonance the bearing impacts ring at

    def __post_init__(self) -> None:
        where = f"station {self.name!r}"
        _check(bool(self.name), f"{where}: name is empty")
        _check(0 < self.sam_min <= 30, f"{where}: sam_min={self.sam_min} must be in (0, 30] min")
        _check(
            0 < self.efficiency <= 1.5,
            f"{where}: efficiency={self.efficiency} must be in (0, 1.5] (0.75 is typical)",
        )
        _check(
            100 <= self.nominal_spm <= 10_000,
            f"{where}: nominal_spm={self.nominal_spm} must be in [100, 10000]",
        )
        _check(
            self.bearing in BEARINGS,
            f"{where}: bearing {self.bearing!r} is unknown; use one of {sorted(BEARINGS)}",
        )
        _check(
            0 <= self.initial_wear < 1,
            f"{where}: initial_wear={self.initial_wear} must be in [0, 1)",
        )
        _check(self.wear_per_h >= 0, f"{where}: wear_per_h={self.wear_per_h} must be >= 0")
        _check(self.resonance_hz > 0, f"{where}: resonance_hz={self.resonance_hz} must be > 0")

    @property
    def cycle_s(self) -> float:
        """Mean seconds per piece at full speed: SAM scaled by the operator's efficiency."""
        return self.sam_min * 60.0 / self.efficiency


@dataclass(frozen=True, slots=True)
class LineSpec:
    """A serial sewing line: stations in order with a bounded WIP buffer between each pair."""

    site: str
    area: str
    line: str
    stations: tuple[StationSpec, ...]
    buffer_capacity: int = 10
    reject_rate: float = 0.02
    thread_break_per_h: float = 1.0
    needle_break_per_h: float = 0.05
    burst_interval_s: float = 10.0
    burst_fs_hz: float = 8192.0
    burst_n: int = 4096
    target_pcs_per_h: float = 0.0
    initial_wip: int = 5

    def __post_init__(self) -> None:
        _check(len(self.stations) >= 1, "line has no stations; give at least one")
        names = tuple(s.name for s in self.stations)
        _check(len(set(names)) == len(names), f"station names repeat: {names}")
        _check(self.buffer_capacity >= 1, f"buffer_capacity={self.buffer_capacity} must be >= 1")
        _check(
            0 <= self.initial_wip <= self.buffer_capacity,
            f"initial_wip={self.initial_wip} must be in [0, buffer_capacity={self.buffer_capacity}]",
        )
        _check(0 <= self.reject_rate < 1, f"reject_rate={self.reject_rate} must be in [0, 1)")
        for key in ("thread_break_per_h", "needle_break_per_h", "target_pcs_per_h"):
            value = getattr(self, key)
            _check(math.isfinite(value) and value >= 0, f"{key}={value} must be >= 0")
        _check(self.burst_fs_hz > 0, f"burst_fs_hz={self.burst_fs_hz} must be > 0")
        _check(self.burst_n >= 64, f"burst_n={self.burst_n} must be >= 64 samples")
        _check(
            self.burst_n / self.burst_fs_hz <= self.burst_interval_s,
            f"a burst of {self.burst_n} samples at {self.burst_fs_hz} Hz lasts longer than "
            f"burst_interval_s={self.burst_interval_s}",
        )
        for s in self.stations:
            _check(
                s.resonance_hz < 0.45 * self.burst_fs_hz,
                f"station {s.name!r}: resonance_hz={s.resonance_hz} must stay below 0.45 × "
                f"burst_fs_hz={self.burst_fs_hz} to be seen",
            )

    def step_ns(self, dt_s: float) -> int:
        """A simulation step in ns for this line, or ValueError saying which step would do.

        The step must divide one second (1 Hz telemetry) and the burst interval,
        and be short against the fastest cycle (one piece per station per step).
        """
        dt_ns = round(dt_s * _NS)
        _check(
            0 < dt_ns <= _NS and _NS % dt_ns == 0,
            f"dt_s={dt_s} must divide one second (0.1, 0.25, 0.5 or 1.0)",
        )
        _check(
            round(self.burst_interval_s * _NS) % dt_ns == 0,
            f"burst_interval_s={self.burst_interval_s} must be a whole number of {dt_s} s steps",
        )
        fastest = float(self.cycle_s.min())
        _check(
            dt_s * 4 <= fastest,
            f"dt_s={dt_s} is too coarse for a {fastest:.1f} s cycle; use a smaller step",
        )
        return dt_ns

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stations)

    @property
    def cycle_s(self) -> np.ndarray:
        """Mean seconds per piece of every station at full speed."""
        return np.array([s.cycle_s for s in self.stations])


def default_line(
    n_stations: int = 12,
    seed: int = 1,
    wearing_station: int | None = 6,
    site: str = "demo-plant",
    area: str = "sewing",
    line: str = "L1",
) -> LineSpec:
    """A polo-shirt line calibrated on the UCI garment data (see the module docstring).

    Up to 18 stations take real operations (the most essential ones first,
    kept in sewing order); beyond that, extra "auxiliary" operations with SAMs drawn from the
    same range are added, so benchmarks can build long lines. `seed` draws the
    operators' efficiencies, the healthy bearings' wear and the resonances.
    """
    _check(n_stations >= 1, f"n_stations={n_stations} must be >= 1")
    if wearing_station is not None:
        _check(
            0 <= wearing_station < n_stations,
            f"wearing_station={wearing_station} must be a station index in [0, {n_stations})",
        )
    rng = np.random.default_rng(seed)
    ops = _operations(n_stations, rng)
    eff = _assign_operators(np.array([sam for _, _, sam in ops]), rng)
    wear0 = rng.uniform(0.05, 0.15, n_stations)
    wear_rate = HEALTHY_WEAR_PER_H * rng.uniform(0.7, 1.3, n_stations)
    types = [MACHINE_TYPES[mtype] for _, mtype, _ in ops]
    low, high = np.array([t.resonance_hz for t in types]).T
    resonance = rng.uniform(low, high, n_stations)
    stations = []
    for i, (operation, mtype, sam) in enumerate(ops):
        worn = i == wearing_station
        stations.append(
            StationSpec(
                name=f"S{i + 1:02d}",
                operation=operation,
                sam_min=sam,
                efficiency=round(float(eff[i]), 3),
                machine_type=mtype,
                nominal_spm=types[i].rated_spm,
                bearing=types[i].bearing,
                initial_wear=WORN_INITIAL_WEAR if worn else round(float(wear0[i]), 3),
                wear_per_h=WORN_WEAR_PER_H if worn else float(wear_rate[i]),
                resonance_hz=round(float(resonance[i]), 1),
            )
        )
    total_sam = sum(s.sam_min for s in stations)
    target = 60.0 * n_stations * TARGET_EFFICIENCY / total_sam
    return LineSpec(
        site=site,
        area=area,
        line=line,
        stations=tuple(stations),
        target_pcs_per_h=round(target, 1),
    )


def _operations(n: int, rng: np.random.Generator) -> list[tuple[str, str, float]]:
    """`n` operations in sewing order: an even spread of the real ones, then auxiliaries."""
    if n <= len(OPERATIONS):
        return [(op, mtype, sam) for op, mtype, sam, rank in OPERATIONS if rank <= n]
    extra = [
        (f"auxiliary operation {k + 1}", "lockstitch", round(float(rng.uniform(0.4, 0.85)), 2))
        for k in range(n - len(OPERATIONS))
    ]
    return [(op, mtype, sam) for op, mtype, sam, _ in OPERATIONS] + extra


def _assign_operators(sam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Operator efficiencies, the best operators on the longest operations.

    That is how an industrial engineer balances a line; with random placement
    one slow operator on a long operation would set the pace of the whole line.
    """
    eff = np.clip(rng.normal(OPERATOR_EFF_MEAN, OPERATOR_EFF_SD, sam.size), 0.5, 1.0)
    out = np.empty_like(eff)
    out[np.argsort(sam, kind="stable")] = np.sort(eff)
    return out


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
