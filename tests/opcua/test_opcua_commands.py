"""A signed command through the broker moves an OPC UA machine: gate, write in the node's type, read-back.

The whole gateway path, not the source alone: a real mosquitto carries a signed `set_speed`
to a real agent, whose gate checks it and whose OPC UA source writes the pocket-setter's
setpoint node on a real asyncua server and reads it back; the agent's `cmd/ack` says
applied only when the machine holds the value. A PLC that takes the write and keeps its
old value is answered "rejected" by the machine with the read-back mismatch, and the machine's setpoint is
what it was. A command for the machine without a signature never reaches the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from edge_agent.agent import Agent
from edge_agent.sources.opcua import OpcUaSource
from edge_agent.sources.opcua_config import parse_opcua_source
from firmware_sim.opcua_machine import OpcUaMachine
from tests.helpers import new_signer, send_command, set_speed, wait_for
from tests.opcua.support import FAST, config
from tonle.app.services import LocalBroker
from tonle.config import AgentConfig, MqttConfig
from tonle.contract import Command, CommandAck, MachineAddress, encode
from tonle.io.clock import WallClock
from tonle.io.mqtt import MqttConnection
from tonle.io.spool import Spool
from tonle.security.commands import sign_command

pytestmark = pytest.mark.services

NOMINAL_PPM = 24.0  # the pocket-setter's full speed: set_speed 1.0
SIGNER = new_signer("analytics")
SET_SPEED = [
    {
        "action": "set_speed",
        "node": "ns=2;s=PS.SpeedSetpoint",
        "scale": 1 / NOMINAL_PPM,
        "min": 0.5,
        "max": 1.0,
    }
]


@contextlib.asynccontextmanager
async def gateway(
    broker: LocalBroker, machine: OpcUaMachine, name: str, tmp_path: Path
) -> AsyncIterator[tuple[Agent, MqttConnection, MachineAddress]]:
    """An agent reading the machine, answering commands on the broker, and a client that sends them."""
    src = OpcUaSource(parse_opcua_source(config(machine.endpoint, commands=SET_SPEED)), retry=FAST)
    cfg = AgentConfig(id=f"gw-{name}", site=name, trusted_keys={SIGNER.name: SIGNER.public_text})
    mqtt = msgspec.convert(broker.identity("rig", "collector"), MqttConfig)
    agent = Agent(mqtt, cfg, [src], WallClock(), Spool(tmp_path / "s.sqlite", 2**22))
    address = MachineAddress(cfg.site, cfg.area, cfg.line, "PS1")
    async with agent, MqttConnection(broker.host, broker.port, f"{name}-sender") as sender:
        await asyncio.gather(agent.mqtt.wait_subscribed(), sender.wait_connected())
        tasks = [asyncio.create_task(agent.command_loop()), asyncio.create_task(src.run(agent.sink))]
        try:
            await wait_for(lambda: _connected(src), bool, "the OPC UA session")
            yield agent, sender, address
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            agent.spool.close()


async def _connected(src: OpcUaSource) -> bool:
    return src.health.connected


async def send(agent: Agent, sender: MqttConnection, address: MachineAddress, payload: bytes) -> CommandAck:
    return await send_command(lambda: agent.acks, sender, address, payload)


def command(agent: Agent, cmd_id: str, value: float) -> Command:
    return set_speed(agent.clock.now_ns(), cmd_id, value)


def test_a_signed_set_speed_is_written_to_the_machine_read_back_and_acknowledged(
    broker: LocalBroker, unique_name: str, tmp_path: Path
) -> None:
    async def body() -> tuple[CommandAck, CommandAck, float, float]:
        async with (
            OpcUaMachine(running=False) as machine,
            gateway(broker, machine, unique_name, tmp_path) as (agent, sender, address),
        ):
            unsigned = await send(agent, sender, address, encode(command(agent, "c0", 0.5)))
            untouched = machine.model.setpoint
            signed = sign_command(command(agent, "c1", 0.75), address, SIGNER)
            ack = await send(agent, sender, address, encode(signed))
            return unsigned, ack, untouched, machine.model.setpoint

    unsigned, ack, untouched, setpoint = asyncio.run(body())
    assert unsigned.status == "refused" and untouched == NOMINAL_PPM, "an unsigned command never reaches it"
    assert (ack.status, ack.code) == ("applied", ""), ack
    assert ack.detail == "set_speed=0.75 written to node ns=2;s=PS.SpeedSetpoint and read back"
    assert setpoint == pytest.approx(0.75 * NOMINAL_PPM)


def test_a_machine_that_keeps_its_old_setpoint_is_answered_rejected_with_the_read_back(
    broker: LocalBroker, unique_name: str, tmp_path: Path
) -> None:
    async def body() -> tuple[CommandAck, float]:
        async with (
            OpcUaMachine(running=False, stuck_setpoint=True) as machine,
            gateway(broker, machine, unique_name, tmp_path) as (agent, sender, address),
        ):
            signed = sign_command(command(agent, "c1", 0.5), address, SIGNER)
            ack = await send(agent, sender, address, encode(signed))
            return ack, machine.model.setpoint

    ack, setpoint = asyncio.run(body())
    assert (ack.status, ack.code) == ("rejected", "machine_refused"), ack
    assert "read-back mismatch: wrote 0.5, device reports 1" in ack.detail
    assert setpoint == NOMINAL_PPM
