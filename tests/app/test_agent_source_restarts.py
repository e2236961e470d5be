"""A device that cannot be opened does not take the gateway down: plain warning, backoff, retry.

The agent restarts a stopped source under `SOURCE_RESTART_POLICY` (tonle.io.backoff, 1 s
doubling to 30 s); a failure a technician can fix (a TonleError such as DeviceError)
is one plain warning with the fix, a driver bug keeps its traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent import agent as agent_module
from edge_agent.agent import Agent
from tonle.config import AgentConfig, MqttConfig
from tonle.errors import DeviceError
from tonle.io.backoff import BackoffPolicy
from tonle.io.clock import WallClock
from tonle.io.spool import Spool
from tonle.messages import N_
from tonle.sources.base import SourceHealth


class UnpluggedNode:
    """A serial node whose USB cable is out twice, then a node that fails by a bug, then quiet."""

    name = "node-S01"

    def __init__(self) -> None:
        self.health = SourceHealth()
        self.runs = 0
        self.quiet = asyncio.Event()

    @property
    def machines(self) -> list[tuple[str, str]]:
        return [("S01", "lockstitch")]

    async def run(self, sink: Callable[..., None]) -> None:
        self.runs += 1
        if self.runs <= 2:
            try:
                raise FileNotFoundError(2, "No such file or directory", "/dev/ttyNOPE")
            except OSError as exc:
                raise DeviceError(
                    N_("cannot open serial port {port} of {device}: {reason}"),
                    fix=N_("plug the node in, or correct the port in the gateway config"),
                    device=self.name,
                    port="/dev/ttyNOPE",
                    reason=exc.strerror,
                ) from exc
        if self.runs == 3:
            raise KeyError("a driver bug")
        self.quiet.set()
        await asyncio.Event().wait()

    async def commit(self) -> None:
        return None

    async def apply(
        self, machine: str, action: str, value: float | None, *, cmd_id: str | None = None
    ) -> str:
        return ""


def test_a_device_that_cannot_be_opened_is_retried_with_backoff_and_a_plain_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = BackoffPolicy(base_s=0.01, max_s=0.02)
    monkeypatch.setattr(agent_module, "SOURCE_RESTART_POLICY", fast)
    node = UnpluggedNode()
    spool = Spool(tmp_path / "spool.sqlite", 2**20)
    agent = Agent(MqttConfig(port=1, tls=False), AgentConfig(id="gw-t"), [node], WallClock(), spool)

    async def body() -> None:
        task = asyncio.create_task(agent._keep_running(node))  # type: ignore[arg-type]
        async with asyncio.timeout(30):
            await node.quiet.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.WARNING, logger="tonle.agent"):
        asyncio.run(body())
    spool.close()
    assert node.runs == 4 and agent.stats.source_crashes == 3
    plain = [r for r in caplog.records if "/dev/ttyNOPE" in r.getMessage()]
    assert len(plain) == 2 and all(r.exc_info is None for r in plain)
    assert "plug the node in" in plain[0].getMessage() and "retrying in" in plain[0].getMessage()
    bug = [r for r in caplog.records if "stopped with an error" in r.getMessage()]
    assert len(bug) == 1 and bug[0].exc_info is not None  # a bug keeps its traceback


def test_source_restarts_wait_one_to_thirty_seconds() -> None:
    p = agent_module.SOURCE_RESTART_POLICY
    assert (p.base_s, p.max_s) == (1.0, 30.0)
