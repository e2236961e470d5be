"""A secured OPC UA endpoint (Basic256Sha256, SignAndEncrypt) with a user login, against asyncua.

The right user reads values over the encrypted session; a wrong password is refused with
one plain sentence that names the device and what to check, and is not retried as if the
link were down (the agent retries a TonleError on its own slower schedule).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge_agent.sources.opcua import OpcUaLoginRefused
from firmware_sim.opcua_machine import NAMESPACE, OpcUaMachine, self_signed
from tests.opcua.support import WAIT_S, Collector, running, source, until

PASSWORD_ENV = "TONLE_TEST_OPCUA_PASSWORD"


def test_a_secured_endpoint_lets_the_right_user_in_and_refuses_a_wrong_password_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body() -> tuple[str, str]:
        server_cert, server_key = await self_signed(tmp_path, "server", NAMESPACE, server=True)
        cert, key = await self_signed(tmp_path, "gateway", "urn:tonle:gateway", server=False)
        secure = {
            "security_policy": "Basic256Sha256", "security_mode": "SignAndEncrypt",
            "certificate": str(cert), "private_key": str(key),
            "username": "technician", "password_env": PASSWORD_ENV,
        }  # fmt: skip
        users = {"technician": "pocket-4840"}
        async with OpcUaMachine(
            running=False, users=users, certificate=server_cert, private_key=server_key
        ) as m:
            monkeypatch.setenv(PASSWORD_ENV, "pocket-4840")
            src = source(m.endpoint, **secure)
            seen = Collector()
            async with running(src, seen):
                await until(lambda: bool(seen.samples("speed_ppm")), "a value over the encrypted session")
            assert src.health.sessions == 1
            monkeypatch.setenv(PASSWORD_ENV, "pocket-4841")
            with pytest.raises(OpcUaLoginRefused) as wrong:
                async with asyncio.timeout(WAIT_S):  # raised at once, not retried as a link fault
                    await source(m.endpoint, **secure).run(Collector())
            plain = {
                k: v for k, v in secure.items() if not k.startswith(("security", "certificate", "private"))
            }
            with pytest.raises(OpcUaLoginRefused) as unsecured:
                async with asyncio.timeout(WAIT_S):
                    await source(m.endpoint, **plain).run(Collector())
        return str(wrong.value), str(unsecured.value)

    wrong, unsecured = asyncio.run(body())
    assert wrong.startswith("the OPC UA server of ps_opcua at opc.tcp://127.0.0.1:")
    assert "refused the login (BadUserAccessDenied); check the username and the password" in wrong
    assert unsecured.endswith(
        "offers no endpoint with security None None; set security_policy and security_mode to what the "
        "machine offers (its OPC UA settings)"
    )
