"""Test plumbing: the in-process rig of the application layer (`tonle.app.rig`), under its old name;
and keys that sign commands as the analytics and operators do."""

from collections.abc import Callable

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tonle.app.line_run import LineRun
from tonle.app.rig import WAIT_S, config_for, count, running_collector, wait_for
from tonle.contract import Command, CommandAck, MachineAddress
from tonle.io.mqtt import MqttConnection
from tonle.security.signing import Signer

NS = 1_000_000_000

__all__ = [
    "WAIT_S",
    "assert_nothing_lost",
    "config_for",
    "count",
    "new_signer",
    "running_collector",
    "send_command",
    "set_speed",
    "wait_for",
]

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


def new_signer(name: str = "analytics") -> Signer:
    """A fresh Ed25519 key named `name`, in memory."""
    return Signer(name, Ed25519PrivateKey.generate())


def set_speed(now_ns: int, cmd_id: str, value: float) -> Command:
    """An unsigned `set_speed` command issued now, expiring in a minute (sign it to have it applied)."""
    return Command(
        v=1, id=cmd_id, ts=now_ns, expires=now_ns + 60 * NS, action="set_speed", reason="test", value=value,
        issued_by="tonle-analytics",
    )  # fmt: skip


async def send_command(
    acks: Callable[[], list[CommandAck]], sender: MqttConnection, address: MachineAddress, payload: bytes
) -> CommandAck:
    """Publish a command on the machine's `cmd` topic; the gateway's last answer for its id (`acks`: the
    agent's acks so far)."""
    cmd_id = msgspec.json.decode(payload)["id"]
    await sender.publish(address.topic("cmd"), payload)

    async def answered() -> list[CommandAck]:
        return [a for a in acks() if a.id == cmd_id]

    return (await wait_for(answered, bool, f"the ack of {cmd_id}"))[-1]
