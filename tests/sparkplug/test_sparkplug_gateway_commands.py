"""A signed command through a real agent moves a Sparkplug machine: gate, DCMD, read-back, ack.

The whole gateway path: a real mosquitto carries a signed `set_speed` to a real agent whose
gate checks it against the limits the Sparkplug source exposes; the source sends the DCMD
to the simulated cutter on the same broker and reads the setpoint back; `cmd/ack` says
applied only then. A value outside the configured range is refused by the gate and never
reaches the machine; a stuck cutter is answered rejected with the read-back mismatch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from edge_agent.agent import Agent
from edge_agent.sources.sparkplug import SparkplugSource
from firmware_sim.sparkplug_node import NOMINAL_RPM, SETPOINT, CutterModel, SparkplugEdgeNode
from tests.helpers import new_signer, send_command, set_speed, wait_for
from tests.sparkplug.support import CUTTER_NODE, source
from tonle.app.services import LocalBroker
from tonle.config import AgentConfig, MqttConfig
from tonle.contract import Command, CommandAck, MachineAddress, encode
from tonle.io.clock import WallClock
from tonle.io.mqtt import MqttConnection
from tonle.io.spool import Spool
from tonle.security.commands import sign_command

pytestmark = pytest.mark.services

SIGNER = new_signer("analytics")
SET_SPEED = {"action": "set_speed", "metric": SETPOINT, "scale": 1 / NOMINAL_RPM, "min": 0.5, "max": 1.0}


@contextlib.asynccontextmanager
async def gateway(
    broker: LocalBroker, model: CutterModel, name: str, tmp_path: Path, timeout_s: float = 5.0
) -> AsyncIterator[tuple[Agent, MqttConnection, MachineAddress, SparkplugEdgeNode]]:
    """An agent reading the cutter over Sparkplug and answering commands; a client that sends them."""
    node_cfg = {**CUTTER_NODE, "commands": [{**SET_SPEED, "timeout_s": timeout_s}]}
    src: SparkplugSource = source(broker, name, nodes=[node_cfg])
    cfg = AgentConfig(id=f"gw-{name}", site=name, trusted_keys={SIGNER.name: SIGNER.public_text})
    mqtt = msgspec.convert(broker.identity("rig", "collector"), MqttConfig)
    agent = Agent(mqtt, cfg, [src], WallClock(), Spool(tmp_path / "s.sqlite", 2**22))
    address = MachineAddress(cfg.site, cfg.area, cfg.line, "CUT1")
    async with (
        agent,
        MqttConnection(broker.host, broker.port, f"{name}-sender") as sender,
        SparkplugEdgeNode(broker.host, broker.port, name, "EN1") as node,
    ):
        node.on_write["Cutter1"] = model.write
        await asyncio.gather(agent.mqtt.wait_subscribed(), sender.wait_connected())
        tasks = [asyncio.create_task(agent.command_loop()), asyncio.create_task(src.run(agent.sink))]
        try:
            await wait_for(lambda: _subscribed(src), bool, "the Sparkplug host's subscription")
            node.birth()
            await wait_for(lambda: _online(src), bool, "the cutter's births")
            yield agent, sender, address, node
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            agent.spool.close()


async def _subscribed(src: SparkplugSource) -> bool:
    return src.mqtt is not None and src.mqtt.subscribed.is_set()


async def _online(src: SparkplugSource) -> bool:
    return src.host.online("EN1", "Cutter1")


async def send(agent: Agent, sender: MqttConnection, address: MachineAddress, cmd: Command) -> CommandAck:
    payload = encode(sign_command(cmd, address, SIGNER))
    return await send_command(lambda: agent.acks, sender, address, payload)


def command(agent: Agent, cmd_id: str, value: float) -> Command:
    return set_speed(agent.clock.now_ns(), cmd_id, value)


def test_a_signed_set_speed_is_gated_sent_as_a_dcmd_read_back_and_acknowledged(
    broker: LocalBroker, unique_name: str, tmp_path: Path
) -> None:
    model = CutterModel(mode=0)

    async def body() -> tuple[CommandAck, CommandAck, list[object]]:
        async with gateway(broker, model, unique_name, tmp_path) as (agent, sender, address, node):
            too_fast = await send(agent, sender, address, command(agent, "c0", 1.5))
            await node.flushed()
            untouched = list(node.writes)
            ack = await send(agent, sender, address, command(agent, "c1", 0.75))
            return too_fast, ack, untouched

    too_fast, ack, untouched = asyncio.run(body())
    assert (too_fast.status, too_fast.code) == ("rejected", "out_of_range"), too_fast
    assert untouched == [], "a value outside the limits never reaches the machine"
    assert (ack.status, ack.code) == ("applied", ""), ack
    assert ack.detail == "set_speed=0.75 written to metric Spindle/SpeedSetpoint and read back"
    assert model.setpoint == pytest.approx(0.75 * NOMINAL_RPM)


def test_a_stuck_cutter_is_answered_rejected_with_the_read_back_mismatch(
    broker: LocalBroker, unique_name: str, tmp_path: Path
) -> None:
    model = CutterModel(mode=0, stuck=True)

    async def body() -> CommandAck:
        async with gateway(broker, model, unique_name, tmp_path, timeout_s=1.0) as (
            agent,
            sender,
            address,
            _n,
        ):
            return await send(agent, sender, address, command(agent, "c1", 0.5))

    ack = asyncio.run(body())
    assert (ack.status, ack.code) == ("rejected", "machine_refused"), ack
    assert "read-back mismatch: wrote 0.5, device reports 1" in ack.detail
    assert model.setpoint == NOMINAL_RPM
