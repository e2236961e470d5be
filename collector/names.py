"""Look-alike names at the door: a new name that reads like one already stored is refused.

A site, area, line or machine name arriving in a topic is compared with the names already
known at the same level under the same parent (the machines of that line, the lines of that
area...): `ѕm01` (Cyrillic dze) next to `sm01` would be a second machine that looks like the
first on every dashboard. Known means stored: the tag values already in InfluxDB, read once
at start (`load`, so a restart does not forget), plus every name accepted since. The first of
two look-alikes wins; the second goes to the dead letters with both names and the fix.

Fast: a topic whose whole address was accepted once is a set lookup; only a new name costs
a skeleton (`tonle.security.names`, cached).
"""

from __future__ import annotations

import asyncio

from tonle.contract import MachineAddress, parse_topic
from tonle.io.influxql import InfluxQLClient, quote_ident, quote_str
from tonle.security.names import Confusable, LookAlikes, load_table

__all__ = ["LEVELS", "NameGuard"]

LEVELS = ("site", "area", "line", "machine")
MAX_TOPICS = 200_000  # the fast path's memory; past it the set starts again (names stay known)
LOAD_CONCURRENCY = 8  # SHOW TAG VALUES queries in flight while loading (one per parent)

Parent = tuple[str, ...]


def _where(parent: Parent) -> str:
    """`site/area/line 'p/sewing/L1'`: the parent of a name, as a reader finds it in a topic."""
    return f"{'/'.join(LEVELS[: len(parent)])} {'/'.join(parent)!r}" if parent else ""


class NameGuard:
    """The names known at each level, by parent; `admit` refuses a look-alike of one of them."""

    def __init__(self) -> None:
        self._known: dict[Parent, LookAlikes] = {}
        self._admitted: set[str] = set()  # topics whose every name is known: no skeleton needed
        load_table()  # at start, not on the first message

    def known(self, *parent: str) -> set[str]:
        """The names known directly under `parent` (no parent: the sites)."""
        found = self._known.get(parent)
        return set(found) if found is not None else set()

    def count(self) -> int:
        """How many names are known, at every level."""
        return sum(len(k) for k in self._known.values())

    def admit(self, topic: str) -> None:
        """Accept the names of `topic` (learning the new ones), or raise Confusable naming both.

        Call it on a topic `parse_topic` accepts. Nothing is learnt from a refused topic, not
        even its parents' names.
        """
        if topic in self._admitted:
            return
        addr, _ = parse_topic(topic)
        names = _names(addr)
        for depth, level in enumerate(LEVELS):
            known = self._known.get(names[:depth])
            if known is not None and (other := known.clash(names[depth])) is not None:
                raise Confusable(level, names[depth], other, _where(names[:depth]))
        self.learn(names)
        if len(self._admitted) >= MAX_TOPICS:
            self._admitted.clear()
        self._admitted.add(topic)

    def learn(self, names: tuple[str, ...]) -> None:
        """Know `names` (site, area, ...: a path from the top), look-alikes or not."""
        for depth in range(len(names)):
            known = self._known.setdefault(names[:depth], LookAlikes())
            if names[depth] not in known:
                known.add(names[depth])

    async def load(self, reader: InfluxQLClient) -> int:
        """Learn the names stored in the database, level by level; returns how many.

        `SHOW TAG VALUES` per parent (the areas of a site, the lines of an area...): the tag
        values alone would not say which line a machine is on. Raises InfluxQLError.
        """
        slots = asyncio.Semaphore(LOAD_CONCURRENCY)

        async def children(parent: Parent) -> list[Parent]:
            async with slots:
                values = await _tag_values(reader, LEVELS[len(parent)], parent)
            return [(*parent, v) for v in values]

        parents: list[Parent] = [()]
        count = 0
        for _level in LEVELS:
            found = await asyncio.gather(*(children(p) for p in parents))
            parents = [path for paths in found for path in paths]
            for path in parents:
                self.learn(path)
            count += len(parents)
        return count


def _names(addr: MachineAddress) -> tuple[str, str, str, str]:
    return (addr.site, addr.area, addr.line, addr.machine)


async def _tag_values(reader: InfluxQLClient, key: str, parent: Parent) -> list[str]:
    """The values of tag `key` in any measurement, on series under `parent` (sorted, once each)."""
    where = " AND ".join(f"{quote_ident(k)} = {quote_str(v)}" for k, v in zip(LEVELS, parent, strict=False))
    q = f"SHOW TAG VALUES WITH KEY = {quote_ident(key)}" + (f" WHERE {where}" if where else "")
    values = {str(row[1]) for s in await reader.query(q) for row in s.values}
    return sorted(v for v in values if v)
