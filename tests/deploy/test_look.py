"""The dashboards, the report and the rules show each figure the way `tonle.look` declares it.

Each panel column that shows a figure is resolved as Grafana resolves it (the defaults, then
every override that matches the column, in order, the later winning) and compared with the
module; the report's colour of a value (its CSS class, coloured by the style sheet) is
compared with the colour the line overview's thresholds give the same value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tonle.app.dashboard_look import apply_look, columns, panel_figures
from tonle.app.report.markup import level
from tonle.app.report.style import CSS
from tonle.config.analytics import RulesConfig
from tonle.look import FIGURES, LEVEL_COLOURS, STATES, Band, Figure

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
ALL = {f"{p.parent.name}/{p.stem}": json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*/*.json"))}


def _matches(matcher: dict[str, Any], column: str) -> bool:
    if matcher.get("id") == "byName":
        return matcher.get("options") == column
    if matcher.get("id") == "byRegexp":
        pattern = matcher["options"]
        return re.search(pattern[1:-1] if pattern.startswith("/") else pattern, column) is not None
    return False


def resolved(panel: dict[str, Any], column: str) -> dict[str, Any]:
    """The field config Grafana uses for `column`: defaults, then matching overrides in order."""
    fields = panel.get("fieldConfig", {})
    config = {k: v for k, v in fields.get("defaults", {}).items() if k != "custom"}
    for override in fields.get("overrides", []):
        if _matches(override.get("matcher", {}), column):
            config.update({p["id"]: p.get("value") for p in override.get("properties", [])})
    return config


def grafana_colour(thresholds: dict[str, Any], value: float) -> str:
    """The colour Grafana gives `value`: the last step whose start it has reached."""
    colour = thresholds["steps"][0]["color"]
    for step in thresholds["steps"][1:]:
        if value >= step["value"]:
            colour = step["color"]
    return colour


# Dashboards that show no figure of tonle.look, and why.
NO_FIGURES = {"andon": "the andon board shows lights (off, acknowledged, waiting), not figures"}


@pytest.mark.parametrize("name", sorted(n for n in ALL if n.split("/")[-1] not in NO_FIGURES))
def test_every_figure_column_has_the_unit_range_and_bands_of_tonle_look(name: str) -> None:
    checked = 0
    for panel in ALL[name]["panels"]:
        for column, figure in panel_figures(panel):
            config, where = resolved(panel, column), f"{name}: panel {panel['title']!r}, column {column!r}"
            assert config.get("unit") == figure.unit, f"{where}: unit {config.get('unit')!r}"
            assert config.get("decimals") == figure.decimals, where
            if figure.minimum is not None:
                assert config.get("min") == figure.minimum, where
            if figure.maximum is not None:
                assert config.get("max") == figure.maximum, where
            if figure.bands:
                assert config.get("thresholds") == figure.grafana_thresholds(), where
            checked += 1
    assert checked, f"{name}: no panel shows a figure of tonle.look"


@pytest.mark.parametrize("name", sorted(n for n in ALL if n.startswith("en/")))
def test_the_english_dashboards_are_stamped_by_the_generator(name: str) -> None:
    """`make dashboards` stamps the look in; a hand edit that differs shows up here."""
    assert apply_look(ALL[name]) == ALL[name], "run `make dashboards`"


def test_a_hand_edited_threshold_is_caught() -> None:
    """The check above can fail: an OEE gauge turned green at 60 % is not the module's."""
    dash = json.loads(json.dumps(ALL["en/line-overview"]))
    (gauge,) = [p for p in dash["panels"] if p["type"] == "gauge"]
    gauge["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] = 0.6
    assert apply_look(dash) != dash
    column, figure = panel_figures(gauge)[0]
    assert resolved(gauge, column)["thresholds"] != figure.grafana_thresholds()


def _css_colours() -> dict[str, str]:
    return dict(re.findall(r"\.(good|mid|bad) \{ color: (#[0-9a-f]{6}); \}", CSS))


@pytest.mark.parametrize("key", ["oee", "availability", "performance", "quality", "efficiency"])
def test_the_report_colours_a_value_as_the_line_overview_does(key: str) -> None:
    css = _css_colours()
    assert set(css) == {"good", "mid", "bad"}, "the style sheet colours every level"
    dash = ALL["en/line-overview"]
    panels = [(p, c) for p in dash["panels"] for c, f in panel_figures(p) if f.key == key]
    assert panels, f"no line overview panel shows {key}"
    values = [i / 200 for i in range(0, 201)] + [b.start for b in FIGURES[key].bands if b.start is not None]
    for panel, column in panels:
        thresholds = resolved(panel, column)["thresholds"]
        for v in values:
            report = css[level(key, v)]
            assert report == grafana_colour(thresholds, v), f"{key}={v}: report {report}, {panel['title']!r}"


def test_a_figure_band_starts_where_the_next_level_begins() -> None:
    f = Figure("x", "x", "none", 0, bands=(Band(None, "bad"), Band(0.5, "mid"), Band(0.7, "good")))
    assert [f.level(v) for v in (0.0, 0.4999, 0.5, 0.6999, 0.7, 5.0)] == [
        "bad",
        "bad",
        "mid",
        "mid",
        "good",
        "good",
    ]
    assert f.colour(0.7) == LEVEL_COLOURS["good"] and f.level(float("nan")) is None


def test_health_bands_change_colour_where_the_rules_send_commands() -> None:
    rules = RulesConfig()
    starts = [b.start for b in FIGURES["health"].bands]
    assert starts == [None, rules.maintenance_below, rules.derate_below]


def test_vibration_rms_is_in_g_on_every_dashboard() -> None:
    """The sensors send acceleration in g (docs/serial-protocol.md); Grafana's unit for it is accG."""
    shown = [
        resolved(p, c)["unit"]
        for d in ALL.values()
        for p in d["panels"]
        for c, f in panel_figures(p)
        if f.key == "vibration_rms"
    ]
    assert shown and set(shown) == {"accG"}


def test_every_state_reads_as_words_not_the_contract_name() -> None:
    assert all("_" not in words for words in STATES.values())


def test_columns_are_named_as_influxdb_names_them() -> None:
    q = 'SELECT last("oee") AS "OEE", mean("health"), "severity"::tag AS "Severity" FROM "x" WHERE $t'
    assert [c for c, _ in columns(q)] == ["OEE", "mean", "Severity"]
    sub = (
        'SELECT sum("n") AS "n2" FROM (SELECT max("oee") AS "n" FROM "x" WHERE $timeFilter) WHERE $timeFilter'
    )
    assert [c for c, _ in columns(sub)] == ["n2"]


def test_the_managers_guide_gives_the_bands_of_tonle_look() -> None:
    """docs/manager.md tells managers where the colours change: the numbers are the module's."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "manager.md").read_text()
    rows = {
        "OEE": ["oee"],
        "Availability, Performance, Quality": ["availability", "performance", "quality"],
        "Line efficiency (SAM)": ["efficiency"],
        "Output against target": ["attainment"],
        "Health": ["health"],
    }
    for label, keys in rows.items():
        (row,) = re.findall(rf"^\| {re.escape(label)} \| (.+?) \| (.+?) \| (.+?) \|$", text, re.M)
        numbers = [float(x.rstrip("%")) / (100 if x.endswith("%") else 1) for x in row]
        for key in keys:
            starts = [b.start for b in FIGURES[key].bands]
            assert numbers == pytest.approx([starts[1], starts[1], starts[2]]), (label, row)


def test_the_khmer_dashboards_word_states_as_the_report_and_live_view_do() -> None:
    """One Khmer word per state: the dashboards take the catalogue entry the report shows."""
    from tonle.messages import _, using_language

    with using_language("km"):
        words = {_(w) for w in STATES.values()}
    for name in ("km/line-overview", "km/line-tv"):
        (panel,) = [p for p in ALL[name]["panels"] if 'FROM "state"' in p["targets"][0]["query"]]
        (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
        assert {v["text"] for v in mapping["options"].values()} == words, name


def test_the_reports_hourly_bars_take_the_dashboards_output_colours() -> None:
    """An hour at half its target is red on the TV's gauge: red in the report's chart too."""
    import datetime as dt

    from tonle.app.report.charts import hourly_chart
    from tonle.app.report.data import HourRow

    t0 = dt.datetime(2026, 11, 23, 6, tzinfo=dt.UTC)
    hours = [
        HourRow(t0 + dt.timedelta(hours=i), t0 + dt.timedelta(hours=i + 1), good, 100.0, 1.0)
        for i, good in enumerate((50.0, 90.0, 120.0))
    ]
    svg = hourly_chart(hours, 100.0, 90, 50)
    attainment = FIGURES["attainment"]
    for good in (50.0, 90.0, 120.0):
        assert f"fill: {attainment.colour(good / 100.0)}" in svg, good
    assert [attainment.level(x) for x in (0.5, 0.9, 1.2)] == ["bad", "mid", "good"]
