"""One OPC UA session: the client with its security and login, the nodes found, the subscription.

asyncua's own reconnect (`auto_reconnect`) is left off: the source decides when to
reconnect, with `tonle.io.backoff`, and builds everything again on a fresh session (a
restarted server has forgotten the old subscription, and may have renumbered its nodes).

The watchdog that proves a subscription is alive: the server answers every publish
request, with data or with a keep-alive at least every `watchdog_s / 3` (the keep-alive
count is set from it), and asyncua records the time of each answer (`last_publish_at`).
A subscription that stays silent longer than `watchdog_s`, a heartbeat node (the server's
clock, by default) that stops changing, or a connection asyncua reports lost, ends the
session: it is never left quietly open with nothing arriving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncua import Client, Node, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from edge_agent.sources.opcua_config import OpcUaDeviceConfig, OpcUaNodeConfig
from edge_agent.sources.opcua_readings import Value, to_ns
from tonle.errors import TonleError
from tonle.messages import N_

__all__ = ["Liveness", "OpcUaLinkError", "OpcUaLoginRefused", "open_client", "resolve", "to_value"]

_LOGIN_CODES = (
    ua.StatusCodes.BadUserAccessDenied,
    ua.StatusCodes.BadIdentityTokenRejected,
    ua.StatusCodes.BadIdentityTokenInvalid,
)
_SECURITY_CODES = (
    ua.StatusCodes.BadSecurityPolicyRejected,
    ua.StatusCodes.BadCertificateInvalid,
    ua.StatusCodes.BadCertificateUntrusted,
    ua.StatusCodes.BadSecurityChecksFailed,
)


class OpcUaLinkError(TonleError):
    """The OPC UA server cannot be reached or a session cannot be set up (device, endpoint, reason)."""


class OpcUaLoginRefused(OpcUaLinkError):
    """The server refused the gateway's login or security settings: retrying them unchanged will not help."""


def to_value(dv: ua.DataValue) -> Value:
    code = dv.StatusCode
    good = code is None or code.is_good()
    raw = dv.Value.Value if dv.Value is not None else None
    status = "Good" if good or code is None else code.name
    return Value(raw, good, to_ns(dv.SourceTimestamp), to_ns(dv.ServerTimestamp), status)


async def open_client(cfg: OpcUaDeviceConfig, password: str | None) -> Client:
    """A connected client with the section's security and login; raises OpcUaLinkError."""
    client = Client(cfg.endpoint, timeout=cfg.timeout_s, watchdog_intervall=cfg.watchdog_s)
    client.application_uri = cfg.application_uri
    client.session_timeout = max(30_000, round(cfg.watchdog_s * 4000))
    if cfg.username:
        client.set_user(cfg.username)
        client.set_password(password or "")
    try:
        if cfg.user_certificate:
            await client.load_client_certificate(cfg.user_certificate)
            await client.load_private_key(Path(cfg.user_private_key))
        if cfg.security_policy == "Basic256Sha256":
            mode = getattr(ua.MessageSecurityMode, cfg.security_mode)
            await client.set_security(
                SecurityPolicyBasic256Sha256,
                cfg.certificate,
                cfg.private_key,
                server_certificate=cfg.server_certificate or None,
                mode=mode,
            )
        async with asyncio.timeout(cfg.timeout_s * 2):
            await client.connect(auto_reconnect=False)
    except ua.UaStatusCodeError as exc:
        raise _refusal(cfg, exc) from exc
    except ua.UaError as exc:
        if str(exc).startswith("No matching endpoints"):  # asyncua's words for a policy the server lacks
            text = N_(
                "the OPC UA server of {device} at {endpoint} offers no endpoint with security {policy} {mode}"
            )
            fix = N_("set security_policy and security_mode to what the machine offers (its OPC UA settings)")
            raise OpcUaLoginRefused(
                text, fix=fix, device=cfg.name, endpoint=cfg.endpoint,
                policy=cfg.security_policy, mode=cfg.security_mode,
            ) from exc  # fmt: skip
        raise _unreachable(cfg, exc) from exc
    except (OSError, TimeoutError) as exc:
        raise _unreachable(cfg, exc) from exc
    return client


def _unreachable(cfg: OpcUaDeviceConfig, exc: Exception) -> OpcUaLinkError:
    return OpcUaLinkError(
        N_("cannot reach the OPC UA server of {device} at {endpoint}: {reason}"),
        fix=N_("check that the machine is on and the endpoint address and port are right"),
        device=cfg.name,
        endpoint=cfg.endpoint,
        reason=str(exc) or type(exc).__name__,
    )


def _refusal(cfg: OpcUaDeviceConfig, exc: ua.UaStatusCodeError) -> OpcUaLinkError:
    code = exc.code
    name = ua.StatusCode(code).name
    data: dict[str, Any] = {"device": cfg.name, "endpoint": cfg.endpoint, "reason": name}
    if code in _LOGIN_CODES:
        return OpcUaLoginRefused(
            N_("the OPC UA server of {device} at {endpoint} refused the login ({reason})"),
            fix=N_("check the username and the password in the variable named by password_env, "
                   "or the user certificate, with the machine's administrator"),
            user=cfg.username, **data,
        )  # fmt: skip
    if code in _SECURITY_CODES:
        return OpcUaLoginRefused(
            N_("the OPC UA server of {device} at {endpoint} refused the secure connection ({reason})"),
            fix=N_(
                "trust the gateway's certificate on the machine, and check security_policy and security_mode"
            ),
            **data,
        )
    return OpcUaLinkError(
        N_("the OPC UA server of {device} at {endpoint} refused the session ({reason})"),
        fix=N_("check the endpoint and the security settings against the machine's OPC UA settings"),
        **data,
    )


async def resolve(client: Client, node: str, path: str) -> Node:
    """The node named by a node id, or found by its browse path from the Objects folder."""
    if node:
        return client.get_node(node)
    parts = [p if ":" in p else f"0:{p}" for p in path.split("/")]
    found: Node = await client.nodes.objects.get_child(parts)
    return found


@dataclass
class Liveness:
    """The subscription handler: values to the source, and the proof that the subscription lives."""

    on_value: Callable[[OpcUaNodeConfig, Value], None]
    by_node: dict[ua.NodeId, OpcUaNodeConfig] = field(default_factory=dict)
    heartbeat: ua.NodeId | None = None
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    why: str = ""
    last_heartbeat: float = field(default_factory=time.monotonic)

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        if node.nodeid == self.heartbeat:
            self.last_heartbeat = time.monotonic()
        cfg = self.by_node.get(node.nodeid)
        if cfg is not None:
            self.on_value(cfg, to_value(data.monitored_item.Value))

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        code = status.Status
        if not code.is_good():
            self.end(f"subscription status {code.name}")

    def end(self, why: str) -> None:
        if not self.lost.is_set():
            self.why = why
            self.lost.set()

    async def connection_lost(self, exc: Exception) -> None:
        self.end(f"connection lost: {exc!r}")
