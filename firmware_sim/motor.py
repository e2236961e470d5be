"""The electrical and thermal side of a sewing-machine head: motor current and temperature.

Small pure functions over station arrays, so the line can call them once per
step for every station at once.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["AMBIENT_C", "current_a", "heat", "thermal_alpha"]

AMBIENT_C = 30.0  # a Phnom Penh factory floor
THERMAL_TAU_S = 1200.0  # head and motor warm up over ~20 min
HEAT_SPEED_C = 15.0  # steady rise above ambient at full speed, healthy bearing
HEAT_WEAR_C = 30.0  # extra rise at full speed and wear 1 (× wear²): bearing friction
IDLE_CURRENT_A = 0.3  # servo motor controller powered, motor still
LOAD_CURRENT_A = 1.6  # extra at full speed, healthy (a ~550 W servo on 220 V)
FRICTION_LOAD = 0.8  # relative extra load at wear 1 (× wear²)
CURRENT_NOISE_A = 0.02
TEMP_NOISE_C = 0.1


def thermal_alpha(dt_s: float) -> float:
    """Fraction of the gap to steady state closed in one step of a first-order system."""
    return 1.0 - math.exp(-dt_s / THERMAL_TAU_S)


def heat(temp: np.ndarray, running: np.ndarray, sf: np.ndarray, wear: np.ndarray, alpha: float) -> None:
    """Move `temp` (in place) one step towards ambient plus a speed- and friction-set rise.

    Friction heat of a damaged bearing grows faster than linearly with the damage,
    hence wear²; a stopped head cools back to ambient with the same time constant.
    """
    rise = running * sf * (HEAT_SPEED_C + HEAT_WEAR_C * wear**2)
    temp += alpha * (AMBIENT_C + rise - temp)


def current_a(
    running: np.ndarray,
    powered: np.ndarray,
    sf: np.ndarray,
    wear: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """Motor current: idle draw, plus load ∝ speed raised by bearing friction, plus sensor noise."""
    load = LOAD_CURRENT_A * sf * (1.0 + FRICTION_LOAD * wear**2)
    amps = (IDLE_CURRENT_A + running * load + CURRENT_NOISE_A * noise) * powered
    return np.maximum(amps, 0.0)
