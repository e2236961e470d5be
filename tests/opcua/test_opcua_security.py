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


def test_a_user_certificate_logs_in_and_an_untrusted_one_is_refused_plainly(tmp_path: Path) -> None:
    """Certificate login (`user_certificate`, `user_private_key`): the machine trusts one user
    certificate; the gateway holding it reads values, one holding another is refused at once."""

    async def body() -> str:
        server_cert, server_key = await self_signed(tmp_path, "server", NAMESPACE, server=True)
        cert, key = await self_signed(tmp_path, "gateway", "urn:tonle:gateway", server=False)
        user_cert, user_key = await self_signed(
            tmp_path / "user", "technician", "urn:tonle:gateway", server=False
        )
        other_cert, other_key = await self_signed(
            tmp_path / "other", "stranger", "urn:tonle:gateway", server=False
        )
        secure = {
            "security_policy": "Basic256Sha256", "security_mode": "SignAndEncrypt",
            "certificate": str(cert), "private_key": str(key), "server_certificate": str(server_cert),
        }  # fmt: skip
        async with OpcUaMachine(
            running=False, user_certificates={"technician": user_cert},
            certificate=server_cert, private_key=server_key,
        ) as m:  # fmt: skip
            src = source(
                m.endpoint, **secure, user_certificate=str(user_cert), user_private_key=str(user_key)
            )
            seen = Collector()
            async with running(src, seen):
                await until(lambda: bool(seen.samples("speed_ppm")), "a value under the certificate login")
            assert src.health.sessions == 1
            stranger = source(
                m.endpoint, **secure, user_certificate=str(other_cert), user_private_key=str(other_key)
            )
            with pytest.raises(OpcUaLoginRefused) as refused:
                async with asyncio.timeout(WAIT_S):
                    await stranger.run(Collector())
        return str(refused.value)

    (tmp_path / "user").mkdir()
    (tmp_path / "other").mkdir()
    refused = asyncio.run(body())
    assert refused.startswith("the OPC UA server of ps_opcua at opc.tcp://127.0.0.1:")
    assert "refused the login" in refused and "user certificate" in refused


def test_a_machine_that_trusts_only_the_gateways_certificate_refuses_another_application(
    tmp_path: Path,
) -> None:
    """The machine's administrator trusted the gateway's application certificate: a laptop with its
    own certificate (and even the right password) is refused the secure channel, plainly."""

    async def body() -> str:
        server_cert, server_key = await self_signed(tmp_path, "server", NAMESPACE, server=True)
        cert, key = await self_signed(tmp_path, "gateway", "urn:tonle:gateway", server=False)
        (tmp_path / "laptop").mkdir()
        other, other_key = await self_signed(tmp_path / "laptop", "laptop", "urn:tonle:gateway", server=False)
        secure = {
            "security_policy": "Basic256Sha256", "security_mode": "SignAndEncrypt",
            "server_certificate": str(server_cert),
        }  # fmt: skip
        async with OpcUaMachine(
            running=False, trusted_clients=[cert], certificate=server_cert, private_key=server_key
        ) as m:
            src = source(m.endpoint, **secure, certificate=str(cert), private_key=str(key))
            seen = Collector()
            async with running(src, seen):
                await until(lambda: bool(seen.samples("speed_ppm")), "a value with the trusted certificate")
            laptop = source(m.endpoint, **secure, certificate=str(other), private_key=str(other_key))
            with pytest.raises(OpcUaLoginRefused) as refused:
                async with asyncio.timeout(WAIT_S):
                    await laptop.run(Collector())
        return str(refused.value)

    refused = asyncio.run(body())
    assert "refused the secure connection (BadCertificateUntrusted)" in refused
    assert "trust the gateway's certificate on the machine" in refused
