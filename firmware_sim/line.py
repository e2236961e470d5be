"""A seeded, time-stepped model of a serial garment sewing line.

Each station is an operator at a machine. A piece takes a cycle of
SAM × 60 / efficiency / speed seconds (lognormal scatter, sigma 0.08);
stations pass pieces through bounded WIP buffers, so a slow station starves
the ones after it and blocks the ones before it, and the line runs at the pace
of its bottleneck. Thread and needle breaks are Poisson events in running
time; a bearing wears while its machine runs and seizes at wear 1.

Bearing wear per running hour is `wear_per_h × speed_fraction³`. Why cubic:
the L10 life of a ball bearing is (C/P)³ million revolutions, so life falls
with the cube of the dynamic load P, and the load on an arm-shaft bearing grows
with speed (imbalance and reciprocating forces ∝ speed²) on top of a steady
part (belt tension, shaft weight). The true exponent per running hour lies
between 1 (steady load only: just more revolutions per hour) and 7 (imbalance
load only); speed³ is a stated middle simplification, chosen so that derating
buys a predictable amount of time: at 60 % speed a bearing wears 0.6³ ≈ 0.22
times as fast.

"Running" means the operator is sewing a piece and the motor turns at
`nominal_spm × speed_fraction` for the whole cycle (a real operator also
handles the fabric with the motor stopped; the model folds that into SAM).

Everything is vectorised over stations; the only Python loops are over time
steps and over the rare events (a piece finished, a state changed).
"""

from __future__ import annotations

import math

import numpy as np

from firmware_sim import motor
from firmware_sim.output import (
    Burst,
    LineOutput,
    PieceCount,
    StateChange,
    TelemetryBuffer,
    TelemetryFrame,
)
from firmware_sim.spec import LineSpec, StationSpec, default_line
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
from firmware_sim.vibration import VibrationModel

__all__ = [
    "ACTIONS",
    "SPEED_LIMITS",
    "STATES",
    "Burst",
    "LineOutput",
    "LineSpec",
    "PieceCount",
    "SewingLine",
    "SimCommandError",
    "StateChange",
    "StationSpec",
    "TelemetryFrame",
    "default_line",
]

ACTIONS = ("set_speed", "maintenance", "andon", "clear_andon")
SPEED_LIMITS = (0.3, 1.0)

CYCLE_SIGMA = 0.08
THREAD_BREAK_S = (30.0, 90.0)
NEEDLE_BREAK_S = (120.0, 300.0)
FRESH_WEAR = (0.01, 0.03)
_NS = 1_000_000_000
_HUGE = np.iinfo(np.int64).max // 4


class SimCommandError(ValueError):
    """The simulated machine refuses a command; the message says what is allowed."""


class SewingLine:
    """The line itself: `advance_to(t_ns)` runs it, `apply()` commands one station."""

    def __init__(
        self,
        spec: LineSpec,
        seed: int,
        start_ns: int,
        wear_acceleration: float = 1.0,
        dt_s: float = 0.25,
        maintenance_s: float = 600.0,
        vibration: bool = True,
    ) -> None:
        self.spec = spec
        self._dt_ns = spec.step_ns(dt_s)
        self._dt = self._dt_ns / _NS
        self._steps_per_s = _NS // self._dt_ns
        self._steps_per_burst = round(spec.burst_interval_s * _NS) // self._dt_ns
        _require(
            math.isfinite(wear_acceleration) and wear_acceleration > 0,
            f"wear_acceleration={wear_acceleration} must be > 0",
        )
        _require(maintenance_s > 0, f"maintenance_s={maintenance_s} must be > 0")
        self.maintenance_s = float(maintenance_s)
        self.wear_acceleration = float(wear_acceleration)
        self._start_ns = int(start_ns)
        self._step = 0
        proc, sensor, vib = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
        self._rng, self._sensor_rng = proc, sensor
        self._vib = VibrationModel(spec.stations, spec.burst_fs_hz, spec.burst_n, vib) if vibration else None
        self._burst_ns = round(spec.burst_n / spec.burst_fs_hz * _NS)
        self._init_arrays(spec)
        self._states: list[StateChange] = []
        self._counts: list[PieceCount] = []
        self._bursts: list[Burst] = []
        self._start_shift()

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

    # ------------------------------------------------------------- public API

    @property
    def now_ns(self) -> int:
        return self._start_ns + self._step * self._dt_ns

    @property
    def wear(self) -> np.ndarray:
        return self._wear.copy()

    @property
    def speed_fraction(self) -> np.ndarray:
        return self._sf.copy()

    @property
    def totals(self) -> np.ndarray:
        return self._total.copy()

    @property
    def goods(self) -> np.ndarray:
        return self._good.copy()

    @property
    def wip(self) -> np.ndarray:
        """Pieces waiting in each of the n-1 buffers between stations."""
        return self._wip[1 : self.n].copy()

    def wear_rate_per_h(self, station: int) -> float:
        """Wear per running hour at the station's current speed."""
        self._check_station(station)
        return float(self._wear_per_h[station] * self._sf[station] ** 3)

    def set_wear_acceleration(self, factor: float) -> None:
        """Change how fast bearings wear from now on (the demo speeds wear up after its warm-up)."""
        _require(math.isfinite(factor) and factor > 0, f"wear acceleration {factor} must be > 0")
        self._wear_per_h = self._wear_per_h / self.wear_acceleration * factor
        self.wear_acceleration = float(factor)
        self._refresh_speed()

    def state_of(self, station: int) -> str:
        self._check_station(station)
        return STATES[self._state[station]]

    def bpfo_hz(self, station: int) -> float:
        """Outer-race defect frequency of the station's bearing at its current speed."""
        self._check_station(station)
        return VibrationModel.bpfo_of(self.spec.stations[station], float(self._sf[station]))

    def advance_to(self, t_ns: int) -> LineOutput:
        """Run whole steps up to `t_ns` and hand over everything produced since the last call.

        A burst is 32 KiB of float64 (4096 samples) per running station every
        10 s, about 140 MB per line-hour: with vibration on, advance in short
        steps (the edge agent polls every second) and let the bursts go.
        """
        t_ns = int(t_ns)
        if t_ns < self.now_ns:
            raise ValueError(f"cannot advance to {t_ns}: the line is already at {self.now_ns}")
        steps = (t_ns - self.now_ns) // self._dt_ns
        first = self._step + 1
        samples = (self._step + steps) // self._steps_per_s - self._step // self._steps_per_s
        tel = TelemetryBuffer(samples, self.n)
        for k in range(first, first + steps):
            self._step = k
            self._advance_one(self._start_ns + k * self._dt_ns)
            if k % self._steps_per_s == 0:
                self._sample(tel)
            if k % self._steps_per_burst == 0 and self._vib is not None:
                self._burst()
        out = LineOutput(tel.frame(), self._bursts, self._states, self._counts)
        self._bursts, self._states, self._counts = [], [], []
        return out

    def apply(self, station: int, action: str, value: float | None) -> str:
        """Carry out a command on one station; raise SimCommandError if it is refused."""
        if not isinstance(station, int | np.integer) or not 0 <= station < self.n:
            raise SimCommandError(f"station {station!r} does not exist; use 0..{self.n - 1}")
        name = self._names[station]
        if action == "set_speed":
            return self._set_speed(station, value)
        if action == "maintenance":
            return self._schedule_maintenance(station)
        if action in ("andon", "clear_andon"):
            return self._set_andon(station, 0.0 if action == "clear_andon" else value)
        raise SimCommandError(f"{name}: unknown action {action!r}; allowed actions are {', '.join(ACTIONS)}")

    # --------------------------------------------------------------- commands

    def _set_speed(self, station: int, value: float | None) -> str:
        lo, hi = SPEED_LIMITS
        if value is None or not math.isfinite(value) or not lo <= value <= hi:
            raise SimCommandError(
                f"{self._names[station]}: set_speed value {value!r} is outside the allowed range "
                f"{lo}..{hi} (fraction of nominal speed)"
            )
        self._sf[station] = float(value)
        self._refresh_speed()
        return f"speed set to {value:.0%} of nominal"

    def _schedule_maintenance(self, station: int) -> str:
        if self._fault[station] == MAINT:
            left = self._fault_left[station]
            return f"already in maintenance, {left / 60:.0f} min left"
        self._pending_maint[station] = True
        m = self.maintenance_s
        return (
            f"maintenance started: machine stops for {m / 60:.0f} min"
            if m >= 120
            else (f"maintenance started: machine stops for {m:.0f} s")
        )

    def _set_andon(self, station: int, value: float | None) -> str:
        if value not in (0, 1):
            raise SimCommandError(
                f"{self._names[station]}: andon value {value!r} is outside the allowed values "
                "0..1 (1 lights the andon, 0 clears it)"
            )
        self._andon[station] = float(value)
        return "andon lit" if value == 1 else "andon cleared"

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

    # ---------------------------------------------------------------- outputs

    def _sample(self, tel: TelemetryBuffer) -> None:
        """One 1 Hz telemetry row per station, with sensor noise."""
        running = self._running
        noise = self._sensor_rng.standard_normal((2, self.n))
        powered = self._fault != MAINT  # locked out during maintenance
        tel.add(
            self.now_ns,
            self._speed_spm * running,
            motor.current_a(running, powered, self._sf, self._wear, noise[0]),
            self._temp + motor.TEMP_NOISE_C * noise[1],
            self._andon,
        )

    def _burst(self) -> None:
        """A burst from every station whose motor is turning now."""
        assert self._vib is not None
        idx = np.flatnonzero(self._running)
        if not idx.size:
            return
        waves = self._vib.bursts(idx, self._sf[idx], self._wear[idx])
        ts = self.now_ns - self._burst_ns
        fs = self.spec.burst_fs_hz
        self._bursts.extend(Burst(int(i), ts, fs, waves[j]) for j, i in enumerate(idx))

    def _check_station(self, station: int) -> None:
        if not 0 <= station < self.n:
            raise IndexError(f"station {station} does not exist; use 0..{self.n - 1}")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
