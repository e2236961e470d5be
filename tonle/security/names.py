"""Names that look alike: the UTS #39 confusable skeleton, after NFKC.

A dashboard shows names, not code points: `ѕm01` (Cyrillic dze), `ｓｍ01` (full width) and
`sm01` with a combining mark all read as `sm01` to a supervisor. A plant that lets such a
name in gets two machines that look like one, and a command or a figure can go to the wrong
one. So before a new site, line or machine name is accepted it is compared, by skeleton, with
the names already in use, and refused with both names if they collide.

The skeleton is UTS #39's: NFD, each character replaced by its prototype from Unicode's
confusables table (`tonle/data/confusables.txt.gz`, see its PROVENANCE), NFD again, applied
until nothing changes; NFKC first folds compatibility forms (full width, ligatures), and
default-ignorable characters are dropped, since they print as nothing.
"""

from __future__ import annotations

import functools
import gzip
import unicodedata
from collections.abc import Iterable
from importlib import resources

__all__ = ["Confusable", "confusable_with", "skeleton"]

_DATA = "confusables.txt.gz"
# Default-ignorable code points (UAX #44): they render as nothing, so they cannot tell names apart.
_IGNORABLE = frozenset(
    [
        *(0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0),
        *range(0x180B, 0x1810),
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
        *range(0xFE00, 0xFE10),
    ]
)


@functools.cache
def _table() -> dict[int, str]:
    text = resources.files("tonle.data").joinpath(_DATA).read_bytes()
    table: dict[int, str] = {}
    for line in gzip.decompress(text).decode("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        source, prototype = line.split(";")
        table[int(source, 16)] = "".join(chr(int(cp, 16)) for cp in prototype.split())
    return table


def skeleton(name: str) -> str:
    """The string two names share when a person could not tell them apart (not for display)."""
    table = _table()
    s = unicodedata.normalize("NFKC", name)
    for _ in range(4):  # prototypes may map again; UTS #39 skeletons reach a fixed point quickly
        s = unicodedata.normalize("NFD", s)
        nxt = "".join(table.get(ord(c), c) for c in s if ord(c) not in _IGNORABLE)
        nxt = unicodedata.normalize("NFD", nxt)
        if nxt == s:
            break
        s = nxt
    return s


class Confusable(ValueError):
    """A new name looks like one already in use; `name` and `existing` are both kept."""

    def __init__(self, level: str, name: str, existing: str) -> None:
        self.level, self.name, self.existing = level, name, existing
        super().__init__(
            f"{level} name {name!r} looks like the existing {level} {existing!r} "
            f"(code points {_points(name)} against {_points(existing)}); "
            f"use {existing!r} itself, or a name that reads differently"
        )


def confusable_with(level: str, name: str, existing: Iterable[str]) -> None:
    """Raise Confusable if `name` looks like one of `existing` without being the same string."""
    mine = skeleton(name)
    for other in existing:
        if other != name and skeleton(other) == mine:
            raise Confusable(level, name, other)


def _points(s: str) -> str:
    return " ".join(f"U+{ord(c):04X}" for c in s)
