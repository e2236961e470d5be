"""Names that look alike: the UTS #39 confusable skeleton, after NFKC, without stray accents.

A dashboard shows names, not code points: `ѕm01` (Cyrillic dze), `ｓｍ01` (full width) and
`sm01` with a combining mark all read as `sm01` to a supervisor. A plant that lets such a
name in gets two machines that look like one, and a command or a figure can go to the wrong
one. So before a new site, line or machine name is accepted it is compared, by skeleton, with
the names already in use, and refused with both names if they collide.

The skeleton is UTS #39's: NFD, each character replaced by its prototype from Unicode's
confusables table (`tonle/data/confusables.txt.gz`, see its PROVENANCE), NFD again. Around it:
- NFKC first folds compatibility forms (full width, ligatures, mathematical letters);
- default-ignorable characters are dropped, since they print as nothing;
- a stray accent is dropped: a generic combining mark (U+0300..U+036F and its sibling blocks)
  left on a Latin, Greek, Cyrillic or common character (a digit, a dash) once NFKC has composed
  what it can. `1` + U+0301 has no precomposed form, so no language writes it: it is noise
  over `sm01`. A letter some language writes (`é`, Vietnamese `ệ`) stays a different letter,
  and a script's own marks (Khmer vowel signs, Thai, Devanagari) are never dropped: Khmer
  names that differ by a vowel sign stay different names.
The steps repeat until nothing changes, so the skeleton of a skeleton is itself.
"""

from __future__ import annotations

import functools
import gzip
import unicodedata
from collections.abc import Iterable, Iterator
from importlib import resources

from tonle.errors import TonleError
from tonle.messages import N_

__all__ = ["Confusable", "LookAlikes", "code_points", "confusable_with", "load_table", "skeleton"]

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
# Combining marks any script may borrow (script Inherited): the accents a spoofer adds.
_ACCENTS = ((0x0300, 0x0370), (0x1AB0, 0x1B00), (0x1DC0, 0x1E00), (0x20D0, 0x2100), (0xFE20, 0xFE30))
# Where those accents were made for: Latin, Greek, Cyrillic and the common characters
# (digits, punctuation, symbols). An accent on a Khmer or Arabic letter is left to UTS #39.
_ACCENTED = ((0x0000, 0x0530), (0x1D00, 0x2C80), (0xA640, 0xA800), (0xAB30, 0xAB70))
_MAX_ROUNDS = 8  # prototypes may map again; in practice two or three rounds reach the fixed point


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


def load_table() -> None:
    """Read the confusables table now (about 30 ms of CPU), not when the first new name arrives."""
    _table()


def _within(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= cp < hi for lo, hi in ranges)


def _unseen(s: str) -> str:
    """`s` (composed) without what a reader cannot see: ignorables, and stray accents."""
    kept: list[str] = []
    base = 0  # the character the next mark sits on (0: none yet, so a leading mark is stray)
    for ch in s:
        cp = ord(ch)
        if cp in _IGNORABLE:
            continue
        if unicodedata.category(ch)[0] != "M":
            base = cp
        elif _within(cp, _ACCENTS) and _within(base, _ACCENTED):
            continue
        kept.append(ch)
    return "".join(kept)


def _round(s: str) -> str:
    table = _table()
    s = unicodedata.normalize("NFD", _unseen(unicodedata.normalize("NFKC", s)))
    return unicodedata.normalize("NFD", "".join(table.get(ord(c), c) for c in s))


@functools.lru_cache(maxsize=65536)
def skeleton(name: str) -> str:
    """The string two names share when a person could not tell them apart (not for display).

    Cached: the collector asks once per new name, the gateway check once per machine.
    """
    s = name
    for _ in range(_MAX_ROUNDS):
        nxt = _round(s)
        if nxt == s:
            break
        s = nxt
    return s


def code_points(s: str) -> str:
    """`U+0455 U+006D ...`: what tells two look-alike names apart, for a person to see."""
    return " ".join(f"U+{ord(c):04X}" for c in s)


class Confusable(TonleError, ValueError):
    """A new name looks like one already in use; `name` and `existing` are both kept.

    `where` (optional) says under what the two names sit ("line 'L1'"), for a reader who
    has many lines with a machine of that name.
    """

    def __init__(self, level: str, name: str, existing: str, where: str = "") -> None:
        super().__init__(
            N_(
                "{level} {name!r} ({name_points}) looks like the existing {level} "
                "{existing!r} ({existing_points}){under}"
            ),
            fix=N_("use {existing!r} itself if it is the same {level}, or a name that reads differently"),
            level=level,
            name=name,
            existing=existing,
            name_points=code_points(name),
            existing_points=code_points(existing),
            under=f" under {where}" if where else "",
        )
        self.level, self.name, self.existing, self.where = level, name, existing, where

    @property
    def category(self) -> str:
        """A reason without the names (`look-alike machine name`): a counter key hostile input cannot grow."""
        return f"look-alike {self.level} name"


class LookAlikes:
    """The names in use at one level under one parent, indexed by skeleton.

    Every name added stays accepted, even two look-alikes that were both in use before the
    check existed; a new name is refused if its skeleton is one of theirs (the first one in
    wins the skeleton).
    """

    __slots__ = ("_names", "_skeletons")

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names: set[str] = set()
        self._skeletons: dict[str, str] = {}
        for name in names:
            self.add(name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names))

    def clash(self, name: str) -> str | None:
        """The name in use that `name` looks like, or None (also None for a name in use)."""
        if name in self._names:
            return None
        other = self._skeletons.get(skeleton(name))
        return other if other is not None and other != name else None

    def add(self, name: str) -> None:
        self._names.add(name)
        self._skeletons.setdefault(skeleton(name), name)


def confusable_with(level: str, name: str, existing: Iterable[str]) -> None:
    """Raise Confusable if `name` looks like one of `existing` without being the same string."""
    mine = skeleton(name)
    for other in existing:
        if other != name and skeleton(other) == mine:
            raise Confusable(level, name, other)
