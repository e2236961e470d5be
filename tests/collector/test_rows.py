"""The row table stores every payload kind exactly as the storage schema declares it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from collector.health import HealthMeter
from collector.rows import ROWS, Row
from collector.stats import CollectorStats
from tests.contract.lineparse import Point, parse_lines
from tests.contract.test_decoder_properties import DOCS, SETTINGS, kinds, topic
from tonle.contract import KINDS, Event, State, parse_topic
from tonle.schema import EVENTS, FLOAT, INT, PIPELINE, STATE, STORED_AS, STR, Measurement

_PYTHON_TYPE = {FLOAT: float, INT: int, STR: str}


def assert_declared(m: Measurement, p: Point) -> None:
    assert p.measurement == m.name
    assert set(p.tags) <= set(m.tags), f"{m.name}: tags {sorted(set(p.tags) - set(m.tags))} not declared"
    for name, value in p.fields.items():
        declared = m.fields.get(name, m.more_fields)
        assert declared is not None, f"{m.name}: field {name!r} is not declared"
        assert type(value) is _PYTHON_TYPE[declared], f"{m.name}.{name} = {value!r}, declared {declared}"


def test_every_kind_has_one_layout_in_the_measurement_the_schema_names():
    assert set(ROWS) == set(KINDS) == set(STORED_AS)
    for kind, layout in ROWS.items():
        assert layout.measurement == STORED_AS[kind], kind


@SETTINGS
@given(kinds.flatmap(lambda k: DOCS[k].map(lambda doc: (k, doc))))
def test_every_point_of_every_kind_has_only_declared_tags_and_fields_of_the_declared_type(case):
    kind, doc = case
    addr, _ = parse_topic(topic(kind))
    mapped = ROWS[kind].map(topic(kind), addr, kind, json.dumps(doc).encode())
    for point in parse_lines(mapped.lines):
        assert_declared(STORED_AS[kind], point)


@pytest.mark.parametrize(
    ("declaration", "wrong"),
    [
        (lambda: Row(State, STATE, ("code", "seq", "state", "reasons")), "reasons"),  # not in the schema
        (lambda: Row(State, STATE, ("seq", "state"), tags=("severity",)), "severity"),  # not a state tag
        (lambda: Row(Event, EVENTS, ("seq", "event", "detail"), derived={"code": len}), "code"),
        (lambda: Row(Event, STATE, ("seq", "state")), "state"),  # an Event has no attribute `state`
    ],
)
def test_a_layout_that_disagrees_with_the_schema_or_the_payload_is_refused_when_declared(declaration, wrong):
    with pytest.raises(ValueError, match=wrong):
        declaration()


def test_the_collector_health_row_is_the_declared_pipeline_fields():
    fields = HealthMeter(CollectorStats()).fields(
        queue_depth=0, unacked=0, writes_in_flight=0, db_up=True, spool=None
    )
    (point,) = parse_lines(HealthMeter.lines("c1", fields, 1_780_000_000_000_000_000))
    assert_declared(PIPELINE, point)
    assert set(point.fields) <= {k for k, t in PIPELINE.fields.items() if t == FLOAT}
    assert point.tags == {"component": "collector", "instance": "c1"}
