"""An automatic pocket-setter as a real asyncua OPC UA server, on a loopback port.

The address space is what such a machine's controller offers (namespace
`urn:tonle:sim:pocket-setter`, index 2), under Objects/PocketSetter:

    ns=2;s=PS.State          Int32    0 idle, 1 running, 2 fault, 3 maintenance, 4 setup
    ns=2;s=PS.PiecesTotal    UInt32   pockets set since the counter was reset
    ns=2;s=PS.PiecesGood     UInt32
    ns=2;s=PS.Speed          Double   actual pockets per minute
    ns=2;s=PS.SpeedSetpoint  Double   pockets per minute, writable (0..40)
    ns=2;s=PS.Vibration      Double   mm/s RMS at the needle drive
    ns=2;s=PS.Current        Double   A, the main motor

Every value is written with its SourceTimestamp: the simulated controller's time on the
injectable `Clock` at the step that changed it, so a gateway that stamps with the
arrival time instead is caught. `step()` advances the machine one cycle; `run()` steps
it every `step_s`. The machine's model (`PocketSetterModel`) lives apart from the server,
so a test can stop the server and start a new one on the same port with the same machine.

Security: `users={"name": "password"}` turns on password login (anonymous refused),
`user_certificates={"name": path}` certificate login (a user whose X.509 certificate is that
file; anonymous refused), and `certificate`/`private_key` offer only Basic256Sha256
SignAndEncrypt; with them, `trusted_clients=[path]` lets in only those client application
certificates. `self_signed()` makes the certificate files for the server or for a gateway.
`history=True` keeps each node's changes in memory for HistoryRead, as many controllers keep
a log (lost when the server stops).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto import uacrypto
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager

from tonle.io.clock import Clock, WallClock

__all__ = ["NAMESPACE", "NODES", "OpcUaMachine", "PocketSetterModel", "self_signed"]

NAMESPACE = "urn:tonle:sim:pocket-setter"
HISTORY_VALUES = 20_000  # changes kept per node with `history=True`: hours of a real controller's log
NODES: dict[str, tuple[str, ua.VariantType]] = {
    "State": ("ns=2;s=PS.State", ua.VariantType.Int32),
    "PiecesTotal": ("ns=2;s=PS.PiecesTotal", ua.VariantType.UInt32),
    "PiecesGood": ("ns=2;s=PS.PiecesGood", ua.VariantType.UInt32),
    "Speed": ("ns=2;s=PS.Speed", ua.VariantType.Double),
    "SpeedSetpoint": ("ns=2;s=PS.SpeedSetpoint", ua.VariantType.Double),
    "Vibration": ("ns=2;s=PS.Vibration", ua.VariantType.Double),
    "Current": ("ns=2;s=PS.Current", ua.VariantType.Double),
}


@dataclass
class PocketSetterModel:
    """The machine itself: runs in long stretches, sets pockets at its speed, wears its drive."""

    seed: int = 7
    setpoint: float = 24.0
    state: int = 1
    total: int = 0
    good: int = 0
    steps: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def step(self) -> dict[str, Any]:
        """One controller cycle; returns the value of every node."""
        self.steps += 1
        if self.steps % 40 == 0:  # a short stop every 40 cycles: the operator reloads blanks
            self.state = 0 if self.state == 1 else 1
        speed = self.setpoint * (0.97 + 0.03 * self.rng.random()) if self.state == 1 else 0.0
        if self.state == 1:
            self.total += 1
            self.good += 1 if self.rng.random() > 0.02 else 0
        wear = 1.0 + self.steps / 20_000
        vibration = (0.4 + 0.05 * speed) * wear + self.rng.gauss(0, 0.05)
        current = (0.8 + 0.09 * speed) + self.rng.gauss(0, 0.03)
        return {
            "State": self.state, "PiecesTotal": self.total, "PiecesGood": self.good, "Speed": speed,
            "Vibration": max(vibration, 0.0), "Current": max(current, 0.0),
        }  # fmt: skip


class _Users(UserManager):
    """Who may log in: a name with its password, or the holder of a trusted user certificate (DER)."""

    def __init__(self, users: dict[str, str], certificates: dict[bytes, str] | None = None) -> None:
        self.users = users
        self.certificates = certificates or {}

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:  # fmt: skip
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        if certificate is not None and (name := self.certificates.get(bytes(certificate))) is not None:
            return User(role=UserRole.User, name=name)
        return None


async def _only(trusted: list[Path]) -> Any:
    """A certificate check that lets in only these client application certificates, as a machine
    whose administrator moved the gateway's certificate from "rejected" to "trusted" does."""
    known = {uacrypto.der_from_x509(await uacrypto.load_certificate(path)) for path in trusted}

    async def check(cert: Any, app: ua.ApplicationDescription) -> None:
        if uacrypto.der_from_x509(cert) not in known:
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)

    return check


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class OpcUaMachine:
    """The pocket-setter's OPC UA server. `async with` starts and stops it."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        port: int = 0,
        model: PocketSetterModel | None = None,
        step_s: float = 0.2,
        users: dict[str, str] | None = None,
        user_certificates: dict[str, Path] | None = None,
        trusted_clients: list[Path] | None = None,
        certificate: Path | None = None,
        private_key: Path | None = None,
        stuck_setpoint: bool = False,
        running: bool = True,
        history: bool = False,
    ) -> None:
        self.clock = clock or WallClock()
        self.port = port or _free_port()
        self.model = model or PocketSetterModel()
        self.step_s = step_s
        self.users = users
        self.user_certificates = user_certificates
        self.trusted_clients = trusted_clients  # None: any client certificate (a machine left open)
        self.certificate, self.private_key = certificate, private_key
        self.stuck_setpoint = stuck_setpoint
        self.running = running  # step on its own every step_s; False: only when `step()` is called
        self.history = history  # keep each node's changes for HistoryRead (a gateway fills a gap from it)
        self.server: Server | None = None
        self._runner: asyncio.Task[None] | None = None

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/tonle/pocket-setter/"

    async def __aenter__(self) -> OpcUaMachine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Serve on `port`; when `running`, step the machine every `step_s` until `stop()`."""
        logins = self.users is not None or self.user_certificates is not None
        trusted = {
            uacrypto.der_from_x509(await uacrypto.load_certificate(path)): name
            for name, path in (self.user_certificates or {}).items()
        }
        server = Server(user_manager=_Users(self.users or {}, trusted) if logins else None)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("Tonle simulated pocket-setter")
        await server.set_application_uri(NAMESPACE)
        if self.certificate is not None and self.private_key is not None:
            await server.load_certificate(str(self.certificate))
            await server.load_private_key(str(self.private_key))
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
            if self.trusted_clients is not None:
                server.set_certificate_validator(await _only(self.trusted_clients))
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        tokens = [ua.UserNameIdentityToken] if self.users is not None else []
        tokens += [ua.X509IdentityToken] if self.user_certificates is not None else []
        if tokens:
            server.set_identity_tokens(tokens)
        await server.register_namespace(NAMESPACE)
        machine = await server.nodes.objects.add_object("ns=2;s=PS", "2:PocketSetter")
        variables = []
        for name, (nodeid, vtype) in NODES.items():
            var = await machine.add_variable(nodeid, f"2:{name}", ua.Variant(0, vtype))
            variables.append(var)
            if name == "SpeedSetpoint":
                await var.set_writable()
        await server.start()
        self.server = server
        await self._write("SpeedSetpoint", self.model.setpoint)
        sp = ua.NodeId.from_string(NODES["SpeedSetpoint"][0])
        server.set_attribute_value_setter(sp, self._setpoint_written)
        await self.step()
        if self.history:  # in memory, the last HISTORY_VALUES changes of each node (lost at power off);
            # from the first cycle on, not the placeholder values the nodes were made with
            await server.historize_node_data_change(variables, period=None, count=HISTORY_VALUES)  # type: ignore[arg-type]
        if self.running:
            self._runner = asyncio.create_task(self._run(), name=f"opcua-sim-{self.port}")

    async def stop(self) -> None:
        """Power off: the server closes every session and the port (the model keeps its state)."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def history_times(self, name: str) -> list[int]:
        """The SourceTimestamps (ns) the server's history holds for a node (with `history=True`)."""
        assert self.server is not None
        node = self.server.get_node(ua.NodeId.from_string(NODES[name][0]))
        found = await node.read_raw_history(ua.get_win_epoch() + timedelta(days=1), None, 0)
        return [int(dv.SourceTimestamp.timestamp() * 1e9) for dv in found if dv.SourceTimestamp is not None]

    async def step(self) -> None:
        """One controller cycle: every value written with this cycle's SourceTimestamp."""
        for name, value in self.model.step().items():
            await self._write(name, value)

    async def _run(self) -> None:
        while True:
            await self.clock.sleep(self.step_s)
            await self.step()

    async def _write(self, name: str, value: Any) -> None:
        assert self.server is not None
        nodeid, vtype = NODES[name]
        when = ua.DateTime.fromtimestamp(self.clock.now_ns() / 1e9, UTC)
        dv = ua.DataValue(ua.Variant(value, vtype), SourceTimestamp=when, ServerTimestamp=when)
        await self.server.write_attribute_value(ua.NodeId.from_string(nodeid), dv)

    def _setpoint_written(self, node: Any, attr: ua.AttributeIds, value: ua.DataValue) -> None:
        """A write to the setpoint: taken, or (stuck) acknowledged and ignored, as a PLC that
        copies its HMI value over the register every scan does."""
        if self.stuck_setpoint:
            return
        node.attributes[attr].value = value
        self.model.setpoint = float(value.Value.Value) if value.Value is not None else self.model.setpoint


async def self_signed(folder: Path, name: str, uri: str, *, server: bool) -> tuple[Path, Path]:
    """A self-signed application certificate (DER) and key (PEM) for `uri`, made once in `folder`.

    The certificate names the host it is made on: asyncua checks a server's and a client's own
    certificate against the host name and warns otherwise.
    """
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert, key = folder / f"{name}.der", folder / f"{name}.pem"
    use = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
    await setup_self_signed_certificate(key, cert, uri, socket.gethostname(), use, {"commonName": name})
    return cert, key


async def _serve(port: int, seed: int) -> None:
    async with OpcUaMachine(port=port, model=PocketSetterModel(seed=seed)) as machine:
        print(f"pocket-setter: OPC UA {machine.endpoint}")
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the simulated pocket-setter over OPC UA.")
    parser.add_argument("--port", type=int, default=4840)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.seed))


if __name__ == "__main__":
    main()
