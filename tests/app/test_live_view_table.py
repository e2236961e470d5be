"""The live view's table: the applied speed, the andon, and a station's health kept while it is stopped."""

from __future__ import annotations

import numpy as np

from analytics.service import LineResult
from firmware_sim.spec import default_line
from tonle.app.demo import DemoOptions
from tonle.app.demo_view import LiveView
from tonle.app.live_commands import Answer
from tonle.messages import using_language

NS = 1_000_000_000
T0 = 1_780_000_000 * NS
NAN = float("nan")


def _result(states: list[str], health: list[float]) -> LineResult:
    n = len(states)
    ones = np.ones(n)
    return LineResult(
        "demo-plant", "sewing", "L1", ["S01", "S02", "S03"][:n], states, ones, ones, ones, ones * 0.8,
        np.array([60.0, 55.0, 50.0][:n]), np.array(health), np.array([False, True, False][:n]),
        0.8, 50.0, 60.0, 0.9, "S03", ones,
    )  # fmt: skip


def _cells(view: LiveView, res: LineResult) -> list[list[str]]:
    lines = [t.plain for t in view._table(res)]
    rows = [line for line in lines if line.startswith("│")]
    return [[c.strip() for c in row.strip("│").split("│")] for row in rows]


def _view() -> LiveView:
    spec = default_line(n_stations=3, wearing_station=1)
    # The table reads only the line, the command board and the health it keeps.
    return LiveView(spec, None, None, None, None, None, DemoOptions())  # type: ignore[arg-type]


def test_a_derate_and_an_andon_show_in_the_table_and_health_stays_while_a_station_waits():
    view = _view()
    view.board.update(
        [Answer(T0, "S02", "set_speed", 0.7, "applied", ""), Answer(T0, "S03", "andon", 1.0, "applied", "")]
    )
    with using_language("en"):
        header = [t.plain for t in view._table(_result(["running"] * 3, [0.9, 0.5, 0.8]))][2]
        first = _cells(view, _result(["running"] * 3, [0.9, 0.5, 0.8]))
        starved = _cells(view, _result(["running", "starved", "breakdown"], [0.9, NAN, NAN]))
    assert [h.strip() for h in header.strip("┃").split("┃")] == [
        "station", "operation", "state", "speed", "station pcs/h", "OEE", "health", "drift", "andon",
    ]  # fmt: skip
    assert [r[3] for r in first] == ["100%", "70%", "100%"]  # the applied derate
    assert first[1][7] == "ALARM" and first[2][8] != ""  # drift on S02, S03's andon lit (since hh:mm)
    assert [r[6] for r in starved] == ["0.90", "0.50*", "0.80*"]  # last values, marked, not blanked
    assert starved[1][2] == "starved"


def test_a_station_never_measured_shows_a_dash_not_a_blank():
    view = _view()
    cells = _cells(view, _result(["starved", "running", "running"], [NAN, 0.9, 0.9]))
    assert cells[0][6] == "-"
