"""The wall-TV line overview (dashboards/*/line-tv.json) fits one 1920 x 1080 screen.

Measured on gridPos, with Grafana's grid: 24 columns across the width, each grid row 30 px
high plus a 5 px margin between rows (GRID_CELL_HEIGHT, GRID_CELL_VMARGIN in Grafana's
source), so a panel spanning rows y..y+h ends at (y + h) * 35 - 5 px. Assumed chrome: kiosk
mode (`?kiosk`) hides the top bar, the side menu and the variable bar; what is left is the
page padding, taken as 24 px above and below (48 px in all, more than Grafana 10/11 use),
in a full-screen browser. Every panel carries a 32 px title bar; a big stat must keep at
least 100 px for its number below that.

The hour-by-hour board and the andon panel sit in the two areas of `PLACED`, across the
bottom of the screen: nothing else may overlap them and they must fit as well.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tonle.look import STATES

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
SCREEN_W, SCREEN_H = 1920, 1080
COLUMNS, ROW_PX, MARGIN_PX = 24, 30, 5
KIOSK_CHROME_PX = 48
PANEL_HEADER_PX = 32
BIG_NUMBER_PX = 100
# (x, y, w, h) in grid units: left for the panels other branches bring.
PLACED = {"Hour by hour": (0, 19, 12, 10), "Andon: stations lit now": (12, 19, 12, 10)}


def _tv(lang: str) -> dict[str, Any]:
    return json.loads((DASHBOARDS / lang / "line-tv.json").read_text())


def bottom_px(y: int, h: int) -> int:
    return (y + h) * (ROW_PX + MARGIN_PX) - MARGIN_PX


def _cells(x: int, y: int, w: int, h: int) -> set[tuple[int, int]]:
    return {(i, j) for i in range(x, x + w) for j in range(y, y + h)}


@pytest.mark.parametrize("lang", ["en", "km"])
def test_every_panel_lies_inside_one_1080p_screen(lang: str) -> None:
    usable = SCREEN_H - KIOSK_CHROME_PX
    for panel in _tv(lang)["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= COLUMNS, panel["title"]
        assert bottom_px(g["y"], g["h"]) <= usable, f"{panel['title']!r} ends below the screen: {g}"


@pytest.mark.parametrize(("name", "area"), sorted(PLACED.items()))
def test_the_hourly_board_and_the_andon_are_on_screen_and_overlap_nothing(
    name: str, area: tuple[int, ...]
) -> None:
    x, y, w, h = area
    assert bottom_px(y, h) <= SCREEN_H - KIOSK_CHROME_PX, name
    panels = _tv("en")["panels"]
    (placed,) = [p for p in panels if p["title"] == name]
    assert placed["gridPos"] == {"x": x, "y": y, "w": w, "h": h}
    free = _cells(x, y, w, h)
    for panel in panels:
        if panel is placed:
            continue
        g = panel["gridPos"]
        assert not free & _cells(g["x"], g["y"], g["w"], g["h"]), f"{panel['title']!r} overlaps the {name}"


def test_big_numbers_have_room_below_their_title() -> None:
    for panel in _tv("en")["panels"]:
        if panel["type"] in ("stat", "gauge"):
            g = panel["gridPos"]
            content = g["h"] * (ROW_PX + MARGIN_PX) - MARGIN_PX - PANEL_HEADER_PX
            assert content >= BIG_NUMBER_PX, f"{panel['title']!r}: {content} px for the number"


def test_the_fit_check_can_fail() -> None:
    """A panel one row lower than the bottom ones would end below the screen."""
    assert bottom_px(19, 11) > SCREEN_H - KIOSK_CHROME_PX


def _reads(dash: dict[str, Any]) -> str:
    return " ".join(t["query"] for p in dash["panels"] for t in p["targets"])


def test_it_shows_the_shift_output_oee_alerts_commands_and_states_in_words() -> None:
    dash = _tv("en")
    queries = _reads(dash)
    for field in ("good", "target_pph", "attainment", "oee", "availability", "performance", "quality"):
        assert f'last("{field}")' in queries, field
    assert queries.count('FROM "shift_kpi"') >= 3, "the figures are the shift's, not a rolling window"
    assert '"line_kpi"' not in queries
    assert 'FROM "alerts"' in queries and 'FROM "commands"' in queries
    (states,) = [p for p in dash["panels"] if 'FROM "state"' in p["targets"][0]["query"]]
    (mapping,) = states["fieldConfig"]["defaults"]["mappings"]
    assert {v["text"] for v in mapping["options"].values()} == set(STATES.values())
    for panel in dash["panels"]:
        if 'FROM "shift_kpi"' in panel["targets"][0]["query"]:
            assert "shift" in panel["title"], f"{panel['title']!r} shows shift figures: say so"


def test_it_is_kiosk_friendly() -> None:
    dash = _tv("en")
    assert dash["refresh"] and not any(p["type"] == "row" for p in dash["panels"])
    assert "kiosk" in dash["description"]
