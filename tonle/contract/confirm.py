"""End-to-end confirmation: which of a gateway's spooled messages the database holds.

An MQTT PUBACK only says the broker took a message, and a broker can still lose it (a
restart that forgets a shared subscription, a crash before its autosave, a lost disk). So
a gateway keeps each message in its spool until a collector confirms it (docs/delivery.md):

- every message a gateway publishes from its spool carries the MQTT v5 user properties
  `tonle-gw` (the gateway id) and `tonle-spool` (`<spool token>:<spool id>`);
- a collector publishes `Confirm` documents to `tonle/_gateway/<gateway id>/confirm` naming
  the spool ids it has *stored* (in InfluxDB, or refused as bad input: a re-send would not
  help) and those it *holds* in its own durable spool while the database is down.

Ids travel as inclusive ranges: with a shared subscription every collector sees only part of
a gateway's stream, so none can say "everything up to N"; each says exactly what it stored,
and consecutive ids (the common case) cost one pair. The spool token, made when a spool file
is created, keeps a confirmation meant for an old spool from deleting a new spool's messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated

import msgspec

from tonle.contract.topics import ROOT, TopicError, check_name

__all__ = [
    "CONFIRM_SUFFIX",
    "GATEWAY_PREFIX",
    "PROP_GATEWAY",
    "PROP_SPOOL",
    "Confirm",
    "SpoolRef",
    "confirm_topic",
    "decode_confirm",
    "encode_confirm",
    "gateway_of_confirm_topic",
    "id_ranges",
    "ids_of",
    "parse_spool_ref",
    "spool_ref",
]

PROP_GATEWAY = "tonle-gw"
PROP_SPOOL = "tonle-spool"
GATEWAY_PREFIX = f"{ROOT}/_gateway/"
CONFIRM_SUFFIX = "/confirm"
MAX_RANGES = 100_000
SpoolId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
Token = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class Confirm(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, frozen=True):
    """What one collector did with some of one spool's messages."""

    v: int
    token: Token
    by: str = ""
    stored: list[tuple[SpoolId, SpoolId]] = msgspec.field(default_factory=list)
    held: list[tuple[SpoolId, SpoolId]] = msgspec.field(default_factory=list)


class SpoolRef(msgspec.Struct, frozen=True):
    """One message's place in one gateway's spool."""

    gateway: str
    token: int
    id: int


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Confirm)


def confirm_topic(gateway: str) -> str:
    """Where the collectors confirm to gateway `gateway` (its ACL lets only collectors publish here)."""
    return f"{GATEWAY_PREFIX}{check_name('gateway', gateway)}{CONFIRM_SUFFIX}"


def gateway_of_confirm_topic(topic: str) -> str | None:
    """The gateway id of a confirm topic, or None when `topic` is not one."""
    if not (topic.startswith(GATEWAY_PREFIX) and topic.endswith(CONFIRM_SUFFIX)):
        return None
    gateway = topic[len(GATEWAY_PREFIX) : -len(CONFIRM_SUFFIX)]
    try:
        return check_name("gateway", gateway)
    except TopicError:
        return None


def spool_ref(token: int, spool_id: int) -> str:
    """The `tonle-spool` property value of a message."""
    return f"{token}:{spool_id}"


def parse_spool_ref(gateway: str | None, value: str | None) -> SpoolRef | None:
    """The spool reference a message carries, or None when it carries none (a third-party device).

    A malformed reference is treated as none: the message is still stored, it just cannot be
    confirmed, and its gateway sends it again, which storage absorbs.
    """
    if not gateway or not value:
        return None
    token, sep, ident = value.partition(":")
    if not sep or not token.isdigit() or not ident.isdigit():
        return None
    tok, i = int(token), int(ident)
    if not (0 <= tok < 2**63 and 1 <= i < 2**63):
        return None
    try:
        check_name("gateway", gateway)
    except TopicError:
        return None
    return SpoolRef(gateway, tok, i)


def id_ranges(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted inclusive ranges covering exactly `ids` (duplicates allowed)."""
    out: list[tuple[int, int]] = []
    for i in sorted(set(ids)):
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def ids_of(ranges: Sequence[tuple[int, int]]) -> Iterator[int]:
    """Every id in `ranges` (for small sets; the spool deletes ranges without expanding them)."""
    for first, last in ranges:
        yield from range(first, last + 1)


def encode_confirm(msg: Confirm) -> bytes:
    return _ENCODER.encode(msg)


def decode_confirm(data: bytes) -> Confirm:
    """Decode and check a confirmation; raise ValueError saying what is wrong."""
    try:
        msg = _DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"bad confirmation: {exc}") from exc
    if msg.v != 1:
        raise ValueError(f"bad confirmation: version {msg.v} is not 1")
    for name, ranges in (("stored", msg.stored), ("held", msg.held)):
        if len(ranges) > MAX_RANGES:
            raise ValueError(f"bad confirmation: {len(ranges)} {name} ranges, at most {MAX_RANGES}")
        for first, last in ranges:
            if first > last:
                raise ValueError(f"bad confirmation: {name} range [{first}, {last}] is backwards")
    return msg
