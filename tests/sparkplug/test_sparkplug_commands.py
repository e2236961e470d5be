"""Commands to a Sparkplug B machine through a real mosquitto: DCMD as the birth declared it, then read-back.

The simulated cutter (firmware_sim.sparkplug_node) declares `Spindle/SpeedSetpoint` in its
DBIRTH and reports it in a DDATA when written; a `stuck` cutter takes the write and keeps
its old setpoint; a device without a write handler takes nothing and says nothing. Each
test drives one outcome and waits for observable states, never for time to pass, except
where the outcome *is* a timeout (a short `timeout_s`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from edge_agent.sources.sparkplug import SparkplugSource
from firmware_sim.sparkplug_node import NOMINAL_RPM, SETPOINT, CutterModel, SparkplugEdgeNode
from tests.modbus.support import run
from tests.sparkplug.support import CUTTER_NODE, Collector, listening, source, until
from tonle.io.mqtt import MqttConnection
from tonle.protocols.sparkplug import DataType, decode_payload
from tonle.sources.base import CommandRefused, DeviceLimits

SET_SPEED: dict[str, Any] = {
    "action": "set_speed", "metric": SETPOINT, "scale": 1 / NOMINAL_RPM, "min": 0.5, "max": 1.0,
}  # fmt: skip


def _source(broker: Any, group: str, **command: Any) -> SparkplugSource:
    return source(broker, group, nodes=[{**CUTTER_NODE, "commands": [{**SET_SPEED, **command}]}])


def _node(broker: Any, group: str, model: CutterModel | None = None) -> SparkplugEdgeNode:
    node = SparkplugEdgeNode(broker.host, broker.port, group, "EN1")
    if model is not None:
        node.on_write["Cutter1"] = model.write
    return node


async def _born(src: SparkplugSource, node: SparkplugEdgeNode) -> None:
    node.birth()
    await until(lambda: src.host.online("EN1", "Cutter1"), "the cutter's births")


def test_a_set_speed_is_sent_as_a_dcmd_written_and_read_back(broker, unique_name):
    async def main() -> None:
        sink, src, model = Collector(), _source(broker, unique_name), CutterModel(mode=0)
        async with (
            MqttConnection(broker.host, broker.port, f"{unique_name}-watch") as watch,
            listening(src, sink),
            _node(broker, unique_name, model) as node,
        ):
            await watch.subscribe(f"spBv1.0/{unique_name}/DCMD/#", qos=0)
            await watch.wait_subscribed()
            await _born(src, node)
            detail = await src.apply("CUT1", "set_speed", 0.75)
            msg = await asyncio.wait_for(watch.messages.get(), 10)
        assert detail == "set_speed=0.75 written to metric Spindle/SpeedSetpoint and read back"
        assert model.setpoint == pytest.approx(0.75 * NOMINAL_RPM)
        assert node.writes == [("Cutter1", SETPOINT, pytest.approx(900.0))]
        assert msg.topic == f"spBv1.0/{unique_name}/DCMD/EN1/Cutter1" and msg.qos == 0 and not msg.retain
        payload = decode_payload(msg.payload)
        assert payload.seq is None and payload.timestamp_ms  # Sparkplug 3.0: a timestamp, never a seq
        (m,) = payload.metrics
        assert (m.name, m.alias, m.datatype, m.value) == (SETPOINT, 6, DataType.Float, 900.0)

    run(main)


def test_a_stuck_machine_is_refused_with_the_read_back_mismatch(broker, unique_name):
    async def main() -> None:
        sink, src = Collector(), _source(broker, unique_name, timeout_s=1.0)
        model = CutterModel(mode=0, stuck=True)
        async with listening(src, sink), _node(broker, unique_name, model) as node:
            await _born(src, node)
            with pytest.raises(CommandRefused) as refused:
                await src.apply("CUT1", "set_speed", 0.5)
        assert str(refused.value) == "read-back mismatch: wrote 0.5, device reports 1"
        assert node.writes == [("Cutter1", SETPOINT, 600.0)] and model.setpoint == NOMINAL_RPM

    run(main)


def test_a_machine_that_never_reports_the_metric_may_or_may_not_have_applied_it(broker, unique_name):
    async def main() -> None:
        sink, src = Collector(), _source(broker, unique_name, timeout_s=0.5)
        async with listening(src, sink), _node(broker, unique_name) as node:  # no write handler: silent
            await _born(src, node)
            with pytest.raises(CommandRefused) as refused:
                await src.apply("CUT1", "set_speed", 0.9)
        assert str(refused.value) == (
            "CUT1 reported no value of Spindle/SpeedSetpoint within 0.5 s; "
            "set_speed may or may not have been applied"
        )
        assert node.writes == [("Cutter1", SETPOINT, pytest.approx(1080.0))]  # it did arrive

    run(main)


def test_a_machine_whose_node_dies_while_the_gateway_waits_is_refused_then(broker, unique_name):
    async def main() -> None:
        sink, src = Collector(), _source(broker, unique_name, timeout_s=30.0)
        async with listening(src, sink), _node(broker, unique_name) as node:
            await _born(src, node)
            task = asyncio.create_task(src.apply("CUT1", "set_speed", 0.9))
            await until(lambda: node.writes, "the DCMD at the node")
            await node.death()
            with pytest.raises(CommandRefused) as refused:
                await asyncio.wait_for(task, 10)
        assert "CUT1 went offline before reporting Spindle/SpeedSetpoint" in str(refused.value)
        assert "may or may not have been applied" in str(refused.value)

    run(main)


def test_a_machine_that_is_not_online_is_refused_at_once(broker, unique_name):
    async def refuse(src: SparkplugSource) -> str:
        started = time.monotonic()
        with pytest.raises(CommandRefused) as refused:
            await src.apply("CUT1", "set_speed", 0.75)
        assert time.monotonic() - started < 1.0  # no wait for a read-back
        return str(refused.value)

    async def main() -> list[str]:
        sink, src = Collector(), _source(broker, unique_name, timeout_s=30.0)
        seen = []
        async with listening(src, sink), _node(broker, unique_name, CutterModel()) as node:
            seen.append(await refuse(src))  # no birth yet
            await _born(src, node)
            node.device_death("Cutter1")
            await until(lambda: not src.host.online("EN1", "Cutter1"), "the DDEATH")
            seen.append(await refuse(src))
            await _born(src, node)
            await node.death()
            await until(lambda: sink.states("CUT1")[-1].state == "offline", "the NDEATH")
            seen.append(await refuse(src))
            await node.flushed()
        assert node.writes == []  # nothing was sent to it
        return seen

    for text in run(main):
        assert text == (
            "CUT1 is not online: no birth from EN1/Cutter1 since it died or the gateway started; "
            "set_speed not sent"
        )


def test_limits_expose_the_allowed_actions_and_the_source_refuses_what_is_outside_them(broker, unique_name):
    async def main() -> list[str]:
        sink, src = Collector(), _source(broker, unique_name)
        seen = []
        async with listening(src, sink), _node(broker, unique_name, CutterModel()) as node:
            await _born(src, node)
            for machine, action, value in [
                ("CUT1", "set_speed", 1.5),
                ("CUT1", "andon", 1.0),
                ("CUT9", "set_speed", 1),
            ]:
                with pytest.raises(CommandRefused) as refused:
                    await src.apply(machine, action, value)
                seen.append(str(refused.value))
            await node.flushed()
        assert node.writes == []
        return seen

    src = _source(broker, "limits")
    assert src.limits == {"CUT1": DeviceLimits(frozenset({"set_speed"}), {"set_speed": (0.5, 1.0)})}
    assert source(broker, "none").limits == {"CUT1": DeviceLimits(frozenset(), {})}
    assert run(main) == [
        "set_speed on CUT1 needs a value in 0.5..1, got 1.5",
        "'andon' is not configured for CUT1; configured: set_speed",
        f"spb_{unique_name} has no machine called 'CUT9'",
    ]


def test_a_metric_the_birth_does_not_declare_is_refused_before_anything_is_sent(broker, unique_name):
    async def main() -> str:
        sink, src = Collector(), _source(broker, unique_name, metric="Spindle/Setpoint")
        async with listening(src, sink), _node(broker, unique_name, CutterModel()) as node:
            await _born(src, node)
            with pytest.raises(CommandRefused) as refused:
                await src.apply("CUT1", "set_speed", 0.75)
            await node.flushed()
        assert node.writes == []
        return str(refused.value)

    assert run(main) == (
        "the birth of EN1/Cutter1 does not declare metric Spindle/Setpoint; set_speed not sent "
        "(check commands.metric of CUT1)"
    )


def test_a_machine_that_is_the_edge_node_itself_is_written_by_ncmd_and_read_back_from_ndata(
    broker, unique_name
):
    """A press whose controller is the edge node (its metrics in the NBIRTH, no device): the write
    goes out as an NCMD on the node's topic, and the NDATA that reports it makes it applied."""
    press = {
        "machine": "PR9", "machine_type": "fusing_press", "edge_node": "EN1",
        "fields": {"Press/Speed": "speed_cpm"},
        "commands": [
            {"action": "set_speed", "metric": "Press/SpeedSetpoint", "scale": 1 / 12, "min": 0.25, "max": 1.0}
        ],
    }  # fmt: skip
    held = {"Press/SpeedSetpoint": 12.0}

    def write(values: dict[str, Any]) -> dict[str, Any]:
        held.update(values)  # the controller takes the setpoint and reports it
        return dict(held)

    async def main() -> tuple[str, Any]:
        src = source(broker, unique_name, nodes=[press])
        node = SparkplugEdgeNode(
            broker.host, broker.port, unique_name, "EN1", devices={},
            node_metrics={
                "Press/Speed": (DataType.Float, 11.8), "Press/SpeedSetpoint": (DataType.Float, 12.0),
            },
        )  # fmt: skip
        node.on_write[""] = write
        async with (
            MqttConnection(broker.host, broker.port, f"{unique_name}-watch") as watch,
            listening(src, Collector()),
            node,
        ):
            await watch.subscribe(f"spBv1.0/{unique_name}/NCMD/#", qos=0)
            await watch.wait_subscribed()
            node.birth()
            await until(lambda: src.host.online("EN1", ""), "the node's birth")
            detail = await src.apply("PR9", "set_speed", 0.5)
            msg = await asyncio.wait_for(watch.messages.get(), 10)
        return detail, msg

    detail, msg = run(main)
    assert detail == "set_speed=0.5 written to metric Press/SpeedSetpoint and read back"
    assert held["Press/SpeedSetpoint"] == pytest.approx(6.0)
    assert msg.topic == f"spBv1.0/{unique_name}/NCMD/EN1"
    (m,) = decode_payload(msg.payload).metrics
    assert (m.name, m.datatype, m.value) == ("Press/SpeedSetpoint", DataType.Float, 6.0)
