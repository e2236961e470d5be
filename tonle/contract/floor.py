"""What people on the floor send: a defect found at a quality check, an andon acknowledged.

A QC inspector's tablet, a button box wired to a small MQTT board, or `tonle defect add` /
`tonle andon ack` publish these on `tonle/{site}/{area}/{line}/{station}/defect` and
`.../{station}/andon/ack`. They carry no sequence number: a person presses a button, and a
press sent twice (an MQTT re-send) lands on the same timestamp and overwrites itself.

The defect type becomes a tag, so it is checked as a name (no wildcard, slash or invisible
character, at most 64 characters); which types a plant uses is its configuration
(`[plant] defect_types`), checked where a person types one (the CLI) so a typo never starts
a new series. `count` is how many of that defect the inspector found at once.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from tonle.contract.limits import TS_MAX, TS_MIN
from tonle.contract.topics import TopicError, check_name

__all__ = ["DEFAULT_DEFECT_TYPES", "MAX_DEFECTS", "AndonAck", "Defect", "FloorPayload", "check_floor"]

MAX_DEFECTS = 1000
"""The most defects one message may record (a bundle is rarely over 50 pieces)."""

DEFAULT_DEFECT_TYPES = (
    "broken stitch",
    "skipped stitch",
    "open seam",
    "uneven stitch",
    "puckering",
    "stain",
    "wrong size",
    "other",
)
"""The defects a garment end-of-line check records most, when a plant names none of its own."""

_Ts = Annotated[int, msgspec.Meta(ge=TS_MIN, le=TS_MAX)]
_Who = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Defect(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """`count` defects of one type found by `by` at a check station at `ts`."""

    v: Literal[1]
    ts: _Ts
    defect_type: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    by: _Who
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_DEFECTS)] = 1


class AndonAck(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A person (`by`) has seen the station's andon and is on it; `note` says what they found."""

    v: Literal[1]
    ts: _Ts
    by: _Who
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


FloorPayload = Defect | AndonAck


def check_floor(msg: msgspec.Struct) -> str | None:
    """What a defect or an ack breaks that its types cannot say, as a reason; None when fine."""
    try:
        if isinstance(msg, Defect):
            check_name("defect type", msg.defect_type)
        if isinstance(msg, Defect | AndonAck):
            check_name("person", msg.by)
    except TopicError as exc:
        return str(exc)
    return None
