"""Seeded physics of the two Modbus devices: a garment fusing press and a three-phase energy meter.

The models know nothing about registers; `modbus_devices` maps them onto a PLC
and a meter register map. Both are advanced to a time (`advance_to(now_ns)`) in
steps of at most `STEP_S`, so a test that jumps a VirtualClock an hour ahead gets
the same pieces, faults and kWh as one that polls every second, and the same
seed always gives the same plant.

The press is a flat-bed fusing press as found in the fusing room of a garment
factory: heated platens (about 160 °C) bond interlining to collars, cuffs and
plackets; each press cycle is one bundle position, counted as one piece. The PLC
reports its own state codes (`PRESS_IDLE` ...), not Tonle's: the gateway's
config maps them, as it would for a real PLC.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

__all__ = [
    "PRESS_FAULT",
    "PRESS_IDLE",
    "PRESS_MAINTENANCE",
    "PRESS_RUNNING",
    "PRESS_STATE_NAMES",
    "PRESS_WARMUP",
    "EnergyMeterModel",
    "PressModel",
    "press_load",
]

STEP_S = 1.0  # integration step: events, temperature and kWh are resolved to this
AMBIENT_C = 32.0  # a Phnom Penh fusing room
PLATEN_TARGET_C = 160.0
PLATEN_TAU_S = 180.0
HEATER_KW = 4.0
KW_PER_CPM = 0.05  # hydraulics and conveyor, per press cycle per minute
SPEED_MAX_CPM = 60.0  # the PLC refuses setpoints above this (exception ILLEGAL_VALUE)

# The PLC's own state codes (its manual's table), mapped to Tonle states in the gateway config.
PRESS_IDLE, PRESS_RUNNING, PRESS_FAULT, PRESS_MAINTENANCE, PRESS_WARMUP = range(5)
PRESS_STATE_NAMES = {
    PRESS_IDLE: "idle",
    PRESS_RUNNING: "running",
    PRESS_FAULT: "breakdown",
    PRESS_MAINTENANCE: "maintenance",
    PRESS_WARMUP: "setup",
}
# Fault codes the model trips, with the text a technician would find in the PLC manual.
FAULTS = {17: "platen over-temperature", 23: "hydraulic pressure low", 31: "light curtain interrupted"}


class PressModel:
    """State, counters, speed and platen temperature of one press; deterministic for a seed.

    With `events=True` the press alternates running spells (mean 10 min) with
    idle spells (waiting for cut parts, mean 2 min) and occasional faults
    (mean 90 s to clear); with `events=False` it only changes state when told.
    """

    def __init__(
        self,
        start_ns: int,
        *,
        seed: int = 7,
        setpoint_cpm: float = 12.0,
        reject_rate: float = 0.02,
        events: bool = True,
    ) -> None:
        if not 0 <= reject_rate < 1:
            raise ValueError(f"reject_rate={reject_rate} must be in [0, 1)")
        self._rng = random.Random(seed)
        self.now_ns = start_ns
        self.events = events
        self.reject_rate = reject_rate
        self.setpoint_cpm = 0.0
        self.set_speed(setpoint_cpm)
        self.state = PRESS_RUNNING
        self.fault_code = 0
        self.run_enable = True
        self.temperature_c = PLATEN_TARGET_C - 2.0
        self.total = 0
        self.good = 0
        self._cycles = 0.0  # fraction of the current press cycle done
        self._next_event_s = self._draw_spell()

    # -- commands from the PLC's HMI or the gateway ------------------------------------------
    def set_speed(self, cpm: float) -> None:
        if not 0 <= cpm <= SPEED_MAX_CPM:
            raise ValueError(f"speed setpoint {cpm} cycles/min is outside 0..{SPEED_MAX_CPM:g}")
        self.setpoint_cpm = float(cpm)

    def trip(self, fault_code: int) -> None:
        """Stop on a fault, as the PLC does when an interlock opens."""
        self.state, self.fault_code = PRESS_FAULT, fault_code
        self._next_event_s = self._rng.expovariate(1 / 90.0)

    def set_state(self, code: int) -> None:
        """Force a state (an operator at the HMI); clears any fault."""
        if code not in PRESS_STATE_NAMES:
            raise ValueError(f"unknown press state code {code}; known: {sorted(PRESS_STATE_NAMES)}")
        self.state, self.fault_code = code, 0
        self._next_event_s = self._draw_spell()

    # -- readings ------------------------------------------------------------------------------
    @property
    def speed_cpm(self) -> float:
        """Actual speed: the setpoint while running, else 0 (the press ramps within a cycle)."""
        return self.setpoint_cpm if self.state == PRESS_RUNNING and self.run_enable else 0.0

    @property
    def power_kw(self) -> float:
        heaters = self.state in (PRESS_IDLE, PRESS_RUNNING, PRESS_WARMUP)
        return (HEATER_KW if heaters else 0.0) + KW_PER_CPM * self.speed_cpm + 0.15

    # -- time ------------------------------------------------------------------------------------
    def advance_to(self, now_ns: int) -> None:
        while self.now_ns < now_ns:
            dt = min(STEP_S, (now_ns - self.now_ns) / 1e9)
            self._step(dt)
            self.now_ns = min(now_ns, self.now_ns + round(dt * 1e9))

    def _step(self, dt: float) -> None:
        heaters = self.state in (PRESS_IDLE, PRESS_RUNNING, PRESS_WARMUP)
        target = PLATEN_TARGET_C if heaters else AMBIENT_C
        self.temperature_c += (target - self.temperature_c) * (1 - math.exp(-dt / PLATEN_TAU_S))
        self._cycles += self.speed_cpm / 60.0 * dt
        while self._cycles >= 1.0:
            self._cycles -= 1.0
            self.total = (self.total + 1) % 2**32
            if self._rng.random() >= self.reject_rate:
                self.good = (self.good + 1) % 2**32
        if self.events:
            self._next_event_s -= dt
            if self._next_event_s <= 0:
                self._event()

    def _event(self) -> None:
        if self.state == PRESS_RUNNING:
            if self._rng.random() < 0.3:
                self.trip(self._rng.choice(sorted(FAULTS)))
                return
            self.state = PRESS_IDLE
            self._next_event_s = self._rng.expovariate(1 / 120.0)
        elif self.state in (PRESS_IDLE, PRESS_FAULT, PRESS_WARMUP):
            self.state, self.fault_code = PRESS_RUNNING, 0
            self._next_event_s = self._draw_spell()
        else:  # maintenance ends only when someone says so
            self._next_event_s = self._draw_spell()

    def _draw_spell(self) -> float:
        return self._rng.expovariate(1 / 600.0)


def press_load(*presses: PressModel, base_kw: float = 1.5) -> Callable[[int], float]:
    """The load an energy meter sees: the presses on its feeder plus lights and fans."""

    def load(now_ns: int) -> float:
        for press in presses:
            press.advance_to(now_ns)
        return base_kw + sum(p.power_kw for p in presses)

    return load


class EnergyMeterModel:
    """A three-phase 400/230 V, 50 Hz feeder meter integrating the load it is given.

    Phases share the load equally; power factor rises with load (induction motors
    and heater contactors: about 0.80 at light load, 0.97 at full load).
    """

    def __init__(
        self, start_ns: int, load_kw: Callable[[int], float], *, seed: int = 11, rated_kw: float = 15.0
    ) -> None:
        self._rng = random.Random(seed)
        self._load = load_kw
        self.now_ns = start_ns
        self.rated_kw = rated_kw
        self.kwh = 0.0
        self.kw = max(0.0, load_kw(start_ns))
        self.voltages = [230.0, 230.0, 230.0]
        self.frequency_hz = 50.0

    def advance_to(self, now_ns: int) -> None:
        if now_ns <= self.now_ns:
            return
        while self.now_ns < now_ns:
            dt = min(STEP_S, (now_ns - self.now_ns) / 1e9)
            self.kw = max(0.0, self._load(self.now_ns))
            self.kwh += self.kw * dt / 3600.0
            self.now_ns = min(now_ns, self.now_ns + round(dt * 1e9))
        self.voltages = [230.0 + self._rng.gauss(0.0, 1.5) for _ in range(3)]
        self.frequency_hz = 50.0 + self._rng.gauss(0.0, 0.02)

    @property
    def power_factor(self) -> float:
        return 0.80 + 0.17 * min(1.0, self.kw / self.rated_kw)

    @property
    def currents(self) -> list[float]:
        """Phase currents in A: P = 3 × V × I × PF, shared equally."""
        return [self.kw * 1000.0 / (3.0 * v * self.power_factor) for v in self.voltages]
