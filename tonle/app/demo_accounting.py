"""What the demo published, what InfluxDB holds, and the final summary that proves nothing was lost.

The collector is its own process, so its figures are read from its `pipeline` rows, as a dashboard does.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytics.line import LineKey
from collector.completeness import total_missing
from firmware_sim.line import LineSpec
from tonle.app.demo_analytics import AnalyticsRuns
from tonle.app.demo_plant import (
    NS,
    CollectorProcess,
)
from tonle.config import TonleConfig
from tonle.errors import ServiceError
from tonle.io.influxql import InfluxQLClient, InfluxQLError, quote_str
from tonle.io.spool import Spool
from tonle.messages import N_, _
from tonle.schema import COMMANDS, PIPELINE, PRODUCTION, STATE, STORED_AS, TELEMETRY

log = logging.getLogger("tonle.app.demo")
# After the run, how long the collector may take to store the last samples (a
# drill leaves a backlog in the broker or the collector's spool).
DRAIN_TIMEOUT_S = 90.0
# A fresh collector process imports numpy and paho, creates the database and
# subscribes before it writes its first health row.
COLLECTOR_READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Spooled:
    """What the agent's spool says at the end: samples per (machine, measurement), messages, depth."""

    samples: dict[tuple[str, str], int]
    messages: int  # messages ever spooled (the newest spool id: ids never go back)
    depth: int  # still waiting for a confirmation


def spooled_counts(path: Path) -> Spooled:
    """Samples the agent made durable, per (machine, measurement), from its persisted counters."""
    kinds = {kind: STORED_AS[kind].name for kind in ("telemetry", "state", "count")}
    with Spool(path, max_bytes=2**40) as spool:
        state, depth, last_id = spool.load_state(), spool.depth, spool.last_id
    out: dict[tuple[str, str], int] = {}
    for key, n in state.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "seq" and parts[2] in kinds:
            out[(parts[1], kinds[parts[2]])] = n
    return Spooled(out, last_id, depth)


async def stored_counts(q: InfluxQLClient, spec: LineSpec, since_ns: int) -> dict[tuple[str, str], int]:
    site = quote_str(spec.site)
    out: dict[tuple[str, str], int] = {}
    for meas in (TELEMETRY.name, STATE.name, PRODUCTION.name):
        for s in await q.query(
            f"SELECT count(seq) AS n FROM {meas} WHERE site = {site} AND time >= {since_ns} GROUP BY machine"
        ):
            out[(s.tags["machine"], meas)] = int(s.values[0][1])
    return out


def missing(published: dict[tuple[str, str], int], stored: dict[tuple[str, str], int]) -> int:
    """Samples published but not (yet) in the database: the summary's `lost` once the collector is done."""
    return sum(max(0, n - stored.get(key, 0)) for key, n in published.items())


async def drain(
    q: InfluxQLClient, spec: LineSpec, published: dict[tuple[str, str], int], collector: CollectorProcess
) -> None:
    """Wait until the database holds every sample the devices published, or say why not."""
    start = time.monotonic()
    deadline, note = start + DRAIN_TIMEOUT_S, start + 10
    target, left = sum(published.values()), -1
    while time.monotonic() < deadline:
        with contextlib.suppress(InfluxQLError):
            left = missing(published, await stored_counts(q, spec, 0))
        if left == 0:
            log.info(
                _("the database holds all {target} samples ({seconds:.0f}s after the run)").format(
                    target=target, seconds=time.monotonic() - start
                )
            )
            return
        if not collector.running:
            log.error(
                _(
                    "the collector stopped (exit code {code}) with {left} of {target} samples not stored; "
                    "its log {log} ends with:\n{tail}"
                ).format(
                    code=collector.exit_code,
                    left=left,
                    target=target,
                    log=collector.log,
                    tail=collector.tail(),
                )
            )
            return
        if time.monotonic() >= note:
            log.info(
                _("waiting for the collector to store the last {left} of {target} samples").format(
                    left=left, target=target
                )
            )
            note += 10
        await asyncio.sleep(0.5)
    log.warning(
        _(
            "after {seconds:.0f}s the database still misses {left} of the {target} samples published: the "
            "collector is stuck or lost them; look for errors in {log} (and the broker's log in mosquitto/)"
        ).format(
            seconds=DRAIN_TIMEOUT_S,
            left=left if left >= 0 else _("(database unreachable)"),
            target=target,
            log=collector.log,
        )
    )


class CollectorHealth:
    """The collector's own counters, read back from its rows in the `pipeline` measurement.

    The collector is a separate process that a drill may kill, so the demo reads
    what it did the way a dashboard does. Its counters restart at zero with the
    process: each instance's rows are split at the process starts the demo
    recorded, the last row of each run is what that run did, and totals add the
    runs (and the instances) up. Fields are read by name; a missing one is 0.
    """

    # Cumulative counters the summary reports (levels such as queue_depth are read with `gauge`).
    COUNTERS = (
        "messages",
        "points",
        "batches",
        "dead_letters",
        "rejected_points",
        "write_errors",
        "spooled_points",
        "replayed_points",
        "confirms_sent",
        "messages_confirmed",
        "duplicates_absorbed",
    )

    def __init__(self, since_ns: int) -> None:
        self.since_ns = since_ns
        self.starts_ns: list[int] = []
        self.last_row_ns = 0
        self.reachable = True
        self._runs: dict[tuple[str, int], dict[str, float]] = {}  # (instance, run) -> last values
        self._latest: dict[str, tuple[int, dict[str, float]]] = {}  # instance -> (time, last values)

    def process_started(self, t_ns: int) -> None:
        self.starts_ns.append(t_ns)

    async def refresh(self, q: InfluxQLClient) -> bool:
        """Read the rows written since the last refresh; False if the database did not answer."""
        try:
            series = await q.query(
                f"SELECT * FROM {PIPELINE.name} WHERE component = 'collector' "
                f"AND time > {max(self.since_ns, self.last_row_ns)} GROUP BY instance"
            )
        except InfluxQLError:
            self.reachable = False
            return False
        self.reachable = True
        for s in series:
            self._add(s.tags.get("instance", ""), s.columns, s.values)
        return True

    def _add(self, instance: str, columns: list[str], rows: list[list[Any]]) -> None:
        for row in rows:
            t = int(row[0])
            values = {
                c: float(v)
                for c, v in zip(columns[1:], row[1:], strict=True)
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            run = (instance, bisect.bisect_right(self.starts_ns, t))
            self._runs[run] = {**self._runs.get(run, {}), **values}
            if t >= self._latest.get(instance, (0, {}))[0]:
                self._latest[instance] = (t, values)
            self.last_row_ns = max(self.last_row_ns, t)

    def total(self, name: str) -> int:
        """A cumulative counter, summed over process runs and instances."""
        return int(sum(v.get(name, 0.0) for v in self._runs.values()))

    def gauge(self, name: str) -> float | None:
        """A level (queue or spool depth) now: the newest value of each instance, summed."""
        values = [v[name] for _, v in self._latest.values() if name in v]
        return sum(values) if values else None

    def reports(self, name: str) -> bool:
        """Whether any health row carried this field (versions of the collector differ)."""
        return any(name in v for v in self._runs.values())

    def counters(self) -> dict[str, int]:
        """The counters this collector version reports, by name, for the summary."""
        return {n: self.total(n) for n in self.COUNTERS if self.reports(n)}


async def final_health(
    collector: CollectorProcess, q: InfluxQLClient, live: CollectorHealth, after_ns: int
) -> CollectorHealth:
    """The collector's counters once it has written a health row after the drain, read from scratch.

    Read again from the start of the run: rows a collector held back during a
    database outage may arrive after newer ones.
    """
    health = CollectorHealth(live.since_ns)
    for t in live.starts_ns:
        health.process_started(t)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and collector.running:
        if await live.refresh(q) and live.last_row_ns > after_ns:
            break
        await asyncio.sleep(0.3)
    else:
        log.warning(_("the collector wrote no health row after the run; its counters may be a little behind"))
    await health.refresh(q)
    return health


async def summarize(
    q: InfluxQLClient,
    spec: LineSpec,
    published: dict[tuple[str, str], int],
    spooled: Spooled,
    gateway: dict[str, int],
    collector: CollectorHealth,
    analytics: AnalyticsRuns,
    span_ns: tuple[int, int],
    cfg: TonleConfig,
) -> dict[str, Any]:
    """The summary line: what was published and stored, and what delivery cost (re-sends, duplicates)."""
    start_ns, end_ns = span_ns
    stored = await stored_counts(q, spec, 0)
    res = analytics.current.results.get(LineKey(spec.site, spec.area, spec.line))
    ws = cfg.sim.wearing_station
    ack_rows = await command_acks(q, spec, start_ns)
    # A restarted agent sends what its killed predecessor had sent and not seen confirmed as new.
    resent = gateway.get("messages_resent", 0) + gateway.get("resent_at_restart", 0)
    return {
        "duration_s": round((end_ns - start_ns) / NS, 1),
        "machines": len({m for m, _ in published}),
        "samples_published": sum(published.values()),
        "points_stored": sum(stored.get(key, 0) for key in published),
        "lost": missing(published, stored),
        "still_in_spool": spooled.depth,
        "messages_spooled": spooled.messages,
        "resent": resent,
        "resend_overhead": round(resent / spooled.messages, 4) if spooled.messages else 0.0,
        "duplicates_absorbed": collector.total("duplicates_absorbed"),
        "stored_more_than_once": stored_twice(spooled, collector),
        "oee": {spec.line: _round(res.line_oee, 4) if res else None},
        "pieces_per_hour": {spec.line: _round(res.line_pph, 1) if res else None},
        "alerts": analytics.total("alerts_sent"),
        "commands_sent": analytics.total("commands_sent"),
        "commands_acked": sum(1 for r in ack_rows if r["status"] == "applied"),
        "commands": [
            {
                "machine": r["machine"],
                "action": r["action"],
                "status": r["status"],
                "code": r["code"] or "",
                "signer": r["signer"] or "",
            }
            for r in ack_rows
        ],
        "wearing_machine": spec.stations[ws].name if 0 <= ws < len(spec.stations) else None,
        "dead_letters": collector.total("dead_letters"),
        # Reckoned from the stored sequence numbers, as the pipeline dashboard does
        # (collector/completeness.py); the warm-up history is older than the run.
        "seq_gaps": await total_missing(q, start_ns - 2 * 3600 * NS, end_ns + 60 * NS, spec.site),
        "gateway": gateway,
        "collector": collector.counters(),
    }


def stored_twice(spooled: Spooled, collector: CollectorHealth) -> int:
    """Messages the collectors stored (and confirmed) more than once: the re-sends storage absorbed.

    The collector's own `duplicates_absorbed` sees only repeats within one process; this
    counts across restarts: confirmations beyond one per message the gateway spooled. A
    lower bound when a collector was killed (its last second of counts is not reported).
    """
    if spooled.depth:
        return 0  # not every message was confirmed: the excess would hide repeats
    return max(0, collector.total("messages_confirmed") - spooled.messages)


async def command_acks(q: InfluxQLClient, spec: LineSpec, since_ns: int) -> list[dict[str, Any]]:
    """The machines' answers to commands since the run started, as stored (who signed, why refused)."""
    acks = await q.query(
        f"SELECT machine, status, action, detail, code, signer FROM {COMMANDS.name} "
        f"WHERE site = {quote_str(spec.site)} "
        f"AND direction = 'ack' AND time >= {since_ns}"
    )
    return [dict(zip(acks[0].columns, row, strict=True)) for row in acks[0].values] if acks else []


def _round(v: float, digits: int) -> float | None:
    return round(v, digits) if v == v else None


async def wait_for_collector(collector: CollectorProcess, health: CollectorHealth, q: InfluxQLClient) -> None:
    """Wait for the collector's first health row: it has made the database and subscribed.

    The agent starts only then: a message published before the collector's
    first subscription exists has nobody to go to, and the broker drops it.
    """
    started = health.starts_ns[-1]
    deadline = time.monotonic() + COLLECTOR_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not collector.running:
            raise ServiceError(
                N_("the collector stopped while starting (exit code {code})"),
                fix=N_("its log {log} ends with:\n{tail}"),
                code=collector.exit_code,
                log=collector.log,
                tail=collector.tail(),
            )
        if await health.refresh(q) and health.last_row_ns >= started:
            return
        await asyncio.sleep(0.2)
    raise ServiceError(
        N_("the collector wrote no health row within {timeout:.0f}s"),
        fix=N_("check its log {log}:\n{tail}"),
        timeout=COLLECTOR_READY_TIMEOUT_S,
        log=collector.log,
        tail=collector.tail(),
    )
