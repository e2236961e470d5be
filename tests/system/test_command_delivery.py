"""A command reaches its machine exactly once, whatever the broker or the analytics did meanwhile.

What confirms a command is the agent's `cmd/ack` (docs/delivery.md). On the whole loop
(tonle.app.line_run), each loss is forced, not left to a race: the analytics dies holding a
command it published while the broker was down; the broker is killed with its disk before it
could deliver one; the first ack never reaches the analytics. Each time the command is
applied exactly once, its ack stored once, and a restarted service still finds it.

No rule fires by itself on these lines (no wearing bearing, no andon on breakdown): the one
command is the test's, sent through the service's own outbox as a rule's action would be.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.actions import publish_actions
from analytics.inputs import LineKey
from analytics.rules import Action
from tests.helpers import count, wait_for
from tonle.app.line_run import LineRun, line_run
from tonle.app.services import LocalBroker
from tonle.io.influxql import quote_str

pytestmark = pytest.mark.services

NS = 1_000_000_000
QUIET = {"rules": {"andon_on_breakdown": False}}  # the only command is the test's


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker this test may stop, kill and restart (same port; persistence kept or wiped)."""
    b = LocalBroker(folder=tmp_path / "broker", secure=False).start()
    yield b
    b.stop()


def key_of(run: LineRun) -> LineKey:
    a = run.cfg.agent
    return LineKey(a.site, a.area, a.line)


def derate(run: LineRun) -> str:
    """Send a set_speed to the line's second station the way a rule does; returns the command's id.

    To full speed, so that applying it changes nothing the rules could see (a real derate would
    change the vibration the health is computed from).
    """
    machine = run.spec.stations[1].name
    act = Action(machine, "derate", "set_speed", 1.0, "warning", "derate", "test: health 0.55", 0.55)
    outbox = run.analytics.outbox
    before = set(outbox.pending)
    publish_actions(outbox, key_of(run), [act], run.clock.now_ns(), run.cfg.analytics.rules.command_ttl_s)
    (cmd_id,) = set(outbox.pending) - before
    return cmd_id


async def until(what: str, check) -> None:
    async def probe() -> bool:
        return bool(check())

    await wait_for(probe, bool, what)


async def assert_applied_once(run: LineRun, cmd_id: str) -> None:
    """Applied by the machine once; every answer the agent sent for it is the first ack, stored once
    (a repeat is also audited as `replayed`, a point of its own: `replays_audited`)."""
    acks = [a for a in run.agent.acks if a.id == cmd_id and a.code != "replayed"]
    assert acks, "the command never reached the agent"
    assert {(a.ts, a.status, a.detail) for a in acks} == {(acks[0].ts, "applied", acks[0].detail)}
    assert acks[0].detail == "speed set to 100% of nominal"
    assert run.agent.stats.commands["applied"] == 1, run.agent.acks
    where = f"direction = 'ack' AND id = {quote_str(cmd_id)}"
    await run.advance(10)
    query = f"SELECT count(status) FROM commands WHERE {where} AND code != 'replayed'"
    # The ack travels agent -> broker -> collector outside the spool: wait for it to be stored,
    # rather than hope one step of the line was long enough on a loaded machine.
    await wait_for(lambda: count(run.q, query), lambda n: n >= 1, f"the ack of {cmd_id} to be stored")
    await run.settle()
    assert await count(run.q, query) == 1, "the ack is stored once"


def test_a_command_the_analytics_held_when_it_died_with_the_broker_down_is_applied_after_its_restart(
    own_broker, influxdb, unique_name
):
    """Nobody but the analytics ever had it: the database copy it wrote is what brings it back."""

    async def body() -> None:
        async with line_run(
            own_broker, influxdb, unique_name, stations=4, wearing_station=None, analytics=QUIET
        ) as run:
            await run.advance(60)
            await asyncio.to_thread(own_broker.stop)
            cmd_id = derate(run)
            sent = run.analytics.outbox.pending[cmd_id].cmd
            await run.analytics.run_once(run.clock.now_ns())  # the round writes its command to InfluxDB
            await run.analytics.mqtt.__aexit__(None, None, None)  # the service dies: paho's copy is gone
            await asyncio.to_thread(own_broker.start)
            async with run.restarted_analytics() as fresh:
                await run.advance(90)  # 3 rounds: restore, send again, take the ack
                assert fresh.outbox.pending == {}
                assert (fresh.outbox.resent, fresh.outbox.confirmed) == (1, 1)
                # Recovery also restored the rule's latch from that command, at its time.
                assert fresh.rules[key_of(run)].fired_s[(sent_machine(run), "derate")] == sent.ts / NS
                await assert_applied_once(run, cmd_id)

    asyncio.run(body())


def sent_machine(run: LineRun) -> str:
    return run.spec.stations[1].name


def test_a_command_published_as_the_broker_was_killed_with_its_disk_is_applied_exactly_once(
    own_broker, influxdb, unique_name
):
    """The broker dies before the command is on the wire, and comes back with no sessions at all."""

    async def body() -> None:
        async with line_run(
            own_broker, influxdb, unique_name, stations=4, wearing_station=None, analytics=QUIET
        ) as run:
            await run.advance(60)
            cmd_id = derate(run)
            own_broker.kill()  # in this very step of the loop: the command has not been written out
            shutil.rmtree(own_broker.folder / "data")
            await asyncio.to_thread(own_broker.start)
            await run.advance(120)
            assert run.analytics.outbox.pending == {}
            await assert_applied_once(run, cmd_id)

    asyncio.run(body())


def test_a_command_whose_ack_was_lost_is_sent_again_and_answered_with_its_first_ack(
    broker, influxdb, unique_name
):
    """The analytics was not listening yet when the agent answered: it sends the same command
    again; the agent does not apply it again and answers with the first ack, one stored point."""

    async def body() -> None:
        async with line_run(
            broker, influxdb, unique_name, stations=4, wearing_station=None, analytics=QUIET
        ) as run:
            cmd_id = derate(run)  # before the service's first round: it does not listen for acks yet
            await until("the agent to apply it", lambda: any(a.id == cmd_id for a in run.agent.acks))
            await run.advance(30)  # the round listens, then sends it again (no ack seen after 10 s)
            assert run.analytics.outbox.resent == 1
            await until("the agent to answer again", lambda: run.agent.stats.commands["duplicate"] == 1)
            await run.advance(30)
            assert run.analytics.outbox.pending == {}
            assert run.analytics.outbox.confirmed == 1
            acks = [a for a in run.agent.acks if a.id == cmd_id and a.code != "replayed"]
            assert len(acks) == 2 and acks[0] == acks[1]
            await assert_applied_once(run, cmd_id)
            replays = f"direction = 'ack' AND id = {quote_str(cmd_id)} AND code = 'replayed'"
            assert await count(run.q, f"SELECT count(status) FROM commands WHERE {replays}") == 1

    asyncio.run(body())
