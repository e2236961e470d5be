"""The floor of a sewing line: per-station state and what one time step does to it.

`LineFloor` holds every station's arrays (cycle progress, buffers, faults, wear,
temperature) and advances them one step: faults run down, finished pieces move on,
idle operators take the next piece, bearings wear, breaks happen, states change.
`firmware_sim.line.SewingLine` builds on it with the clock, commands and sensors.
Everything is vectorised over stations; the only Python loops are over the rare
events (a piece finished, a state changed).
"""

from __future__ import annotations

import numpy as np

from firmware_sim import motor
from firmware_sim.output import PieceCount, StateChange
from firmware_sim.spec import LineSpec
from firmware_sim.states import (
    BLOCKED,
    BREAKDOWN,
    MAINT,
    NEEDLE,
    RUNNING,
    STARVED,
    STATES,
    THREAD,
    change_reason,
    starved_reason,
)

__all__ = ["CYCLE_SIGMA", "FRESH_WEAR", "NEEDLE_BREAK_S", "THREAD_BREAK_S", "LineFloor"]

CYCLE_SIGMA = 0.08
THREAD_BREAK_S = (30.0, 90.0)
NEEDLE_BREAK_S = (120.0, 300.0)
FRESH_WEAR = (0.01, 0.03)
_HUGE = np.iinfo(np.int64).max // 4


class LineFloor:
    """Station arrays and the step; a subclass sets the attributes below before `_init_arrays`."""

    spec: LineSpec
    wear_acceleration: float
    maintenance_s: float
    _dt: float
    _start_ns: int
    _rng: np.random.Generator
    _states: list[StateChange]
    _counts: list[PieceCount]

    # ----------------------------------------------------------------- set-up

    def _init_arrays(self, spec: LineSpec) -> None:
        n = len(spec.stations)
        st = spec.stations
        self.n = n
        self._names = spec.names
        self._cycle = spec.cycle_s
        self._nominal_spm = np.array([s.nominal_spm for s in st])
        self._wear_per_h = np.array([s.wear_per_h for s in st]) * self.wear_acceleration
        self._wear = np.array([s.initial_wear for s in st])
        self._sf = np.ones(n)
        self._temp = np.full(n, motor.AMBIENT_C)
        self._andon = np.zeros(n)
        self._busy = np.zeros(n, dtype=bool)
        self._held = np.zeros(n, dtype=bool)
        self._running = np.zeros(n, dtype=bool)
        self._progress = np.zeros(n)
        self._target = np.zeros(n)
        self._fault = np.zeros(n, dtype=np.int8)  # 0 = none, else THREAD/NEEDLE/BREAKDOWN/MAINT
        self._fault_left = np.zeros(n)
        self._fault_reason = [""] * n
        self._pending_maint = np.zeros(n, dtype=bool)
        self._state = np.full(n, STARVED, dtype=np.int8)
        # wip[i] is the input buffer of station i; station 0 draws on cut panels
        # without limit and the last station feeds finishing without limit.
        self._wip = np.zeros(n + 1, dtype=np.int64)
        self._wip[0] = _HUGE
        # A running line holds its WIP in front of the bottleneck; stations after it
        # are faster and keep their buffers nearly empty. Starting with WIP after the
        # bottleneck would let the line end out-produce the bottleneck for an hour.
        neck = int(np.argmax(spec.cycle_s))
        self._wip[1 : neck + 1] = spec.initial_wip
        self._wip[neck + 1 : n] = min(1, spec.initial_wip)
        self._cap = np.full(n + 1, spec.buffer_capacity, dtype=np.int64)
        self._cap[n] = _HUGE
        self._total = np.zeros(n, dtype=np.int64)
        self._good = np.zeros(n, dtype=np.int64)
        self._to_thread = self._draw_gap(spec.thread_break_per_h, n)
        self._to_needle = self._draw_gap(spec.needle_break_per_h, n)
        self._alpha = motor.thermal_alpha(self._dt)
        self._refresh_speed()

    def _start_shift(self) -> None:
        """Operators pick up their first piece; every station reports its state and counters at start.

        The counter reading at start is what a real counter node sends when it
        boots: without it, output in the first window could not be measured.
        """
        self._take(np.ones(self.n, dtype=bool))
        self._running = self._busy.copy()
        self._state = np.where(self._busy, RUNNING, STARVED).astype(np.int8)
        for i in range(self.n):
            reason = "shift start" if self._busy[i] else starved_reason(i, self._names)
            self._states.append(StateChange(i, self._start_ns, STATES[self._state[i]], reason))
            self._counts.append(PieceCount(i, self._start_ns, 0, 0))

    def _draw_gap(self, rate_per_h: float, size: int) -> np.ndarray:
        """Running seconds until the next Poisson event, for `size` stations."""
        if rate_per_h <= 0:
            return np.full(size, np.inf)
        return self._rng.exponential(3600.0 / rate_per_h, size)

    def _refresh_speed(self) -> None:
        """Per-step constants that depend on the speed fraction."""
        self._progress_step = self._dt * self._sf
        self._wear_step = self._wear_per_h * self._sf**3 * (self._dt / 3600.0)
        self._speed_spm = self._nominal_spm * self._sf

    # ------------------------------------------------------------------ steps

    def _advance_one(self, t_ns: int) -> None:
        """One time step of every station, in the order a floor would see it."""
        self._run_down_faults()
        free = self._fault == 0
        self._deliver(self._held & free)
        working = self._busy & free
        self._progress += working * self._progress_step
        done = working & (self._progress >= self._target)
        if done.any():
            self._complete(done, t_ns)
        idle = free & ~self._busy & ~self._held
        if idle.any():
            self._take(idle)
        running = self._busy & free
        self._wear += running * self._wear_step
        self._to_thread -= running * self._dt
        self._to_needle -= running * self._dt
        hit = running & ((self._wear >= 1.0) | (self._to_thread <= 0) | (self._to_needle <= 0))
        if hit.any():
            self._break_down(np.flatnonzero(hit))
            running &= self._fault == 0
        self._running = running
        motor.heat(self._temp, running, self._sf, self._wear, self._alpha)
        self._record_states(running, t_ns)

    def _run_down_faults(self) -> None:
        """Count down timed faults; start commanded maintenance."""
        timed = (self._fault != 0) & (self._fault != BREAKDOWN)
        if timed.any():
            self._fault_left -= timed * self._dt
            ended = timed & (self._fault_left <= 0)
            if ended.any():
                self._end_faults(np.flatnonzero(ended))
        if self._pending_maint.any():
            for i in np.flatnonzero(self._pending_maint):
                seized = self._fault[i] == BREAKDOWN
                self._fault[i] = MAINT
                self._fault_left[i] = self.maintenance_s
                self._fault_reason[i] = (
                    "maintenance: replace seized bearing" if seized else "planned maintenance"
                )
            self._pending_maint[:] = False

    def _end_faults(self, idx: np.ndarray) -> None:
        maint = idx[self._fault[idx] == MAINT]
        if maint.size:
            self._wear[maint] = self._rng.uniform(*FRESH_WEAR, maint.size)
            self._sf[maint] = 1.0
            self._refresh_speed()
        self._fault[idx] = 0

    def _deliver(self, ready: np.ndarray) -> None:
        """Finished pieces go into the next buffer where it has room; the rest stay held."""
        space = self._wip[1:] < self._cap[1:]
        go = ready & space
        self._wip[1:] += go
        self._held |= ready & ~space
        self._held &= ~go

    def _complete(self, done: np.ndarray, t_ns: int) -> None:
        idx = np.flatnonzero(done)
        self._busy[idx] = False
        self._progress[idx] = 0.0
        good = self._rng.random(idx.size) >= self.spec.reject_rate
        self._total[idx] += 1
        self._good[idx] += good
        for i in idx:
            self._counts.append(PieceCount(int(i), t_ns, int(self._total[i]), int(self._good[i])))
        self._deliver(done)

    def _take(self, idle: np.ndarray) -> None:
        """Idle operators pick the next piece from their input buffer."""
        idx = np.flatnonzero(idle & (self._wip[:-1] > 0))
        if not idx.size:
            return
        self._wip[idx] -= 1
        self._busy[idx] = True
        scatter = self._rng.lognormal(-0.5 * CYCLE_SIGMA**2, CYCLE_SIGMA, idx.size)
        self._target[idx] = self._cycle[idx] * scatter

    def break_down(self, station: int, reason: str = "motor failure") -> None:
        """A breakdown that is not wear (a motor burns out, a belt snaps): down until maintained."""
        self._fault[station], self._fault_left[station] = BREAKDOWN, np.inf
        self._fault_reason[station] = reason

    def _break_down(self, idx: np.ndarray) -> None:
        """Start the faults due at these running stations: seizure beats needle beats thread."""
        for i in idx:
            if self._wear[i] >= 1.0:
                self._wear[i] = 1.0
                self._fault[i], self._fault_left[i] = BREAKDOWN, np.inf
                self._fault_reason[i] = "bearing seized"
            elif self._to_needle[i] <= 0:
                self._fault[i] = NEEDLE
                self._fault_left[i] = self._rng.uniform(*NEEDLE_BREAK_S)
                self._to_needle[i] = self._draw_gap(self.spec.needle_break_per_h, 1)[0]
                self._fault_reason[i] = "needle break"
            else:
                self._fault[i] = THREAD
                self._fault_left[i] = self._rng.uniform(*THREAD_BREAK_S)
                self._to_thread[i] = self._draw_gap(self.spec.thread_break_per_h, 1)[0]
                self._fault_reason[i] = "thread break"

    def _record_states(self, running: np.ndarray, t_ns: int) -> None:
        new = np.where(
            self._fault != 0,
            self._fault,
            np.where(running, RUNNING, np.where(self._held, BLOCKED, STARVED)),
        )
        changed = np.flatnonzero(new != self._state)
        for i in changed:
            code = int(new[i])
            reason = change_reason(
                int(i),
                code,
                int(self._state[i]),
                self._names,
                self.spec.buffer_capacity,
                self._fault_reason[i],
            )
            self._states.append(StateChange(int(i), t_ns, STATES[code], reason))
        self._state[changed] = new[changed]
