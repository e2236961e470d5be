"""The floor's own messages (a defect found at QC, an andon acknowledged): what is taken, what is
refused with a reason, and where the collector stores it."""

from __future__ import annotations

import json

import pytest

from collector.mapping import map_message
from tests.contract.lineparse import parse_lines
from tonle.contract import AndonAck, Defect, PayloadError, decode, encode

TS = 1_780_000_000_000_000_000
TOPIC = "tonle/pp/sewing/L1/{machine}/{kind}"


def test_a_defect_is_stored_by_type_at_its_check_station() -> None:
    msg = Defect(v=1, ts=TS, defect_type="broken stitch", by="Sokha", count=3)
    assert decode("defect", encode(msg)) == msg
    (point,) = parse_lines(map_message(TOPIC.format(machine="QC", kind="defect"), encode(msg)).lines)
    assert point.measurement == "defects"
    assert point.tags == {
        "site": "pp",
        "area": "sewing",
        "line": "L1",
        "machine": "QC",
        "defect_type": "broken stitch",
    }
    assert point.fields == {"count": 3, "by": "Sokha"} and point.ts == TS


def test_an_andon_ack_is_stored_with_who_and_the_note() -> None:
    msg = AndonAck(v=1, ts=TS, by="Dara (supervisor)", note="belt replaced")
    (point,) = parse_lines(map_message(TOPIC.format(machine="S05", kind="andon/ack"), encode(msg)).lines)
    assert (point.measurement, point.tags["machine"]) == ("andon_acks", "S05")
    assert point.fields == {"by": "Dara (supervisor)", "note": "belt replaced"}


def test_a_button_box_may_send_the_least_a_defect_needs() -> None:
    """A small board sends no count: one press is one defect."""
    got = decode("defect", json.dumps({"v": 1, "ts": TS, "defect_type": "stain", "by": "box-3"}).encode())
    assert isinstance(got, Defect) and got.count == 1


@pytest.mark.parametrize(
    ("change", "category"),
    [
        ({"count": 0}, "number out of range"),
        ({"count": 1001}, "number out of range"),
        ({"defect_type": "stain/oil"}, "bad defect type name"),
        ({"defect_type": "stain\u200b"}, "bad defect type name"),
        ({"defect_type": ""}, "missing value"),
        ({"by": ""}, "missing value"),
        ({"by": "Sokha\n"}, "bad person name"),
        ({"ts": 5}, "bad timestamp"),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_a_bad_defect_is_refused_with_a_reason(change: dict, category: str) -> None:
    doc = {"v": 1, "ts": TS, "defect_type": "stain", "by": "Sokha", "count": 1} | change
    with pytest.raises(PayloadError) as exc:
        decode("defect", json.dumps(doc).encode())
    assert exc.value.category == category, exc.value.reason


def test_an_ack_without_a_person_is_refused() -> None:
    with pytest.raises(PayloadError):
        decode("andon/ack", json.dumps({"v": 1, "ts": TS, "note": "seen"}).encode())
