"""Stamp `tonle.look` into a dashboard: thresholds, units, decimals, state and severity words.

`make dashboards` runs `apply_look` over `dashboards/en/*.json` before writing the other
languages, so the look a dashboard shows is never typed by hand and can never disagree with
the report or the live view. A panel's figures are found from its query: each column of the
outer SELECT is the figure of the first stored field it reads (`last("oee") AS "OEE"` is the
OEE). A panel whose every column is one kind of figure gets it in its defaults; a table or
stat mixing figures (or figures and counts) gets one override per figure column, after the
hand-written ones so the look wins.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tonle.look import SEVERITY, SEVERITY_COLOURS, STATE_COLOURS, STATES, Figure, figure_for_field

__all__ = ["apply_look", "columns", "panel_figures"]

_FIELD = re.compile(r'"(\w+)"(?!::tag)')
_AS = re.compile(r'\s+AS\s+"([^"]+)"\s*$')
_FUNC = re.compile(r"^\s*(\w+)\(")
_STATE_QUERY = re.compile(r'"code"\)?\s+FROM\s+"state"')
_SEVERITY = re.compile(r'"severity"::tag')
_COLOUR_PANELS = ("stat", "gauge", "bargauge")  # colour from thresholds; others keep theirs


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += c == "("
        depth -= c == ")"
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def columns(query: str) -> list[tuple[str, str]]:
    """(column name, expression) of the outer SELECT, as InfluxDB names the columns."""
    body = query.split("SELECT", 1)[1]
    depth = 0
    for i, c in enumerate(body):
        depth += c == "("
        depth -= c == ")"
        if depth == 0 and body.startswith(" FROM ", i):
            body = body[:i]
            break
    out = []
    for expr in _split_top(body):
        alias = _AS.search(expr)
        func = _FUNC.match(expr)
        fields = _FIELD.findall(expr)
        name = alias.group(1) if alias else func.group(1) if func else (fields[0] if fields else expr.strip())
        out.append((name, expr))
    return out


def panel_figures(panel: dict[str, Any]) -> list[tuple[str, Figure]]:
    """(column name, figure) for each column of the panel's queries that shows a figure."""
    found = []
    for target in panel.get("targets", []):
        for name, expr in columns(target["query"]):
            fields = _FIELD.findall(expr)
            figure = figure_for_field(fields[0]) if fields else None
            if figure is not None:
                found.append((name, figure))
    return found


def _num(x: float | None) -> float | int | None:
    """1.0 as 1: the JSON reads as a person would write it."""
    return int(x) if x is not None and float(x).is_integer() else x


def _spec(figure: Figure) -> dict[str, Any]:
    """The field config a figure sets (Grafana's names), without the keys it leaves open."""
    spec: dict[str, Any] = {"unit": figure.unit, "decimals": figure.decimals}
    if figure.minimum is not None:
        spec["min"] = _num(figure.minimum)
    if figure.maximum is not None:
        spec["max"] = _num(figure.maximum)
    thresholds = figure.grafana_thresholds()
    if thresholds:
        for step in thresholds["steps"]:
            step["value"] = _num(step["value"])
        spec["thresholds"] = thresholds
    return spec


def _override(fields: dict[str, Any], name: str) -> dict[str, Any]:
    """The byName override of column `name`, made (at the end) if there is none."""
    for override in fields.setdefault("overrides", []):
        if override.get("matcher") == {"id": "byName", "options": name}:
            return override
    made: dict[str, Any] = {"matcher": {"id": "byName", "options": name}, "properties": []}
    fields["overrides"].append(made)
    return made


def _set_property(override: dict[str, Any], prop: str, value: Any) -> None:
    for p in override["properties"]:
        if p.get("id") == prop:
            p["value"] = value
            return
    override["properties"].append({"id": prop, "value": value})


def _apply_figures(panel: dict[str, Any]) -> None:
    figures = panel_figures(panel)
    if not figures:
        return
    fields = panel.setdefault("fieldConfig", {})
    defaults = fields.setdefault("defaults", {})
    specs = {name: _spec(f) for name, f in figures}
    shown = sum(len(columns(t["query"])) for t in panel.get("targets", []))
    if len(figures) == shown and len({repr(s) for s in specs.values()}) == 1:
        spec = next(iter(specs.values()))
        defaults.update(spec)
        if "thresholds" in spec and panel.get("type") in _COLOUR_PANELS:
            defaults["color"] = {"mode": "thresholds"}
        return
    for name, spec in specs.items():
        override = _override(fields, name)
        for prop, value in spec.items():
            _set_property(override, prop, value)


def _state_mappings() -> list[dict[str, Any]]:
    options = {
        str(code): {"text": STATES[state], "color": STATE_COLOURS[state], "index": code}
        for code, state in enumerate(STATES)
    }
    return [{"type": "value", "options": options}]


def _severity_mappings() -> list[dict[str, Any]]:
    options = {
        level: {"text": SEVERITY[level], "color": SEVERITY_COLOURS[level], "index": i}
        for i, level in enumerate(SEVERITY)
    }
    return [{"type": "value", "options": options}]


def _apply_words(panel: dict[str, Any]) -> None:
    fields = panel.setdefault("fieldConfig", {})
    for target in panel.get("targets", []):
        if _STATE_QUERY.search(target["query"]):
            fields.setdefault("defaults", {})["mappings"] = _state_mappings()
        for name, expr in columns(target["query"]):
            if _SEVERITY.search(expr):
                override = _override(fields, name)
                _set_property(override, "mappings", _severity_mappings())
                _set_property(override, "custom.cellOptions", {"type": "color-text"})


def apply_look(dashboard: dict[str, Any]) -> dict[str, Any]:
    """`dashboard` with every figure's unit, decimals, range and bands, and every state and
    severity word, as `tonle.look` declares them (a copy; the same dashboard twice is unchanged)."""
    out = copy.deepcopy(dashboard)
    for panel in out.get("panels", []):
        _apply_figures(panel)
        _apply_words(panel)
    return out
