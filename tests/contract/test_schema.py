"""The storage schema is complete for its readers and consistent with the wire contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tonle.contract.limits import HEALTH_RESERVED_FIELDS, TELEMETRY_RESERVED_FIELDS
from tonle.contract.topics import KINDS
from tonle.schema import FLOAT, MEASUREMENTS, PIPELINE, STORED_AS, TELEMETRY, Measurement, measurement

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"


def test_every_payload_kind_is_stored_in_a_declared_measurement():
    assert set(STORED_AS) == set(KINDS)
    assert all(m in MEASUREMENTS for m in STORED_AS.values())
    assert len({m.name for m in MEASUREMENTS}) == len(MEASUREMENTS)


def test_a_device_can_never_send_a_field_named_like_what_the_collector_writes_beside_it():
    assert TELEMETRY.sequenced
    assert {*TELEMETRY.tags, "seq"} <= TELEMETRY_RESERVED_FIELDS
    assert set(PIPELINE.tags) <= HEALTH_RESERVED_FIELDS
    assert TELEMETRY.more_fields == PIPELINE.more_fields == FLOAT


@pytest.mark.parametrize(
    ("tags", "fields"),
    [
        (("site", "site"), {"x": FLOAT}),  # a tag twice
        (("site",), {"site": FLOAT}),  # a tag that is also a field
        (("site",), {"bad name": FLOAT}),  # a name that needs escaping
    ],
)
def test_a_measurement_that_names_something_twice_or_badly_is_refused(tags, fields):
    with pytest.raises(ValueError):
        Measurement("m", tags, fields)


def _queries() -> list[tuple[str, str]]:
    out = []
    for path in sorted(DASHBOARDS.glob("*/*.json")):  # every language: en, km
        dash = json.loads(path.read_text())
        out += [
            (f"{path.parent.name}/{path.stem}: {p['title']}", t["query"])
            for p in dash["panels"]
            for t in p["targets"]
        ]
        variables = dash.get("templating", {}).get("list", [])
        out += [(f"{path.parent.name}/{path.stem}: ${v['name']}", v["query"]) for v in variables]
    return out


@pytest.mark.parametrize(("where", "query"), _queries())
def test_the_dashboards_read_only_declared_measurements_tags_and_fields(where: str, query: str):
    measurements = set(re.findall(r'FROM\s+"([^"]+)"', query))
    aliases = set(re.findall(r'\bAS\s+"([^"]+)"', query))
    quoted = set(re.findall(r'"([^"]+)"', query)) - measurements - aliases
    assert measurements, f"{where} reads no measurement"
    declared = [measurement(name) for name in measurements]  # KeyError: not in the schema
    known = {name for m in declared for name in (*m.tags, *m.fields)}
    assert quoted <= known, f"{where}: {sorted(quoted - known)} not declared in {sorted(measurements)}"
