"""Alert texts for every RUL band, horizon and health: ranges a person reads, and never a contradiction.

The rules engine words each alert once (`analytics.alert_words`) and the live view, the
shift report and the dashboards show it as stored, so these properties hold everywhere:
no "0.0" and no "0 min", a band with equal ends said once, placeholders filled, and the
headline's "may fail within X" is the band's early end, inside the planning horizon it
names, with the advice naming the same time. Checked in English by reading the numbers
back out of the sentence, and in Khmer by the same pieces in the Khmer catalogue's words.
"""

from __future__ import annotations

import math
import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import alert_words as words
from analytics.rules import PdmView, RuleEngine
from tonle.config import RulesConfig
from tonle.contract import MACHINE_STATES
from tonle.messages import using_language

RUNNING = MACHINE_STATES.index("running")
UNIT_H = {"min": 1 / 60, "h": 1.0, "days": 24.0}
TIME = r"(?:less than a minute|[\d.]+ (?:min|h|days))"
BAND = re.compile(
    rf"(?P<band>about (?P<about>{TIME})|up to (?P<upto>{TIME})|(?P<lo>[\d.]+)(?: (?P<lou>min|h|days))? to "
    rf"(?P<hi>[\d.]+) (?P<hiu>min|h|days)|(?P<single>{TIME})|(?P<more>{TIME}) or more) of running left"
)
HINTS = ["none", "outer_race", "inner_race", "ball", "imbalance", "looseness"]


def hours(text: str) -> float:
    """A time as the alert says it, back in hours ('less than a minute' is 0)."""
    if text == "less than a minute":
        return 0.0
    n, unit = text.split(" ")
    return float(n) * UNIT_H[unit]


def tolerance(h: float) -> float:
    """How far the rounding of `words.duration` may move a time: half a minute, or 5 %."""
    return 0.5 / 60 + 0.05 * h


hours_left = st.one_of(
    st.floats(0, 1e5, allow_nan=False),
    st.sampled_from([0.0, 1e-4, 0.01, 1 / 60, 0.1, 1.999, 2.0, 9.96, 47.6, 48.0, 1e4]),
)


@st.composite
def bands(draw: st.DrawFn) -> tuple[float, float, float]:
    lower = draw(hours_left)
    rul = lower + draw(hours_left)
    upper = draw(st.one_of(st.just(math.inf), st.just(rul), hours_left.map(lambda x: rul + x)))
    if draw(st.booleans()) and draw(st.booleans()):
        return math.inf, math.inf, math.inf  # no degrading trend yet
    return rul, lower, upper


def _alerts(band: tuple[float, float, float], health: float, horizon: float, hint: str, language: str):
    engine = RuleEngine(RulesConfig(), rul_horizon_h=horizon)
    view = PdmView(*(np.array([x]) for x in band), [hint])
    with using_language(language):
        return engine.evaluate(["S07"], np.array([health]), np.array([RUNNING]), view)


def _common(text: str) -> None:
    assert re.search(r"(?<![\d.])0\.0(?!\d)", text) is None, text  # health is 0.000, never a time of 0.0
    assert re.search(r"(?<![\d.])0 (min|h|days|នាទី|ម៉ោង|ថ្ងៃ)", text) is None, text
    assert "{" not in text and "}" not in text, text
    assert re.search(r"\b(nan|inf)\b", text) is None, text


@settings(max_examples=400, deadline=None)
@given(bands(), st.floats(0, 1), st.floats(0.05, 500), st.sampled_from(HINTS))
def test_every_english_alert_says_a_readable_range_that_agrees_with_its_headline(band, health, horizon, hint):
    rul, lower, upper = band
    for act in _alerts(band, health, horizon, hint, "en"):
        text = act.message
        _common(text)
        assert "early end" not in text and "in sight" not in text, text
        m = BAND.search(text)
        if not math.isfinite(rul):
            assert m is None and "no estimate yet" in text, text
            assert "may fail" not in text, text
            continue
        if m is None:  # a trend too weak for a late end, and an early end under a minute
            assert "no sure estimate yet" in text and not math.isfinite(upper) and lower < 1 / 60 + 1e-9, text
            continue
        early_text = (
            m["about"]
            or m["single"]
            or m["more"]
            or (f"{m['lo']} {m['lou'] or m['hiu']}" if m["lo"] else None)
        )
        early = 0.0 if m["upto"] else hours(early_text)
        assert abs(early - max(lower, 0)) <= tolerance(lower), (early, lower, text)
        if m["lo"]:
            assert hours(f"{m['lo']} {m['lou'] or m['hiu']}") < hours(f"{m['hi']} {m['hiu']}"), text
        if act.code.startswith("rul_short"):
            head = re.search(
                rf"may fail (?:within (?P<t>{TIME})|at any moment) \(planning horizon (?P<h>{TIME})\)", text
            )
            assert head is not None, text
            said = 0.0 if head["t"] is None else hours(head["t"])
            assert said == early or (head["t"] is None and early < 1 / 60 + 1e-9), (
                text
            )  # the band's early end
            assert hours(head["h"]) + tolerance(horizon) >= said, text  # the horizon never shorter
            advice = "replace the bearing now" if head["t"] is None else f"replace it within {head['t']}"
            assert text.endswith(advice), text
        if act.condition == "derate" and not math.isfinite(upper):
            assert "plan the repair; the trend will tell" in text, text


@settings(max_examples=150, deadline=None)
@given(bands(), st.floats(0, 1), st.floats(0.05, 500), st.sampled_from(HINTS))
def test_every_khmer_alert_is_filled_and_names_the_same_early_end(band, health, horizon, hint):
    rul, lower, upper = band
    for act in _alerts(band, health, horizon, hint, "km"):
        text = act.message
        _common(text)
        assert not re.search("[a-z]{3}", text), text  # no English left (S07, digits and % only)
        if act.code.startswith("rul_short"):
            with using_language("km"):
                early = words.duration(lower)
                life = words.life(rul, lower, upper, 0.8)
            assert life in text, text
            if "តិចជាងមួយនាទី" not in early:
                assert text.count(early) >= 2, (early, text)  # the headline and the advice


@given(hours_left, hours_left)
def test_a_band_whose_ends_read_the_same_is_said_once(lower, extra):
    text = words.band(lower, lower + extra)
    lo, hi = words.duration(lower), words.duration(lower + extra)
    if lo == hi:
        assert text in (f"about {lo}", lo), text
    else:
        assert text.count(" to ") == 1 or text.startswith("up to "), text
    _common(text)


def test_the_cases_the_floor_saw_read_as_a_person_would_say_them():
    assert words.band(0.1, 0.1) == "about 6 min"
    assert words.band(0.0, 0.0) == "less than a minute"
    assert words.band(0.5, 0.75) == "30 to 45 min"
    assert words.band(0.9, 3.0) == "54 min to 3 h"
    assert words.band(50, 200) == "2.1 to 8.3 days"
    assert words.duration(1.99) == "119 min" and words.duration(1.999) == "2 h"
    (act,) = _alerts((0.1, 0.1, 0.1), 0.9, 8.0, "none", "en")
    assert act.message == (
        "S07: the bearing may fail within 6 min (planning horizon 8 h); health 0.900, about 6 min of "
        "running left (80% sure); speed reduced to 70% to slow the wear: order the bearing and replace it "
        "within 6 min"
    )
