"""The OPC UA source against a real asyncua server (the simulated pocket-setter).

Data changes carry the server's SourceTimestamp into the spool, a polled node is read
on its own schedule, a restarted server (a new one on the same port) and a link that
goes silent both end in a new session whose subscription delivers again, and a
setpoint is written and read back (or refused when the machine keeps its old value).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from edge_agent.agent import Agent
from edge_agent.sources.opcua import OpcUaSource
from firmware_sim.opcua_machine import OpcUaMachine
from tests.opcua.support import T0_NS, Collector, FreezingProxy, StepClock, running, source, until
from tonle.config import AgentConfig, MqttConfig
from tonle.contract import decode
from tonle.contract.payloads import Telemetry
from tonle.io.clock import WallClock
from tonle.io.spool import Spool
from tonle.sources.base import CommandRefused

SECOND = 1_000_000_000


def _spooled_telemetry(spool: Spool, field: str) -> list[int]:
    stamps: list[int] = []
    for _id, topic, payload in spool.peek(0, 10_000):
        if topic.endswith("/telemetry"):
            msg = decode("telemetry", payload)
            assert isinstance(msg, Telemetry)
            if field in msg.fields:
                stamps.extend(msg.ts if isinstance(msg.ts, list) else [msg.ts])
    return stamps


def test_data_changes_reach_the_spool_stamped_with_the_servers_source_time(tmp_path: Path) -> None:
    async def body() -> None:
        machine_clock = StepClock()
        spool = Spool(tmp_path / "spool.sqlite", 2**22)
        async with OpcUaMachine(machine_clock, running=False) as machine:
            src = source(machine.endpoint)
            agent = Agent(MqttConfig(port=1, tls=False), AgentConfig(id="gw-t"), [src], WallClock(), spool)
            seen = Collector()

            def sink(batch: list) -> None:  # type: ignore[type-arg]
                seen(batch)
                agent.sink(batch)

            async with running(src, sink):
                await until(lambda: bool(seen.samples("speed_ppm")), "the first speed value")
                for k in range(1, 4):
                    machine_clock.tick()
                    await machine.step()
                    want = T0_NS + k * SECOND
                    await until(
                        lambda w=want: any(s.ts_ns == w for s in seen.samples("speed_ppm")), f"step {k}"
                    )
                await agent.flush()
        stamps = _spooled_telemetry(spool, "speed_ppm")
        assert stamps == [T0_NS + k * SECOND for k in range(4)], "each value at its data-change time"
        assert [s.state for s in seen.states()] == ["running"]
        assert seen.states()[0].ts_ns == T0_NS
        counts = seen.counts()
        assert [c.ts_ns for c in counts] == [T0_NS + k * SECOND for k in range(4)]
        assert counts[-1].total == machine.model.total
        assert src.health.monitored_items == 5 and src.health.polled_nodes == 1

    asyncio.run(body())


def test_a_polled_node_is_read_on_its_schedule_and_published_once_per_change() -> None:
    async def body() -> None:
        machine_clock = StepClock()
        async with OpcUaMachine(machine_clock, running=False) as machine:
            src = source(machine.endpoint)
            seen = Collector()
            async with running(src, seen):
                await until(lambda: bool(seen.samples("current_a")), "the first polled current")
                reads = src.health.reads
                await until(lambda: src.health.reads >= reads + 5, "five more reads (polls)")
                machine_clock.tick()
                await machine.step()
                await until(lambda: len(seen.samples("current_a")) == 2, "the changed current")
        polled = seen.samples("current_a")
        assert [s.ts_ns for s in polled] == [T0_NS, T0_NS + SECOND], (
            "repeated polls of one value publish it once"
        )
        assert src.health.polled_nodes == 1

    asyncio.run(body())


def test_a_restarted_server_gets_a_new_subscription_that_delivers_again() -> None:
    async def body() -> None:
        first = OpcUaMachine(step_s=0.05)
        await first.start()
        src = source(first.endpoint)
        seen = Collector()
        async with running(src, seen):
            await until(lambda: len(seen.samples("speed_ppm")) >= 3, "values before the restart")
            await first.stop()
            await until(lambda: any(s.state == "offline" for s in seen.states()), "the machine offline")
            assert not src.health.connected
            second = OpcUaMachine(port=first.port, model=first.model, step_s=0.05)
            await second.start()
            try:
                restarted = WallClock().now_ns()
                await until(lambda: src.health.sessions == 2, "a second session")
                await until(
                    lambda: sum(s.ts_ns > restarted for s in seen.samples("speed_ppm")) >= 3,
                    "values after it",
                )
                await until(lambda: seen.states()[-1].state == "running", "the machine running again")
            finally:
                await second.stop()
        assert src.health.reconnects == 1 and src.health.monitored_items == 5

    asyncio.run(body())


def test_a_subscription_that_goes_silent_is_noticed_and_built_again() -> None:
    async def body() -> None:
        async with OpcUaMachine(step_s=0.05) as machine, FreezingProxy(machine.port) as proxy:
            src = source(f"opc.tcp://127.0.0.1:{proxy.port}/tonle/pocket-setter/")
            seen = Collector()
            async with running(src, seen):
                await until(lambda: len(seen.samples("speed_ppm")) >= 3, "values before the silence")
                proxy.freeze()
                await until(lambda: src.health.sessions == 2, "a new session after the silence")
                frozen_at = len(seen.samples("speed_ppm"))
                await until(
                    lambda: len(seen.samples("speed_ppm")) >= frozen_at + 3, "values on the new session"
                )
        assert src.health.reconnects == 1
        assert "no publish response" in src.health.last_error or "connection lost" in src.health.last_error

    asyncio.run(body())


def test_set_speed_is_written_and_read_back_and_refused_when_the_machine_keeps_its_old_value() -> None:
    async def body() -> None:
        async with OpcUaMachine(running=False) as machine:
            src = source(machine.endpoint)
            async with running(src, Collector()):
                await until(lambda: src.health.connected, "a session")
                applied = await src.apply("PS1", "set_speed", 31.5)
                assert machine.model.setpoint == 31.5
                machine.stuck_setpoint = True  # the PLC now copies its HMI value over every write
                try:
                    await src.apply("PS1", "set_speed", 12)
                except CommandRefused as exc:
                    refusal = str(exc)
                else:
                    raise AssertionError("a write the machine ignored was reported as applied")
                try:
                    await src.apply("PS1", "set_speed", 55)
                except CommandRefused as exc:
                    out_of_range = str(exc)
        assert applied == "set_speed=31.5 written to node ns=2;s=PS.SpeedSetpoint and read back"
        assert refusal == "read-back mismatch: wrote 12, device reports 31.5"
        assert out_of_range == "set_speed on PS1 needs a value in 0..40, got 55"
        assert machine.model.setpoint == 31.5

    asyncio.run(body())


def test_a_gateway_restarted_on_its_spool_does_not_spool_the_servers_last_values_again(
    tmp_path: Path,
) -> None:
    """A power cut of the gateway: the new process's subscription opens with the values (and the
    times) the old one spooled; they are dropped as repeats, so every point is spooled once and the
    sequence numbers count each one once. A cycle's values leave as one sample per time."""

    async def one_life(machine: OpcUaMachine, spool: Spool, steps: int) -> Agent:
        src = source(machine.endpoint)
        agent = Agent(MqttConfig(port=1, tls=False), AgentConfig(id="gw-t"), [src], WallClock(), spool)
        seen = Collector()

        def sink(batch: list) -> None:  # type: ignore[type-arg]
            seen(batch)
            agent.sink(batch)

        async with running(src, sink):
            await until(
                lambda: bool(seen.samples("speed_ppm") and seen.samples("current_a") and seen.states()),
                "the server's current values",
            )
            await until(lambda: bool(seen.counts()), "the current count")
            for _k in range(steps):
                machine.clock.tick()  # type: ignore[attr-defined]
                await machine.step()
                want = machine.clock.now_ns()
                await until(lambda w=want: any(s.ts_ns == w for s in seen.samples("speed_ppm")), "a step")
                await until(lambda w=want: any(s.ts_ns == w for s in seen.samples("current_a")), "a poll")
            await agent.flush()
        return agent

    async def body() -> Agent:
        async with OpcUaMachine(StepClock(), running=False) as machine:
            first = await one_life(machine, Spool(tmp_path / "spool.sqlite", 2**22), steps=2)
            after_first = first.spool.load_state()
            first.spool.close()  # the power cut: the next life opens the same file
            second = await one_life(machine, Spool(tmp_path / "spool.sqlite", 2**22), steps=0)
            assert second.spool.load_state() == after_first, "the second life spooled repeats"
            assert second.replays.dropped >= 5  # state, count, speed, vibration, current
            third = await one_life(machine, second.spool, steps=1)
            return third

    third = asyncio.run(body())
    seqs = third.spool.load_state()
    assert seqs["seq/PS1/state"] == 1, "one state change in three lives"
    assert seqs["seq/PS1/count"] == 4, "the first count and one per step (three steps)"
    stamps = _spooled_telemetry(third.spool, "speed_ppm")
    assert stamps == [T0_NS + k * SECOND for k in range(4)], "each speed value once, at its time"
    assert sorted(stamps) == sorted(set(stamps))
    # speed and vibration of one cycle changed together: one sample (one sequence number) per time
    for ts, fields in _spooled_samples(third.spool):
        assert ("speed_ppm" in fields) == ("vib_rms" in fields), (ts, fields)
    assert seqs["seq/PS1/telemetry"] == len(_spooled_samples(third.spool))


def _spooled_samples(spool: Spool) -> list[tuple[int, frozenset[str]]]:
    """(time, fields) of every telemetry sample in the spool."""
    out: list[tuple[int, frozenset[str]]] = []
    for _id, topic, payload in spool.peek(0, 10_000):
        if topic.endswith("/telemetry"):
            msg = decode("telemetry", payload)
            assert isinstance(msg, Telemetry)
            stamps = msg.ts if isinstance(msg.ts, list) else [msg.ts]
            out.extend((ts, frozenset(msg.fields)) for ts in stamps)
    return out


async def _until_in_history(machine: OpcUaMachine, when: int) -> None:
    """The server's history has recorded the cycle at `when` (it records on its own schedule)."""
    for _try in range(400):
        if when in await machine.history_times("Speed"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server never recorded the cycle in its history")


def _spooled_kinds(spool: Spool) -> dict[str, list[int]]:
    """Times of the spooled counts and of the speed samples."""
    counts: list[int] = []
    for _id, topic, payload in spool.peek(0, 10_000):
        if topic.endswith("/count"):
            counts.append(msgspec.json.decode(payload)["ts"])
    return {"count": counts, "speed": _spooled_telemetry(spool, "speed_ppm")}


def test_values_made_while_the_link_was_down_are_read_from_the_servers_history(tmp_path: Path) -> None:
    """A link that goes silent while the machine keeps working: the new session first reads what each
    node did meanwhile from the server's history, at its own times, then subscribes again."""

    async def body() -> tuple[Agent, OpcUaSource]:
        machine_clock = StepClock()
        async with (
            OpcUaMachine(machine_clock, running=False, history=True) as machine,
            FreezingProxy(machine.port) as proxy,
        ):
            src = source(f"opc.tcp://127.0.0.1:{proxy.port}/tonle/pocket-setter/", machine_clock)
            spool = Spool(tmp_path / "spool.sqlite", 2**22)
            agent = Agent(MqttConfig(port=1, tls=False), AgentConfig(id="gw-t"), [src], WallClock(), spool)
            async with running(src, agent.sink):
                await until(lambda: src.health.connected, "the first session")
                await until(lambda: src.health.reads >= 5, "the first values")
                proxy.freeze()  # the cable is pulled; the machine goes on
                for _k in range(3):
                    machine_clock.tick()
                    await machine.step()
                await _until_in_history(machine, machine_clock.now_ns())
                await until(lambda: src.health.sessions == 2, "a new session after the silence", timeout=15)
                await until(lambda: src.health.backfilled > 0, "the gap read from the history")
                await agent.flush()
        return agent, src

    agent, src = asyncio.run(body())
    spooled = _spooled_kinds(agent.spool)
    made = [T0_NS + k * SECOND for k in range(4)]
    assert spooled["speed"] == made, "every cycle once, the ones made during the gap at their own time"
    assert spooled["count"] == made
    assert src.health.backfilled >= 3  # the subscription's first values, repeating it, are not spooled again


def test_a_restarted_gateway_fills_the_gap_since_its_spool_from_the_servers_history(tmp_path: Path) -> None:
    """The gateway loses power; the machine works on; the new process learns from its spool where it
    stopped and reads the rest from the server's history."""

    async def life(machine: OpcUaMachine, spool: Spool) -> tuple[Agent, OpcUaSource]:
        src = source(machine.endpoint, machine.clock)
        agent = Agent(MqttConfig(port=1, tls=False), AgentConfig(id="gw-t"), [src], WallClock(), spool)
        async with running(src, agent.sink):
            await until(lambda: src.health.connected and src.health.reads >= 5, "a session with values")
            await asyncio.sleep(0)  # the source hands a publish response's readings over on the next turn
            await agent.flush()
        return agent, src

    async def body() -> tuple[Agent, OpcUaSource]:
        machine_clock = StepClock()
        async with OpcUaMachine(machine_clock, running=False, history=True) as machine:
            first, _src = await life(machine, Spool(tmp_path / "spool.sqlite", 2**22))
            first.spool.close()  # power cut of the gateway
            for _k in range(3):
                machine_clock.tick()
                await machine.step()
            await _until_in_history(machine, machine_clock.now_ns())
            return await life(machine, Spool(tmp_path / "spool.sqlite", 2**22))

    agent, src = asyncio.run(body())
    spooled = _spooled_kinds(agent.spool)
    made = [T0_NS + k * SECOND for k in range(4)]
    assert spooled["speed"] == made
    assert spooled["count"] == made
    assert src.health.backfilled >= 3
