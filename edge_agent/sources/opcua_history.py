"""What a machine did while the gateway could not see it, read back from its server's history.

A subscription only hands out each node's value *now*: a short stop, a speed change or the
values of a cable pulled for ten minutes would be gone. Many servers keep a history of their
values (OPC UA Part 11, HistoryRead); where the machine's does, a new session first reads each
node's raw history from the newest time the gateway saw for it (within `backfill_s`), so the
gap is filled with the values as they were, at their own times, before the subscription
starts again. After a gateway restart the newest times come from the spool (the agent's
replay guard, through `OpcUaSource.resume`). A server without history for a node says so
with a status code; that node is left out, said once per session in the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from asyncua import Node, ua

from edge_agent.sources.opcua_config import OpcUaDeviceConfig, OpcUaNodeConfig
from edge_agent.sources.opcua_link import to_value
from edge_agent.sources.opcua_readings import MachineMap, Value, merge_samples, seen_key
from tonle.sources.base import Reading

__all__ = ["History", "history_readings", "read_history"]


@dataclass
class History:
    """Each node's values since the gateway last saw it, oldest first, and the nodes without history."""

    values: list[tuple[int, OpcUaNodeConfig, Value]] = field(default_factory=list)
    without: dict[str, str] = field(default_factory=dict)  # field -> the server's reason


async def read_history(
    cfg: OpcUaDeviceConfig, nodes: list[tuple[OpcUaNodeConfig, Node]], seen: dict[str, int], now_ns: int
) -> History:
    """Raw history of the nodes the gateway has seen before, from then (at most `backfill_s` ago)."""
    out = History()
    earliest = now_ns - int(cfg.backfill_s * 1e9)
    for n, node in nodes:
        since = seen.get(seen_key(n))
        if since is None:
            continue  # never seen: there is no gap to fill, the subscription's first value starts it
        start = datetime.fromtimestamp(max(since, earliest) / 1e9, UTC)
        try:
            got = await node.read_raw_history(start, None, cfg.backfill_max_values)
        except ua.UaStatusCodeError as exc:
            out.without[n.field] = ua.StatusCode(exc.code).name
            continue
        for dv in got:
            v = to_value(dv)
            stamp = v.source_ns if cfg.timestamp == "source" else v.server_ns
            ts = stamp or v.source_ns or v.server_ns
            if ts is not None:
                out.values.append((ts, n, v))
    out.values.sort(key=lambda item: item[0])
    return out


def history_readings(machine: MachineMap, history: History) -> list[Reading]:
    """The readings of the history in time order: a sample per time, state changes, and a count per
    time at which a counter moved (once both counters of that time are in)."""
    out: list[Reading] = []
    counted = False
    values = history.values
    for i, (ts, node, value) in enumerate(values):
        readings, _problem = machine.readings(node, value, ts)
        out.extend(readings)
        counted |= node.role in ("count_total", "count_good")
        if counted and (i + 1 == len(values) or values[i + 1][0] != ts):
            out += machine.take_count()
            counted = False
    return merge_samples(out)
