"""The ISA-95 style topic namespace: tonle/{site}/{area}/{line}/{machine}/{kind}.

Names come from technicians' config files and from devices, so they are
validated here once: a name may hold spaces, commas, `=` or any unicode letter
(line protocol escaping makes them harmless), but never an MQTT wildcard, a
slash, a control character, or more than 64 characters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "KINDS",
    "ROOT",
    "Kind",
    "MachineAddress",
    "TopicError",
    "check_name",
    "parse_topic",
    "subscription",
]

ROOT = "tonle"
Kind = Literal[
    "telemetry",
    "state",
    "count",
    "event",
    "status",
    "health",
    "cmd",
    "cmd/ack",
    "alert",
    "defect",  # tonle.contract.floor: what people on the floor send
    "andon/ack",
]
KINDS: tuple[str, ...] = get_args(Kind)
MAX_NAME_LEN = 64
LEVELS = ("site", "area", "line", "machine")


class TopicError(ValueError):
    """A topic or a name in it breaks the namespace rules.

    The message reads `<category>: <what is wrong and how to fix it>`; the
    category (e.g. `bad machine name`) names no value, so it can key a counter
    without letting hostile input grow the set of keys.
    """

    @property
    def category(self) -> str:
        return str(self).split(":", 1)[0]


# Unicode categories that are never part of a name someone typed on purpose:
# control characters (newline, tab, DEL, C1), invisible format characters (zero
# width space, BOM, bidi overrides: a name that *looks* like S01 but is not),
# surrogates, private use, unassigned code points, line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def check_name(level: str, value: str) -> str:
    """Return `value` if it is a safe name for `level`, else raise TopicError saying why.

    Spaces, commas, `=`, quotes and any visible unicode are allowed: line
    protocol escaping keeps them in their own series. What is refused is what
    MQTT or line protocol cannot carry safely (wildcards, `/`, a backslash,
    control characters) and what a person cannot see (invisible characters,
    leading or trailing spaces).
    """
    category = f"bad {level} name"
    if not isinstance(value, str) or not value:
        raise TopicError(f"{category}: the {level} name is empty; give every {level} a name")
    if len(value) > MAX_NAME_LEN:
        raise TopicError(
            f"{category}: {value[:20]!r}... is {len(value)} characters; shorten it to at most {MAX_NAME_LEN}"
        )
    for ch in value:
        if ch in "/+#\\":
            raise TopicError(f"{category}: {value!r} contains {ch!r}; use letters, digits, - or _ instead")
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise TopicError(
                f"{category}: {value!r} contains a control or invisible character "
                f"(U+{ord(ch):04X}); remove it"
            )
    if value != value.strip():
        raise TopicError(f"{category}: {value!r} starts or ends with a space; remove it")
    return value


@dataclass(frozen=True, slots=True)
class MachineAddress:
    """Where a machine sits in the plant; also the tag set of every point it produces."""

    site: str
    area: str
    line: str
    machine: str

    def __post_init__(self) -> None:
        for level in LEVELS:
            check_name(level, getattr(self, level))

    def topic(self, kind: Kind) -> str:
        if kind not in KINDS:
            raise TopicError(f"unknown kind: {kind!r} is not one of {', '.join(KINDS)}")
        return f"{ROOT}/{self.site}/{self.area}/{self.line}/{self.machine}/{kind}"

    def tags(self) -> dict[str, str]:
        return {"site": self.site, "area": self.area, "line": self.line, "machine": self.machine}


def parse_topic(topic: str) -> tuple[MachineAddress, str]:
    """Split a topic into the machine address and the kind, or raise TopicError."""
    parts = topic.split("/")
    if len(parts) < 6 or parts[0] != ROOT:
        raise TopicError(
            f"bad topic: {topic[:200]!r} is not {ROOT}/<site>/<area>/<line>/<machine>/<kind>; "
            "check the device's topic settings"
        )
    kind = "/".join(parts[5:])
    if kind not in KINDS:
        raise TopicError(
            f"unknown kind: topic {topic[:200]!r} ends in {kind[:40]!r}, not one of {', '.join(KINDS)}"
        )
    return MachineAddress(*parts[1:5]), kind


def subscription(kind: str, site: str = "+", share_group: str | None = None) -> str:
    """Topic filter for one kind across the plant, optionally as an MQTT v5 shared subscription."""
    filt = f"{ROOT}/{site}/+/+/+/{kind}"
    return f"$share/{share_group}/{filt}" if share_group else filt
