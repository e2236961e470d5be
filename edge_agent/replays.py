"""Points a device hands out again after a reconnect, kept out of the spool the second time.

An OPC UA subscription opens with each node's current value and the time that value
changed, so a gateway that reconnects, or restarts after a power cut, is handed the last
values again with the same timestamps. In InfluxDB they are the same points (same series,
same time): spooling them again would store nothing new, but it would count them twice
(the sequence numbers, the collector's completeness, the demo's `lost`). So, for the
machines of sources that say `replays_on_reconnect`, the agent remembers the newest
timestamp it spooled per machine and field (and per machine for state and count), in the
spool's state, in the same transaction as the readings, and drops a reading whose
timestamp equals the one remembered for its key.

Only an exact repeat is dropped. A reading older than the remembered time is kept: it is
a different point (a device whose clock went back, a late queue), and dropping it could
lose data; a reading newer than it is new data. State and count are events, published
only when they change (as the source does within one process): the state last spooled and
the counters last spooled are remembered too, and a new process's first state or count
that repeats them is not a change, whatever its time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tonle.contract.payloads import MACHINE_STATES
from tonle.sources.base import Count, Reading, Sample, StateChange

__all__ = ["ReplayGuard"]

_PREFIX = "last/"


class ReplayGuard:
    """The newest timestamp spooled per (machine, field | "state" | "count") of the guarded machines."""

    def __init__(self, machines: Iterable[str], state: Mapping[str, int] | None = None) -> None:
        self.machines = frozenset(machines)
        self._last: dict[str, int] = {k: v for k, v in (state or {}).items() if k.startswith(_PREFIX)}
        self.dropped = 0  # readings (or a sample's fields) not spooled because they were repeats

    def filter(self, readings: Sequence[Reading]) -> list[Reading]:
        """The readings less the repeats, remembering the newest timestamp of each key kept.

        Call `state()` after it and save that with the spooled readings; on a failed spool
        write, put the saved state back with `restore`.
        """
        if not self.machines:
            return list(readings)
        out: list[Reading] = []
        for r in readings:
            if r.machine not in self.machines:
                out.append(r)
            elif isinstance(r, Sample):
                kept = {f: v for f, v in r.fields.items() if self._fresh(f"{r.machine}/f/{f}", r.ts_ns)}
                self.dropped += len(r.fields) - len(kept)
                if len(kept) == len(r.fields):
                    out.append(r)
                elif kept:
                    out.append(Sample(r.machine, r.ts_ns, kept, r.seq))
            elif isinstance(r, StateChange | Count):
                if self._changed(r):
                    out.append(r)
                else:
                    self.dropped += 1
            else:
                out.append(r)
        return out

    def _fresh(self, key: str, ts: int) -> bool:
        key = _PREFIX + key
        last = self._last.get(key)
        if last == ts:
            return False
        if last is None or ts > last:
            self._last[key] = ts
        return True

    def _changed(self, r: StateChange | Count) -> bool:
        """A state or count that is new: neither at the time last spooled nor the same as it."""
        if isinstance(r, StateChange):
            kind, value = "state", {"is": MACHINE_STATES.index(r.state)}
        else:
            kind, value = "count", {"total": r.total, "good": r.good}
        at = f"{_PREFIX}{r.machine}/{kind}"
        was = {k: self._last.get(f"{at}_{k}") for k in value}
        if self._last.get(at) == r.ts_ns or was == value:
            return False
        if r.ts_ns > self._last.get(at, r.ts_ns - 1):
            self._last[at] = r.ts_ns
            self._last.update({f"{at}_{k}": v for k, v in value.items()})
        return True

    def state(self) -> dict[str, int]:
        return dict(self._last)

    def restore(self, state: Mapping[str, int]) -> None:
        self._last = dict(state)
