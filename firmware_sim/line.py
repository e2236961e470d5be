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
from firmware_sim.floor import LineFloor
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
    MAINT,
    STATES,
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

_NS = 1_000_000_000


class SimCommandError(ValueError):
    """The simulated machine refuses a command; the message says what is allowed."""


class SewingLine(LineFloor):
    """The line itself: `advance_to(t_ns)` runs it, `apply()` commands one station.

    The per-station state and what one time step does to it are `LineFloor`'s; this
    class adds the clock, the commands and what the sensors report.
    """

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
