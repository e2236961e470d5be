"""The Grafana dashboards in dashboards/en and dashboards/km: well formed, honest about the
schema, and every panel query returns data when run against a filled InfluxDB, in both
languages (the Khmer ones, written from the English ones, name their columns in Khmer).

Grafana is not needed: each target's InfluxQL is rendered the way Grafana's InfluxDB
data source renders it ($timeFilter, $__interval, template variables as escaped
regexes) and sent to a real influxd.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from analytics.inputs import find_lines
from analytics.service import ShiftKpiWriter
from collector.service import make_writer
from firmware_sim.line import default_line
from tests.deploy.conftest import DATABASE
from tonle.app.dashboards import translations
from tonle.app.demo import analytics_lines
from tonle.config import parse_config
from tonle.contract import MACHINE_STATES
from tonle.io.influxql import InfluxQLClient, InfluxQLError
from tonle.look import STATES

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
LANGUAGES = ("en", "km")
# The Khmer dashboard texts (msgid -> msgstr), to name the Khmer copy's columns and values.
KM = translations("km")
DATASOURCE_UID = "tonle-influxdb"
INTERVAL = "10s"

# The InfluxDB schema the dashboards may use: measurement -> tags and fields.
_LOC = {"site", "area", "line", "machine"}
_LINE = {"site", "area", "line"}
# What every OEE figure is written with (analytics.service.figure_fields): its ratios and
# the durations, counts and energy they came from.
_FIGURES = {
    "availability",
    "performance",
    "quality",
    "oee",
    "planned_s",
    "run_s",
    "ideal_s",
    "planned_stop_s",
    "no_data_s",
    "coverage",
    "breakdowns",
    "minor_stops",
    "mtbf_s",
    "mttr_s",
    "fully_productive_s",
    "breakdown_s",
    "setup_s",
    "starved_blocked_s",
    "minor_stop_s",
    "idle_s",
    "speed_loss_s",
    "quality_loss_s",
    "kwh",
    "kwh_per_piece",
}
# A line's figures (analytics.service.line_fields): pooled over its stations, its output,
# balance and energy.
_LINE_FIGURES = _FIGURES | {
    "pieces_per_hour",
    "target_pph",
    "attainment",
    "efficiency",
    "balance_ratio",
    "bottleneck",
    "bottleneck_cycle_s",
    "line_planned_s",
    "kwh_metered",
    "kwh_estimated",
    "energy_coverage",
    "kwh_per_good_piece",
    "good",
    "total",
}
SCHEMA: dict[str, set[str]] = {
    "telemetry": _LOC
    | {
        "machine_type",
        "speed_spm",
        "current_a",
        "temp_c",
        "andon",
        "vib_rms",
        "vib_peak",
        "vib_crest",
        "vib_kurtosis",
        "env_outer",
        "env_inner",
        "env_ball",
        "env_outer_sup",
        "env_inner_sup",
        "env_ball_sup",
        "seq",
    },
    "state": _LOC | {"machine_type", "state", "code", "reason", "seq"},
    "production": _LOC | {"machine_type", "total", "good", "seq"},
    "commands": _LOC | {"direction", "id", "action", "value", "status", "reason", "detail"},
    "alerts": _LOC | {"severity", "code", "message", "health", "rul_h"},
    "oee": _LOC
    | _FIGURES
    | {"idle_kwh", "pieces_per_hour", "total", "good", "effective_cycle_s", "ideal_cycle_s"}
    | {"period_kind", "energy_coverage"},
    "line_kpi": _LINE | _LINE_FIGURES | {"period_kind", "energy_partial", "energy_worst"},
    "shift_kpi": _LINE
    | _LINE_FIGURES
    | {"shift", "period", "period_start", "final", "period_kind", "energy_partial", "energy_worst"},
    "line_hour": _LINE
    | {"target_pcs", "actual_pcs", "cum_target_pcs", "cum_actual_pcs", "gap_pcs", "cum_gap_pcs"}
    | {"covered_s", "partial", "period", "worst_cause"},
    "downtime": _LINE | {"shift", "cause", "seconds", "stops", "category", "period"},
    "pdm": _LOC
    | {
        "health",
        "vib_rms",
        "vib_kurtosis",
        "drift_stat",
        "cusum_rms",
        "cusum_kurtosis",
        "drift_alarm",
        "rul_h",
        "rul_lower_h",
        "rul_upper_h",
        "fault_hint",
        "fault_code",
        "env_outer",
        "env_inner",
        "env_ball",
    },
    "pipeline": {
        "component",
        "instance",
        "messages",
        "points",
        "dead_letters",
        "write_errors",
        "queue_depth",
        "batch_ms",
        "batch_ms_p50",
        "batch_ms_p99",
        "spool_depth",
        "db_up",
        "unacked",
        "writes_in_flight",
        "device",
        "spool_unsent",
        "spool_unconfirmed",
        "spool_held",
        "messages_resent",
    },
    "completeness": _LOC | {"kind", "expected", "received", "missing", "ratio"},
    # What people on the floor send (tonle.contract.floor) and what the analytics makes of it.
    "defects": _LOC | {"defect_type", "count", "by"},
    "andon_acks": _LOC | {"by", "note"},
    "quality": _LINE | {"shift", "defects", "checked", "dhu", "period", "period_start", "top_type"},
    "andon_status": _LOC | {"state", "lit", "since_ms", "minutes_lit", "reason", "ack_by", "ack_note"},
}

# Columns the schema allows to be absent (commands.value, alerts.rul_h and alerts.health are
# optional), named as the dashboards alias them.
MAY_BE_ABSENT = {"value", "RUL (h)", "Health"}
MAY_BE_ABSENT |= {KM[name] for name in MAY_BE_ABSENT if name in KM}

# Colours the plant managers were promised for the state timeline.
STATE_COLOURS = {
    "running": "green",
    "starved": "yellow",
    "blocked": "yellow",
    "thread_break": "orange",
    "needle_break": "orange",
    "breakdown": "red",
    "maintenance": "blue",
}


def _load() -> dict[str, dict[str, Any]]:
    """Every dashboard of every language, by "language/name" (`en/line-overview`)."""
    return {
        f"{lang}/{p.stem}": json.loads(p.read_text())
        for lang in LANGUAGES
        for p in sorted((DASHBOARDS / lang).glob("*.json"))
    }


DASHBOARD_JSON = _load()


def _targets() -> list[Any]:
    params = []
    for name, dash in DASHBOARD_JSON.items():
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                params.append(
                    pytest.param(
                        name,
                        panel["title"],
                        target,
                        id=f"{name}/{panel['title']}/{target.get('refId')}",
                    )
                )
    return params


# -- rendering queries as Grafana does ---------------------------------------------------------

_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")


def _regex_escape(value: str) -> str:
    """Grafana's InfluxDB data source escapes variable values like this inside /.../."""
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def _format(values: list[str]) -> str:
    escaped = [_regex_escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def render(query: str, variables: dict[str, list[str]], start_ns: int, end_ns: int) -> str:
    """Substitute $timeFilter, $__interval and template variables as Grafana would."""
    start_ms, end_ms = start_ns // 1_000_000, -(-end_ns // 1_000_000)
    builtins = {
        "timeFilter": f"time >= {start_ms}ms and time <= {end_ms}ms",
        "__interval": INTERVAL,
        "__from": str(start_ms),  # Grafana's global range variables, in ms
        "__to": str(end_ms),
    }

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in builtins:
            return builtins[name]
        if name not in variables:
            raise AssertionError(f"query uses ${name}, which is not a dashboard variable")
        return _format(variables[name])

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, query)


def _query(url: str, db: str, q: str) -> list[Any]:
    async def run() -> list[Any]:
        async with InfluxQLClient(url, db) as client:
            return await client.query(q)

    return asyncio.run(run())


@pytest.fixture(scope="module")
def variable_values(filled_influxdb) -> dict[str, dict[str, list[str]]]:
    """Each dashboard's template variables, resolved from the data like Grafana does.

    A single-value variable takes the first value; a multi-value one takes them all
    (Grafana's "All").
    """
    url, db, start_ns, end_ns = filled_influxdb
    resolved: dict[str, dict[str, list[str]]] = {}
    for name, dash in DASHBOARD_JSON.items():
        values: dict[str, list[str]] = {}
        for var in dash.get("templating", {}).get("list", []):
            q = render(var["query"], values, start_ns, end_ns)
            series = _query(url, db, q)
            found = sorted({row[1] for s in series for row in s.values})
            assert found, (
                f"dashboard {name!r}: variable ${var['name']} has no values; its query\n  {q}\n"
                f"returned nothing from database {db!r}"
            )
            values[var["name"]] = found if var.get("multi") else found[:1]
        resolved[name] = values
    return resolved


# A plant that also works a night shift. The filled run happens at 03:26 in Phnom Penh,
# outside the default shifts (06-14, 14-22), where every stop is a planned stop and so no
# downtime by cause exists. The shift panels are checked on the same stored run analysed
# the way such a plant's analytics would: its shift writer replayed over the run.
NIGHT_SHIFTS = {
    "shifts": [
        {"name": "A", "start": "06:00", "end": "14:00", "breaks": ["11:00-12:00"]},
        {"name": "B", "start": "14:00", "end": "22:00", "breaks": ["18:00-18:30"]},
        {"name": "C", "start": "22:00", "end": "06:00", "breaks": ["02:00-02:30"]},
    ],
    "workdays": [1, 2, 3, 4, 5, 6, 7],
}


@pytest.fixture(scope="module")
def night_shift(filled_influxdb) -> None:
    url, db, start_ns, end_ns = filled_influxdb
    spec = default_line(n_stations=12, seed=1, wearing_station=6, site=DATABASE)
    lines = {
        name: {"target_pph": c.target_pph, "sam_min": c.sam_min} for name, c in analytics_lines(spec).items()
    }
    cfg = parse_config(
        {
            "influxdb": {"url": url, "database": db},
            "analytics": {"site": DATABASE, "lines": lines, "shifts": NIGHT_SHIFTS},
        },
        env={},
    )

    async def replay() -> None:
        async with InfluxQLClient(url, db) as q, make_writer(cfg) as writer:
            shifts = ShiftKpiWriter(cfg, q, writer)
            step = int(cfg.analytics.shifts.update_s * 1e9)
            for now in range(start_ns + step, end_ns, step):
                await shifts.maybe_update(await find_lines(q, before_ns=now, site=DATABASE), now)

    asyncio.run(replay())


# -- every query returns data -------------------------------------------------------------------


@pytest.mark.services
@pytest.mark.parametrize(("dashboard", "title", "target"), _targets())
def test_panel_query_returns_rows(
    filled_influxdb, night_shift, variable_values, dashboard: str, title: str, target: dict[str, Any]
) -> None:
    url, db, start_ns, end_ns = filled_influxdb
    q = render(target["query"], variable_values[dashboard], start_ns, end_ns)
    where = f"dashboard {dashboard!r}, panel {title!r}, target {target.get('refId')}"
    try:
        series = _query(url, db, q)
    except InfluxQLError as exc:
        pytest.fail(f"{where}: InfluxDB rejected the query\n  {q}\n{exc}")
    rows = [row for s in series for row in s.values]
    useful = [row for row in rows if any(v is not None for v in row[1:])]
    context = f"\n  {q}\n(database {db!r}, variables {variable_values[dashboard]})"
    assert useful, f"{where}: the query returned {len(rows)} rows and none with a value{context}"
    # A panel showing "No data" in one of its columns is as broken as an empty panel.
    columns = {col for s in series for col in s.columns[1:]}
    filled = {
        col for s in series for i, col in enumerate(s.columns) if any(r[i] is not None for r in s.values)
    }
    empty = columns - filled - MAY_BE_ABSENT
    assert not empty, f"{where}: columns {sorted(empty)} have no value in any row{context}"


@pytest.mark.services
@pytest.mark.parametrize(
    "measurement",
    ["oee", "line_kpi", "shift_kpi", "downtime", "line_hour", "quality", "andon_status", "defects"],
)
def test_the_analytics_writes_only_the_schema(filled_influxdb, night_shift, measurement: str) -> None:
    """The schema above is what the service really writes, not a wish list: every key is in it."""
    url, db, _, _ = filled_influxdb
    keys = set()
    for show in ("SHOW FIELD KEYS", "SHOW TAG KEYS"):
        for s in _query(url, db, f'{show} FROM "{measurement}"'):
            keys |= {row[0] for row in s.values}
    assert keys, f"the filled database has no {measurement!r} rows"
    assert keys <= SCHEMA[measurement], (
        f"{measurement}: not in the schema: {sorted(keys - SCHEMA[measurement])}"
    )


# -- structure ----------------------------------------------------------------------------------


def test_there_are_dashboards() -> None:
    for lang in LANGUAGES:
        names = {name.split("/")[1] for name in DASHBOARD_JSON if name.startswith(f"{lang}/")}
        assert {"line-overview", "pipeline-health", "machine-health"} <= names, lang
    uids = [d["uid"] for d in DASHBOARD_JSON.values()]
    assert len(uids) == len(set(uids)), f"two dashboards share a uid: {uids}"


@pytest.mark.parametrize("name", sorted(DASHBOARD_JSON))
def test_panels_are_well_formed(name: str) -> None:
    dash = DASHBOARD_JSON[name]
    assert dash.get("uid") and dash.get("title") and dash.get("schemaVersion", 0) >= 36
    ids = [p.get("id") for p in dash["panels"]]
    assert all(isinstance(i, int) for i in ids), f"{name}: a panel has no integer id: {ids}"
    assert len(ids) == len(set(ids)), f"{name}: panel ids are not unique: {ids}"
    cells: dict[tuple[int, int], str] = {}
    for panel in dash["panels"]:
        where = f"{name}: panel {panel.get('title')!r}"
        assert panel.get("title"), f"{name}: panel {panel.get('id')} has no title"
        assert panel.get("datasource", {}).get("uid") == DATASOURCE_UID, where
        g = panel.get("gridPos", {})
        assert all(isinstance(g.get(k), int) for k in "xywh"), f"{where}: bad gridPos {g}"
        assert g["x"] >= 0 and g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24, where
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                other = cells.setdefault((x, y), panel["title"])
                assert other == panel["title"], f"{where} overlaps panel {other!r}"
        targets = panel.get("targets", [])
        assert targets, f"{where} has no query"
        refs = [t.get("refId") for t in targets]
        assert len(refs) == len(set(refs)), f"{where}: duplicate refIds {refs}"
        for t in targets:
            assert t.get("datasource", {}).get("uid") == DATASOURCE_UID, where
            assert t.get("rawQuery") is True, f"{where}: target {t.get('refId')} is not raw"
            assert t.get("resultFormat") in ("time_series", "table"), where
            assert t.get("query", "").lstrip().upper().startswith("SELECT"), where


@pytest.mark.parametrize("name", sorted(DASHBOARD_JSON))
def test_queries_use_grafana_time_macros(name: str) -> None:
    for panel in DASHBOARD_JSON[name]["panels"]:
        for t in panel["targets"]:
            q, where = t["query"], f"{name}: panel {panel['title']!r}"
            # Every SELECT (also inside a subquery) is bounded by the dashboard's range: by
            # $timeFilter, or (the hour-by-hour board, whose rows are stamped with the hour's
            # start) by ${__from} and ${__to}.
            bounded = q.count("$timeFilter") + min(q.count("${__from}ms"), q.count("${__to}ms"))
            assert q.count("SELECT") == bounded, f"{where}: {q}"
            assert "now()" not in q, f"{where} hard-codes now(): {q}"
            for interval in re.findall(r"GROUP BY time\(([^)]*)\)", q):
                assert interval == "$__interval", f"{where} hard-codes time({interval})"


@pytest.mark.parametrize("name", sorted(DASHBOARD_JSON))
def test_template_variables(name: str) -> None:
    for var in DASHBOARD_JSON[name].get("templating", {}).get("list", []):
        assert var["type"] == "query", var["name"]
        assert var["datasource"]["uid"] == DATASOURCE_UID, var["name"]
        assert var["query"].startswith("SHOW TAG VALUES FROM"), var["name"]


def _identifiers(query: str) -> tuple[set[str], set[str], set[str]]:
    """Measurements after FROM, aliases after AS, and every other quoted identifier."""
    measurements = set(re.findall(r'FROM\s+"([^"]+)"', query))
    aliases = set(re.findall(r'\bAS\s+"([^"]+)"', query))
    quoted = set(re.findall(r'"([^"]+)"', query))
    return measurements, aliases, quoted - measurements - aliases


@pytest.mark.parametrize("name", sorted(DASHBOARD_JSON))
def test_queries_only_use_the_schema(name: str) -> None:
    dash = DASHBOARD_JSON[name]
    queries = [(p["title"], t["query"]) for p in dash["panels"] for t in p["targets"]]
    queries += [(f"${v['name']}", v["query"]) for v in dash["templating"]["list"]]
    for title, q in queries:
        measurements, _aliases, used = _identifiers(q)
        where = f"{name}: {title!r}"
        assert measurements, f"{where} reads no measurement: {q}"
        unknown = measurements - set(SCHEMA)
        assert not unknown, f"{where} reads measurements not in the schema: {unknown}"
        known = set().union(*(SCHEMA[m] for m in measurements))
        stray = used - known
        assert not stray, f"{where} uses {sorted(stray)}, not in {sorted(measurements)}: {q}"


def _panel(name: str, ptype: str) -> dict[str, Any]:
    (panel,) = [p for p in DASHBOARD_JSON[name]["panels"] if p["type"] == ptype]
    return panel


def _word(lang: str, text: str) -> str:
    return KM[text] if lang == "km" else text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_state_timeline_maps_every_state_code(lang: str) -> None:
    panel = _panel(f"{lang}/line-overview", "state-timeline")
    (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
    options = mapping["options"]
    # In words (`thread break`, not the contract's `thread_break`), the words of tonle.look.
    states = {code: _word(lang, STATES[state]) for code, state in enumerate(MACHINE_STATES)}
    assert {int(k): v["text"] for k, v in options.items()} == states
    colours = {v["text"]: v["color"] for v in options.values()}
    for state, colour in STATE_COLOURS.items():
        shown = _word(lang, STATES[state])
        assert colours[shown] == colour, f"{state} should be {colour}, is {colours[shown]}"
    assert '"code"' in panel["targets"][0]["query"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_health_panel_thresholds_match_the_rules(lang: str) -> None:
    (panel,) = [
        p
        for p in DASHBOARD_JSON[f"{lang}/line-overview"]["panels"]
        if "health" in p["targets"][0]["query"] and '"pdm"' in p["targets"][0]["query"]
    ]
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 0.35, 0.6]
