"""Running and stopped: the stop logic `HealthMonitor` and the service share (one implementation).

A machine judged against a baseline must not be judged while it is stopped, nor right after
it restarts (a cold machine, a spindle run-up, grease redistributing), and after a long stop
its levels may have moved for good (re-seated parts, fresh grease, another job). `RunGate`
keeps the bookkeeping of one machine: call `stopped()` when it is known not to run and
`running(t_s)` for each running snapshot, which says whether the stop before it was long
(relearn the baseline) and whether the snapshot is still settling (not judged). A gap longer
than `long_stop_s` between two running snapshots is a stop too: a service that reads bursts
sees a stopped machine as one that sends none.

`hold_or_move` is the rule applied once the relearnt sample is complete: per feature, the old
baseline is held if the new median is no higher and at most `hold_z` old sigmas lower;
otherwise the feature is re-baselined at its new median with a scale no narrower than the old
(the module docstring of `analytics.pdm.health_monitor` says why).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RunGate", "RunStep", "hold_or_move"]


@dataclass(frozen=True, slots=True)
class RunStep:
    """What a running snapshot is: after a long stop (relearn), and/or settling (not judged)."""

    long_stop: bool
    settling: bool


@dataclass
class RunGate:
    """Stop bookkeeping of one machine; `long_stop_s` and `settle` as in `HealthMonitor`."""

    long_stop_s: float = 4 * 3600.0
    settle: int = 3
    last_run_s: float = float("nan")
    to_settle: int = 0
    was_stopped: bool = False

    def stopped(self) -> None:
        """The machine is known not to run (a stopped snapshot, a stopped state)."""
        self.was_stopped = True

    def running(self, t_s: float) -> RunStep:
        """One running snapshot at `t_s` seconds, in time order."""
        long_stop = self.last_run_s == self.last_run_s and t_s - self.last_run_s > self.long_stop_s
        self.last_run_s = float(t_s)
        if self.was_stopped or long_stop:
            self.was_stopped, self.to_settle = False, self.settle
        if self.to_settle > 0:
            self.to_settle -= 1
            return RunStep(long_stop, True)
        return RunStep(long_stop, False)


def hold_or_move(
    old_loc: np.ndarray, old_scale: np.ndarray, loc: np.ndarray, scale: np.ndarray, hold_z: float
) -> tuple[np.ndarray, np.ndarray]:
    """The baseline after a relearn: each feature's old one held, or moved to the new median."""
    drop = old_loc - loc
    hold = (drop >= 0) & (drop <= hold_z * old_scale)
    return np.where(hold, old_loc, loc), np.where(hold, old_scale, np.maximum(scale, old_scale))
