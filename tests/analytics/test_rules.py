"""The rule latches: hysteresis, the rate limit, maintenance over derate, and a restored latch."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.rules import BREAKDOWN, PdmView, RuleEngine
from tonle.config import RulesConfig
from tonle.contract import MACHINE_STATES

RUNNING = MACHINE_STATES.index("running")
MIN_INTERVAL_S = 600.0


def _engine() -> RuleEngine:
    # derate below 0.6, clear above 0.75; maintenance below 0.35, clear above 0.8
    return RuleEngine(RulesConfig(), rul_horizon_h=8.0, min_interval_s=MIN_INTERVAL_S)


def _run(engine: RuleEngine, health: float, t_s: float, state: int = RUNNING, view: PdmView | None = None):
    acts = engine.evaluate(["S01"], np.array([health]), np.array([state]), view, now_s=t_s)
    return [(a.condition, a.command) for a in acts]


def test_a_condition_fires_once_and_only_clears_past_its_clear_level() -> None:
    e = _engine()
    assert _run(e, 0.55, 0) == [("derate", "set_speed")]
    assert _run(e, 0.50, 30) == []  # still on: no second command
    assert _run(e, 0.70, 60) == []  # between the levels: still latched
    assert _run(e, 0.55, 90) == []
    assert ("S01", "derate") in e.active
    assert _run(e, 0.80, 120) == []  # past the clear level: the latch clears, nothing is sent
    assert ("S01", "derate") not in e.active


def test_a_cleared_condition_that_returns_waits_for_the_minimum_interval() -> None:
    e = _engine()
    assert _run(e, 0.55, 0) == [("derate", "set_speed")]
    assert _run(e, 0.80, 30) == []
    assert _run(e, 0.55, 60) == []  # back on within min_interval_s of the last firing: waits
    assert _run(e, 0.55, MIN_INTERVAL_S - 1) == []
    assert _run(e, 0.55, MIN_INTERVAL_S) == [("derate", "set_speed")]


def test_maintenance_supersedes_a_derate_and_ends_the_repair_when_health_is_back() -> None:
    e = _engine()
    assert _run(e, 0.30, 0) == [("maintenance", "maintenance")]  # not a derate as well
    assert e.in_repair() == {"S01"}
    assert _run(e, 0.50, 30) == []  # the derate was latched by the maintenance request
    assert _run(e, 0.90, 60) == []
    assert e.in_repair() == set() and not e.active


def test_unknown_health_changes_nothing() -> None:
    e = _engine()
    assert _run(e, 0.55, 0) == [("derate", "set_speed")]
    assert _run(e, float("nan"), 30) == []
    assert ("S01", "derate") in e.active


def test_only_a_closed_rul_band_inside_the_horizon_derates_a_healthy_looking_machine() -> None:
    def view(lower: float, upper: float) -> PdmView:
        return PdmView(np.array([lower + 1]), np.array([lower]), np.array([upper]), ["outer_race"])

    assert _run(_engine(), 0.9, 0, view=view(2.0, np.inf)) == []  # a noise wiggle: no late end
    assert _run(_engine(), 0.9, 0, view=view(9.0, 12.0)) == []  # beyond the 8 h horizon
    e = _engine()
    assert _run(e, 0.9, 0, view=view(2.0, 5.0)) == [("derate", "set_speed")]
    assert e.evaluate(["S01"], np.array([0.9]), np.array([RUNNING]), view(2.0, 5.0), 1.0) == []


def test_the_andon_is_lit_on_each_breakdown_once() -> None:
    e = _engine()
    assert _run(e, 0.9, 0, BREAKDOWN) == [("andon", "andon")]
    assert _run(e, 0.9, 30, BREAKDOWN) == []
    assert _run(e, 0.9, 60) == []
    assert _run(e, 0.9, 90, BREAKDOWN) == []  # a new breakdown, but within the interval
    assert _run(e, 0.9, MIN_INTERVAL_S, BREAKDOWN) == [("andon", "andon")]


@pytest.mark.parametrize(
    ("active", "health", "t_s", "expected"),
    [
        (True, 0.55, 1000.0, []),  # still on, as the previous run left it: nothing again
        (True, 0.80, 1000.0, []),  # cleared while the service was down: clears, sends nothing
        (False, 0.55, 400.0, []),  # cleared earlier and back: the interval counts from the command
        (False, 0.55, 1000.0, [("derate", "set_speed")]),  # and a new condition is acted on
    ],
)
def test_a_restored_latch_goes_on_as_the_previous_run_left_it(active, health, t_s, expected) -> None:
    e = _engine()
    e.restore("S01", "derate", fired_s=100.0, active=active)
    assert _run(e, health, t_s) == expected
