"""Test plumbing: the in-process rig of the application layer (`tonle.app.rig`), under its old name."""

from tonle.app.line_run import LineRun
from tonle.app.rig import WAIT_S, config_for, count, running_collector, wait_for

__all__ = ["WAIT_S", "assert_nothing_lost", "config_for", "count", "running_collector", "wait_for"]

# What a line run stores per sample, each with the device's sequence number.
MEASUREMENTS = ("telemetry", "state", "production")


async def assert_nothing_lost(run: LineRun) -> None:
    """Every sample the agent spooled is stored exactly once per sequence number, and the spool is empty."""
    stats = run.agent.stats
    for measurement in MEASUREMENTS:
        published = sum(n for (_, meas), n in stats.samples.items() if meas == measurement)
        stored = await count(run.q, f"SELECT count(seq) FROM {measurement}")
        assert stored == published, f"{measurement}: {published} published, {stored} stored"
        rows = await run.q.query(f"SELECT seq FROM {measurement} GROUP BY machine")
        for s in rows:
            seqs = sorted(r[1] for r in s.values)
            assert seqs == list(range(len(seqs))), f"{measurement} {s.tags['machine']}: holes"
    assert run.agent.spool.depth == 0
    assert run.agent.spool.dropped == 0
