"""The figures of some machines over some time, and every ratio computed from them.

A `Figures` holds only extensive quantities (seconds per loss category, stops, pieces,
ideal seconds, telemetry sums), so a line, a shift, a day or the plant is a plain sum of
machine cells and stays consistent with them; every KPI is a property computed from
those sums, so the numbers behind any figure are always at hand. See analytics/kpi.py
for the definitions and docs/kpi.md for the reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from analytics.energy import ENERGY_FIELD
from analytics.losses import BREAKDOWN, CATEGORIES, DOWNTIME, MINOR_STOP, NO_DATA, PLANNED_STOP, RUN

__all__ = ["Figures", "ratio"]


@dataclass(frozen=True, slots=True)
class Figures:
    """Extensive KPI inputs of some cells (any leading shape `...`), and the ratios from them.

    seconds:      [..., n_categories] time per loss category (see analytics.losses.CATEGORIES)
    stops:        [..., n_categories] number of stops starting in the cell, per category
    total, good:  [...] pieces counted (all / good first time)
    ideal_s:      [...] ideal time of all pieces (ideal cycle x pieces, per job)
    ideal_good_s: [...] ideal time of the good pieces: the fully productive time
    field_sum:    [..., n_fields, n_categories] sum of each telemetry field's finite samples
    field_n:      [..., n_fields, n_categories] number of finite samples
    field_expected: [..., n_fields, n_categories] number of grid samples in the time
    field_names, field_period_s: which telemetry fields, and their sample spacing
    """

    seconds: np.ndarray
    stops: np.ndarray
    total: np.ndarray
    good: np.ndarray
    ideal_s: np.ndarray
    ideal_good_s: np.ndarray
    field_sum: np.ndarray
    field_n: np.ndarray
    field_expected: np.ndarray
    field_names: tuple[str, ...] = ()
    field_period_s: tuple[float, ...] = ()

    # ------------------------------------------------------------- roll-ups
    def sum(self, axis: int | tuple[int, ...]) -> Figures:
        """Sum cells over `axis` (of the leading shape): every field is extensive."""
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        nd = self.total.ndim
        axes = tuple(a % nd for a in axes)
        return self._map(lambda x: x.sum(axis=axes))

    def group(self, axis: int, ids: np.ndarray, n_groups: int) -> Figures:
        """Sum cells along `axis` into `n_groups` groups (ids[i] is cell i's group; -1 drops it)."""
        ids = np.asarray(ids)
        axis = axis % self.total.ndim
        if ids.shape != (self.total.shape[axis],):
            need = self.total.shape[axis]
            raise ValueError(f"group ids have shape {ids.shape}, need ({need},) for axis {axis}")
        onehot = (ids[None, :] == np.arange(n_groups)[:, None]).astype(np.float64)

        def g(x: np.ndarray) -> np.ndarray:
            moved = np.moveaxis(x, axis, -1)
            nan = np.isnan(moved)
            if not nan.any():
                return np.moveaxis(moved @ onehot.T, -1, axis)
            # NaN x 0 is NaN: an unknown figure must spoil only its own group, not every group.
            summed = np.where(nan, 0.0, moved) @ onehot.T
            spoiled = (nan.astype(np.float64) @ onehot.T) > 0
            return np.moveaxis(np.where(spoiled, np.nan, summed), -1, axis)

        return self._map(g)

    def _map(self, f: object) -> Figures:
        changes = {
            f_.name: f(getattr(self, f_.name))  # type: ignore[operator]
            for f_ in fields(self)
            if f_.name not in ("field_names", "field_period_s")
        }
        return replace(self, **changes)

    # ------------------------------------------------------------ durations
    @property
    def window_s(self) -> np.ndarray:
        return self.seconds.sum(axis=-1)

    @property
    def nodata_s(self) -> np.ndarray:
        return self.seconds[..., NO_DATA]

    @property
    def planned_s(self) -> np.ndarray:
        """Planned production time: known time that was not a planned stop."""
        return self.window_s - self.seconds[..., PLANNED_STOP] - self.seconds[..., NO_DATA]

    @property
    def run_s(self) -> np.ndarray:
        return self.seconds[..., RUN]

    @property
    def downtime_s(self) -> np.ndarray:
        return self.seconds[..., list(DOWNTIME)].sum(axis=-1)

    @property
    def speed_loss_s(self) -> np.ndarray:
        """Run time not explained by the ideal cycle: slow running (negative if faster than ideal)."""
        return self.run_s - self.ideal_s

    @property
    def quality_loss_s(self) -> np.ndarray:
        return self.ideal_s - self.ideal_good_s

    def losses_s(self) -> dict[str, np.ndarray]:
        """Planned time split into fully productive time and every loss, in seconds.

        The values add up to `planned_s` (the OEE identity, checked by the tests), so a
        waterfall chart of them explains an OEE figure completely.
        """
        out = {"fully_productive": self.ideal_good_s}
        out |= {CATEGORIES[c]: self.seconds[..., c] for c in DOWNTIME}
        out |= {"speed": self.speed_loss_s, "quality": self.quality_loss_s}
        return out

    # --------------------------------------------------------------- ratios
    @property
    def coverage(self) -> np.ndarray:
        """Fraction of the window whose machine state is known."""
        return ratio(self.window_s - self.nodata_s, self.window_s)

    @property
    def availability(self) -> np.ndarray:
        return ratio(self.run_s, self.planned_s)

    @property
    def performance(self) -> np.ndarray:
        return ratio(self.ideal_s, self.run_s)

    @property
    def quality(self) -> np.ndarray:
        return ratio(self.ideal_good_s, self.ideal_s)

    @property
    def oee(self) -> np.ndarray:
        return ratio(self.ideal_good_s, self.planned_s)

    @property
    def first_pass_yield(self) -> np.ndarray:
        return ratio(self.good, self.total)

    @property
    def ideal_cycle_s(self) -> np.ndarray:
        """Mean ideal cycle of the pieces made (the configured one when a single product)."""
        return ratio(self.ideal_s, self.total)

    @property
    def pieces_per_hour(self) -> np.ndarray:
        """Good pieces per hour of planned production time (what a line's hourly target means)."""
        return ratio(3600.0 * self.good, self.planned_s)

    @property
    def failures(self) -> np.ndarray:
        return self.stops[..., BREAKDOWN]

    @property
    def minor_stops(self) -> np.ndarray:
        return self.stops[..., MINOR_STOP]

    @property
    def mtbf_s(self) -> np.ndarray:
        """Mean run time between breakdowns (minor stops excluded); NaN without a breakdown."""
        return ratio(self.run_s, self.failures)

    @property
    def mttr_s(self) -> np.ndarray:
        """Mean time to repair: breakdown time per breakdown; NaN without a breakdown."""
        return ratio(self.seconds[..., BREAKDOWN], self.failures)

    # --------------------------------------------------------------- energy
    def _field(self, name: str) -> int:
        if name not in self.field_names:
            raise KeyError(f"no telemetry field {name!r}; the figures have {list(self.field_names)}")
        return self.field_names.index(name)

    @property
    def kwh_by_category(self) -> np.ndarray:
        """Energy of the measured samples per loss category, kWh [..., n_categories]."""
        i = self._field(ENERGY_FIELD)
        return self.field_sum[..., i, :] * (self.field_period_s[i] / 3600.0)

    @property
    def kwh(self) -> np.ndarray:
        return self.kwh_by_category.sum(axis=-1)

    @property
    def idle_kwh(self) -> np.ndarray:
        """Energy drawn while not running (stops, breaks, starved, setups)."""
        return self.kwh - self.kwh_by_category[..., RUN]

    @property
    def kwh_per_piece(self) -> np.ndarray:
        return ratio(self.kwh, self.total)

    @property
    def kwh_per_good_piece(self) -> np.ndarray:
        return ratio(self.kwh, self.good)

    def field_coverage(self, name: str = ENERGY_FIELD) -> np.ndarray:
        """Fraction of the expected samples of a field that were there."""
        i = self._field(name)
        return ratio(self.field_n[..., i, :].sum(-1), self.field_expected[..., i, :].sum(-1))

    def field_mean(self, name: str, category: int = RUN) -> np.ndarray:
        """Mean of a field over one category's samples (e.g. mean speed while running)."""
        i = self._field(name)
        return ratio(self.field_sum[..., i, category], self.field_n[..., i, category])


def ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    """num / den, NaN where den is 0 or NaN (no divide warning)."""
    n, d = np.broadcast_arrays(np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64))
    return np.divide(n, d, out=np.full(n.shape, np.nan), where=d > 0)
