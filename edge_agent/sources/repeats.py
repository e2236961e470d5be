"""The checks every mapped device list shares: a name given twice, a counter pair half set.

A Modbus register list, an OPC UA node list and a plain-MQTT field list each map items onto
fields, roles and actions; the same mistakes (two items on one field, two on one role, one
piece counter without the other) get the same check and the same kind of sentence. The
sentences stay each list's own (a register, a node) so a technician reads the word of the
file in front of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from tonle.config.problems import Problem
from tonle.messages import _

__all__ = ["half_count", "repeated"]


def repeated(
    keys: Sequence[str],
    where: Callable[[int], str],
    said: str,
    fix: str,
    skip: Iterable[str] = (),
) -> list[Problem]:
    """One Problem at `where(i)` for each key an earlier item already has.

    `said` and `fix` are catalogue entries (`N_`) worded with `{name}` (the key) and `{other}`
    (the index of the item that has it first); keys in `skip` may repeat.
    """
    skipped = frozenset(skip)
    first: dict[str, int] = {}
    found: list[Problem] = []
    for i, key in enumerate(keys):
        if key in skipped:
            continue
        if key in first:
            words = {"name": key, "other": first[key]}
            found.append(Problem(where(i), _(said).format(**words), _(fix).format(**words)))
        first.setdefault(key, i)
    return found


def half_count(roles: Iterable[str], key: str, said: str) -> list[Problem]:
    """A Problem at `key` when only one of the two piece counters is mapped (`said`: `N_`)."""
    have = set(roles)
    if ("count_total" in have) == ("count_good" in have):
        return []
    return [Problem(key, _(said), _("a count needs both (the published count carries both)"))]
