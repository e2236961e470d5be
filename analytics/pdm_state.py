"""What the service remembers about each machine between rounds, for predictive maintenance.

Three pieces per machine, each its own type, kept in `PdmState` under a `MachineKey`:

- `HealthyBaseline`: RMS and kurtosis of the machine's first bursts (median and spread),
  which health and the drift charts compare with; possibly replaced by its peers' when
  the machine was already worn when first seen.
- `DriftChart`: the CUSUM/EWMA values of the robust z-scores of `DRIFT_FEATURES` after the
  newest burst charted, so each burst is charted once, across rounds.
- `HealthHistory`: health per round over `analytics.pdm.history_s`, for the RUL trend.

- `Restart`: running/stopped bookkeeping (`analytics.pdm.stops.RunGate`, the logic the public
  `HealthMonitor` runs) and the baseline sample being relearnt after a long stop or a
  maintenance.

After maintenance (the maintenance request clears, or the machine reports the `maintenance`
state) the machine has a new bearing: its history and its charts start afresh and its
baseline is learnt again from its next bursts (`MachinePdm.after_repair`).
How each piece is rebuilt when the service restarts is written in `analytics.recovery`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from analytics.drift import DriftState
from analytics.inputs import LineKey
from analytics.pdm.stops import RunGate
from tonle.io.influxql import quote_str

__all__ = [
    "BASELINE_FIELDS",
    "DRIFT_FEATURES",
    "DriftChart",
    "HealthHistory",
    "HealthyBaseline",
    "MachineKey",
    "MachinePdm",
    "PdmState",
    "Restart",
]

DRIFT_FEATURES = ("rms", "kurtosis")
"""Charted by CUSUM on robust z-scores (`cusum_<feature>` in `pdm`)."""
BASELINE_FIELDS = ("base_rms", "base_kurtosis", "base_rms_scale", "base_kurtosis_scale")
"""The baseline in force, in `pdm` (`HealthyBaseline` rms, kurt, scale, kscale)."""


class MachineKey(NamedTuple):
    """One machine of one line: machine names repeat from line to line (S01, S02, ...)."""

    site: str
    area: str
    line: str
    machine: str

    @classmethod
    def on(cls, line: LineKey, machine: str) -> MachineKey:
        return cls(line.site, line.area, line.line, machine)

    @property
    def line_key(self) -> LineKey:
        return LineKey(self.site, self.area, self.line)

    def where(self) -> str:
        """InfluxQL condition selecting this machine's series."""
        return f"{self.line_key.where()} AND machine = {quote_str(self.machine)}"


@dataclass
class HealthyBaseline:
    """RMS and kurtosis of the healthy machine; NaN until learnt."""

    rms: float = float("nan")
    kurt: float = float("nan")
    scale: float = float("nan")
    kscale: float = float("nan")
    machine_type: str = ""
    peer_adjusted: bool = False
    typed: bool = False  # machine_type was read (a baseline restored from `pdm` has none yet)

    @property
    def learned(self) -> bool:
        return self.rms == self.rms

    def set(self, values: Sequence[float]) -> None:
        """rms, kurt, scale, kscale (the order of `BASELINE_FIELDS`)."""
        self.rms, self.kurt, self.scale, self.kscale = (float(v) for v in values)


def _zero_state() -> DriftState:
    return DriftState.zeros(1, len(DRIFT_FEATURES))


@dataclass
class DriftChart:
    """CUSUM/EWMA of the machine's `DRIFT_FEATURES`, continued burst by burst across rounds.

    charted_ns: time of the newest burst charted; only later bursts are charted next.
    """

    state: DriftState = field(default_factory=_zero_state)
    charted_ns: int = 0

    def restart(self) -> None:
        """Start the charts from zero (a new bearing): older bursts stay charted."""
        self.state = _zero_state()


@dataclass
class HealthHistory:
    """A machine's health per round, for the RUL trend; only the last `keep_s` seconds."""

    t: list[float] = field(default_factory=list)
    h: list[float] = field(default_factory=list)

    def add(self, t_s: float, health: float, keep_s: float) -> None:
        self.t.append(t_s)
        self.h.append(health)
        cut = next((i for i, t in enumerate(self.t) if t >= t_s - keep_s), len(self.t))
        del self.t[:cut], self.h[:cut]


@dataclass
class Restart:
    """Stops and relearning of one machine (`analytics.prognostics` walks its bursts through it).

    learning: the baseline is being relearnt from `sample` (RMS, kurtosis per burst); the
              machine is not judged meanwhile. After a long stop the old baseline stays in
              force for the hold-or-move rule; after maintenance there is none.
    gated_ns: the newest burst walked through the gate (each burst is walked once).
    quiet_ns: the newest burst not judged (settling or learning): it and older bursts in the
              recent window are left out of health and the charts.
    """

    gate: RunGate = field(default_factory=RunGate)
    learning: bool = False
    sample: list[tuple[float, float]] = field(default_factory=list)
    gated_ns: int = 0
    quiet_ns: int = 0

    def relearn(self) -> None:
        self.learning, self.sample = True, []


@dataclass
class MachinePdm:
    """Everything the service keeps about one machine's health."""

    baseline: HealthyBaseline = field(default_factory=HealthyBaseline)
    chart: DriftChart = field(default_factory=DriftChart)
    history: HealthHistory = field(default_factory=HealthHistory)
    restart: Restart = field(default_factory=Restart)

    def after_repair(self) -> None:
        """A new bearing: its trend and charts start afresh and its baseline is learnt again."""
        self.history = HealthHistory()
        self.chart.restart()
        self.baseline = HealthyBaseline(machine_type=self.baseline.machine_type, typed=self.baseline.typed)
        self.restart.relearn()


@dataclass
class PdmState:
    """`MachinePdm` of every machine the service has seen, by `MachineKey`."""

    machines: dict[MachineKey, MachinePdm] = field(default_factory=dict)

    def get(self, key: MachineKey) -> MachinePdm:
        """The machine's state, created empty the first time it is asked for."""
        return self.machines.setdefault(key, MachinePdm())

    def line(self, line: LineKey, machines: Sequence[str]) -> list[MachinePdm]:
        """The states of `machines` of `line`, in that order."""
        return [self.get(MachineKey.on(line, m)) for m in machines]
