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
Kind = Literal["telemetry", "state", "count", "event", "status", "health", "cmd", "cmd/ack", "alert"]
KINDS: tuple[str, ...] = get_args(Kind)
MAX_NAME_LEN = 64
LEVELS = ("site", "area", "line", "machine")


class TopicError(ValueError):
    """A topic or a name in it breaks the namespace rules."""


def check_name(level: str, value: str) -> str:
    """Return `value` if it is a safe name for `level`, else raise TopicError saying why."""
    if not isinstance(value, str) or not value:
        raise TopicError(f"{level} name is empty; give every {level} a name")
    if len(value) > MAX_NAME_LEN:
        raise TopicError(f"{level} name {value[:20]!r}... is longer than {MAX_NAME_LEN} characters")
    for ch in value:
        if ch in "/+#\\":
            raise TopicError(f"{level} name {value!r} contains {ch!r}; use letters, digits, - or _")
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise TopicError(
                f"{level} name {value!r} contains a control or invisible character "
                f"(U+{ord(ch):04X}); remove it"
            )
    if value != value.strip():
        raise TopicError(f"{level} name {value!r} starts or ends with a space; remove it")
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
            raise TopicError(f"unknown message kind {kind!r}; expected one of {', '.join(KINDS)}")
        return f"{ROOT}/{self.site}/{self.area}/{self.line}/{self.machine}/{kind}"

    def tags(self) -> dict[str, str]:
        return {"site": self.site, "area": self.area, "line": self.line, "machine": self.machine}


def parse_topic(topic: str) -> tuple[MachineAddress, str]:
    """Split a topic into the machine address and the kind, or raise TopicError."""
    parts = topic.split("/")
    if len(parts) < 6 or parts[0] != ROOT:
        raise TopicError(f"topic {topic!r} is not tonle/<site>/<area>/<line>/<machine>/<kind>")
    kind = "/".join(parts[5:])
    if kind not in KINDS:
        raise TopicError(f"topic {topic!r} has unknown kind {kind!r}")
    return MachineAddress(*parts[1:5]), kind


def subscription(kind: str, site: str = "+", share_group: str | None = None) -> str:
    """Topic filter for one kind across the plant, optionally as an MQTT v5 shared subscription."""
    filt = f"{ROOT}/{site}/+/+/+/{kind}"
    return f"$share/{share_group}/{filt}" if share_group else filt
