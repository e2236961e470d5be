"""DHU, the top defect types and the andon of each station: the pure rules behind the board."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from analytics.andon import OFF, ON_IT, WAITING, andon_lights
from analytics.dhu import dhu, period_quality, top_types


def test_dhu_is_defects_per_hundred_units_checked_and_may_pass_100() -> None:
    assert dhu(3, 60) == 5.0
    assert dhu(150, 100) == 150.0  # a piece can carry several defects
    assert math.isnan(dhu(2, 0)), "no piece checked is no DHU, never 0"


@given(st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 50)), st.integers(1, 6))
def test_top_types_are_the_most_frequent_most_first_and_leave_out_none_found(
    counts: dict[str, int], n: int
) -> None:
    top = top_types(counts, n)
    assert len(top) == min(n, sum(1 for c in counts.values() if c > 0))
    assert [c for _, c in top] == sorted((c for _, c in top), reverse=True)
    left_out = [c for t, c in counts.items() if t not in dict(top)]
    assert all(c <= top[-1][1] for c in left_out) if top else not any(counts.values())


def test_a_period_counts_every_defect_of_every_type() -> None:
    p = period_quality("A", "2026-05-29 A", 0, 10, 80, {"broken stitch": 3, "stain": 1.0})
    assert (p.defects, p.checked, p.dhu) == (4, 80, 5.0)


LIT = (100, "andon", "S05 has broken down; andon lit, call the mechanic")


def test_a_station_is_red_until_a_person_acknowledges_then_amber_then_green_when_cleared() -> None:
    machines = ["S04", "S05"]
    waiting = andon_lights(machines, {"S05": LIT}, {}, {})
    assert [a.state for a in waiting] == [OFF, WAITING]
    assert (waiting[1].since_ns, waiting[1].reason) == (100, LIT[2])
    on_it = andon_lights(machines, {"S05": LIT}, {}, {"S05": (130, "Dara", "belt")})[1]
    assert (on_it.state, on_it.ack_by, on_it.ack_note, on_it.ack_ns) == (ON_IT, "Dara", "belt", 130)
    cleared = andon_lights(machines, {"S05": (200, "clear_andon", "")}, {}, {"S05": (130, "Dara", "")})
    assert [a.state for a in cleared] == [OFF, OFF]


def test_an_acknowledgement_older_than_the_light_does_not_count() -> None:
    light = andon_lights(["S05"], {"S05": LIT}, {}, {"S05": (90, "Dara", "last week's")})[0]
    assert (light.state, light.ack_by) == (WAITING, "")


def test_what_the_station_reports_of_its_light_wins_over_the_commands() -> None:
    off_on_floor = andon_lights(["S05"], {"S05": LIT}, {"S05": 0.0}, {})[0]
    assert off_on_floor.state == OFF
    lit_by_hand = andon_lights(["S05"], {}, {"S05": 1.0}, {})[0]
    assert (lit_by_hand.state, lit_by_hand.since_ns) == (WAITING, 0)
