"""The demo's machines that speak someone else's protocol, and the summary's count per protocol.

A plant's SCADA broker is not Tonle's: the demo starts a mosquitto on loopback as "the
plant's broker" (TLS only, a password per user, as a plant's IT would run it:
tonle.app.plant_broker), with a simulated Sparkplug B edge node (an automatic cutting table,
firmware_sim.sparkplug_node) and a Shelly Plus Plug S (the steam iron's plug,
firmware_sim.mqtt_devices) publishing on it; the gateway reads them as a Sparkplug host
(docs/sparkplug.md) and as plain MQTT devices (docs/mqtt-devices.md). An automatic
pocket-setter is a real asyncua OPC UA server (firmware_sim.opcua_machine), encrypted and
with a password login because its setpoint moves the machine (docs/opcua.md); the
`opcua-restart` drill powers it off and on mid-run (`PocketSetter.power_cycle`).
The summary's `protocols` says, for each device type of the gateway config, how many
samples the gateway published for its machines, how many are stored and how many are `lost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from firmware_sim.line import LineSpec
from firmware_sim.mqtt_devices import ShellyPlugSim, device_connection, publish
from firmware_sim.opcua_machine import NAMESPACE, OpcUaMachine, PocketSetterModel, self_signed
from firmware_sim.sparkplug_node import CutterModel, SparkplugEdgeNode, run_cutter
from tonle.app.demo_accounting import stored_counts
from tonle.app.plant_broker import PasswordBroker
from tonle.app.services import free_port
from tonle.io.clock import Clock
from tonle.io.influxql import InfluxQLClient
from tonle.io.mqtt import MqttConnection
from tonle.io.mqtt_tls import TlsFiles
from tonle.sources.registry import source_type

__all__ = [
    "OPCUA_PASSWORD_ENV",
    "PLANT_PASSWORD_ENV",
    "PocketSetter",
    "ScadaPlant",
    "pocket_setter",
    "protocol_counts",
    "scada_plant",
]

# The gateway config names these variables; the agent process inherits them (never a file).
OPCUA_PASSWORD_ENV = "TONLE_DEMO_OPCUA_PASSWORD"
PLANT_PASSWORD_ENV = "TONLE_DEMO_PLANT_BROKER_PASSWORD"
PLANT_USER = "tonle-gateway"  # the gateway's login on the plant's broker
OPCUA_USER = "tonle-gateway"
GATEWAY_URI = "urn:tonle:gateway"
PLUG_ID = "shellyplusplugs-demo01"  # the steam iron's plug, as its topics name it
PLUG_EVERY_S = 2.0  # "Generic status update over MQTT": a Shelly reports on change, about this often


@dataclass
class ScadaPlant:
    broker: PasswordBroker
    node: SparkplugEdgeNode

    @property
    def port(self) -> int:
        return self.broker.port

    def gateway_settings(self) -> dict[str, str | int]:
        """The gateway config's keys for a device on this broker: where, the CA, the login."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "ca_file": self.broker.ca_file,
            "username": PLANT_USER,
            "password_env": PLANT_PASSWORD_ENV,
        }

    @property
    def gateway_password(self) -> str:
        return self.broker.users[PLANT_USER]


@contextlib.asynccontextmanager
async def scada_plant(folder: Path, clock: Clock, group: str = "DemoPlant") -> AsyncIterator[ScadaPlant]:
    """The plant's broker with the cutter's edge node (once a second) and the iron's plug on it.

    Each of them logs in with its own password (new each run); all three speak TLS and check
    the broker's certificate against the plant CA.
    """
    users = {name: secrets.token_urlsafe(18) for name in (PLANT_USER, "cutter-en1", PLUG_ID)}
    broker = PasswordBroker(folder=folder / "scada-mosquitto", port=free_port(), users=users)
    await asyncio.to_thread(broker.start)
    tls = TlsFiles(broker.ca_file)
    try:
        async with (
            SparkplugEdgeNode(
                "127.0.0.1", broker.port, group, "EN1", clock=clock,
                username="cutter-en1", password=users["cutter-en1"], tls=tls,
            ) as node,
            device_connection(
                "127.0.0.1", broker.port, f"{PLUG_ID}-{folder.name}",
                username=PLUG_ID, password=users[PLUG_ID], ca_file=broker.ca_file,
            ) as plug,
        ):  # fmt: skip
            tasks = [
                asyncio.create_task(run_cutter(node, CutterModel()), name="sparkplug-cutter"),
                asyncio.create_task(_run_plug(plug, clock), name="shelly-plug"),
            ]
            try:
                yield ScadaPlant(broker, node)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await asyncio.to_thread(broker.stop)


async def _run_plug(conn: MqttConnection, clock: Clock) -> None:
    """The steam iron's Shelly plug: its status every PLUG_EVERY_S, at QoS 1 as the device sends it."""
    sim = ShellyPlugSim(PLUG_ID, base_w=900.0, swing_w=700.0)
    while True:
        await publish(conn, sim.step(clock.now_ns() / 1e9))
        await clock.sleep(PLUG_EVERY_S)


@dataclass
class PocketSetter:
    """The pocket-setter's OPC UA server and what the gateway needs to reach it securely."""

    machine: OpcUaMachine
    certificate: Path  # the gateway's application certificate and key
    private_key: Path
    server_certificate: Path  # pinned by the gateway
    password: str

    @property
    def endpoint(self) -> str:
        return self.machine.endpoint

    async def power_cycle(self, off_s: float) -> None:
        """Power off (every session closes, the port with it), wait, and boot the same machine
        on the same port: a restarted server has forgotten every subscription."""
        await self.machine.stop()  # the model keeps its state; the server's memory goes
        await asyncio.sleep(off_s)
        await self.machine.start()  # a new server on the same port, same settings


@contextlib.asynccontextmanager
async def pocket_setter(folder: Path, clock: Clock) -> AsyncIterator[PocketSetter]:
    """The pocket-setter on a free loopback port: encrypted, only the gateway's application
    certificate trusted, password login with a new password per run."""
    certs = folder / "opcua"
    certs.mkdir(parents=True, exist_ok=True)
    server_cert, server_key = await self_signed(certs, "pocket-setter", NAMESPACE, server=True)
    cert, key = await self_signed(certs, "gateway", GATEWAY_URI, server=False)
    password = secrets.token_urlsafe(18)
    machine = OpcUaMachine(
        clock, model=PocketSetterModel(), step_s=1.0, users={OPCUA_USER: password},
        certificate=server_cert, private_key=server_key, history=True,
        trusted_clients=[cert],  # the gateway's application certificate, and no other
    )  # fmt: skip
    await machine.start()
    ps = PocketSetter(machine, cert, key, server_cert, password)
    try:
        yield ps
    finally:
        await ps.machine.stop()


def machine_protocols(gateway: Path) -> dict[str, str]:
    """Each machine of the gateway config -> the `type` of the device section that reads it."""
    out: dict[str, str] = {}
    for section in tomllib.loads(gateway.read_text())["devices"]:
        device = msgspec.convert(section, source_type(section["type"]).config, strict=False)  # TOML keys
        out.update(dict.fromkeys(device.machines(), section["type"]))
    return out


async def protocol_counts(
    q: InfluxQLClient, spec: LineSpec, gateway: Path, published: dict[tuple[str, str], int]
) -> dict[str, dict[str, int]]:
    """Samples published, stored and lost, per device type ("serial", "modbus_tcp", "sparkplug", ...)."""
    stored = await stored_counts(q, spec, 0)
    protocols = machine_protocols(gateway)
    out: dict[str, dict[str, int]] = {}
    for key, n in published.items():
        row = out.setdefault(protocols.get(key[0], "other"), {"published": 0, "stored": 0, "lost": 0})
        have = stored.get(key, 0)
        row["published"] += n
        row["stored"] += min(n, have)
        row["lost"] += max(0, n - have)
    return dict(sorted(out.items()))
