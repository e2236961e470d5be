"""A device source's session on a plant's own MQTT broker (Sparkplug B, plain MQTT devices).

That broker is not Tonle's: the plant's IT runs it, and the gateway logs in the way it
asks. TLS is on when the device section names `ca_file` (the CA that signed the broker's
certificate, so the gateway knows it talks to the plant's broker and not to a laptop on the
same Wi-Fi); the login is `username` with the password in the variable `password_env`
names; a client certificate (`cert_file` + `key_file`) only when the broker wants one.
The TLS itself is the agent's own (`MqttConnection` with `TlsFiles`): only what a failure
tells the technician differs, since the keys to change are in the device section, not
in `[mqtt]` (which is Tonle's broker).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Protocol

from tonle.io.mqtt import MqttConnection, Will
from tonle.io.mqtt_tls import Fixes, TlsFiles
from tonle.messages import N_, _

__all__ = ["PlantBroker", "plant_connection", "plant_fixes", "plant_tls"]

log = logging.getLogger("tonle.agent")

UNREACHABLE_FIX = N_(
    "check host and port in the device section '{section}', and that the plant's MQTT broker is running"
)
UNTRUSTED_FIX = N_(
    "in the device section '{section}', ca_file must be the CA certificate that signed the plant broker's "
    "certificate (ask whoever runs that broker), and host a name on that certificate"
)
CERT_REFUSED_FIX = N_(
    "check cert_file and key_file in the device section '{section}': the plant's broker does not accept "
    "this certificate, or wants one"
)
CLOSED_FIX = N_(
    "the plant's broker hung up during the greeting: in the device section '{section}', check port, "
    "ca_file (set it when the broker speaks TLS), and cert_file and key_file when it asks for a "
    "client certificate"
)
REFUSED_FIX = N_(
    "check username in the device section '{section}', the password in the variable its password_env "
    "names, and what the plant's broker allows that user"
)


class PlantBroker(Protocol):
    """What a device section gives for its broker (SparkplugSourceConfig, MqttJsonDeviceConfig)."""

    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def ca_file(self) -> str: ...
    @property
    def cert_file(self) -> str: ...
    @property
    def key_file(self) -> str: ...
    def password(self) -> str | None: ...


def plant_fixes(section: str) -> Fixes:
    """Fix sentences that send the reader to the device section `section`."""
    return Fixes(
        unreachable=UNREACHABLE_FIX,
        untrusted=UNTRUSTED_FIX,
        cert_refused=CERT_REFUSED_FIX,
        closed=CLOSED_FIX,
        refused=REFUSED_FIX,
        data={"section": section},
    )


def plant_tls(cfg: PlantBroker) -> TlsFiles | None:
    """TLS files when the section names a CA (the config's checks saw that they exist), else None."""
    if not cfg.ca_file:
        return None
    return TlsFiles(cfg.ca_file, cfg.cert_file, cfg.key_file)


def plant_connection(
    cfg: PlantBroker,
    client_id: str,
    *,
    will: Will | None = None,
    manual_ack: bool = False,
    clean_start: bool = True,
    session_expiry_s: int = 0,
    on_connect_hook: Callable[[], None] | None = None,
) -> MqttConnection:
    """An MQTT v5 session on the section's broker, not yet connected; it retries until cancelled.

    A broker on another machine reached without TLS is allowed (many plant brokers offer
    nothing else) but said once per connection made, with what it costs and the fix.
    """
    if not cfg.ca_file and not _loopback(cfg.host):
        log.warning(
            _(
                "device {device}: the plant's broker at {host}:{port} is reached without TLS: anyone on that "
                "network can read its data and send data in its devices' names; set ca_file (and a login) "
                "in the device section when the broker offers TLS"
            ).format(device=cfg.name, host=cfg.host, port=cfg.port)
        )
    return MqttConnection(
        cfg.host,
        cfg.port,
        client_id=client_id,
        will=will,
        manual_ack=manual_ack,
        clean_start=clean_start,
        session_expiry_s=session_expiry_s,
        username=cfg.username or None,
        password=cfg.password(),
        tls=plant_tls(cfg),
        fixes=plant_fixes(cfg.name),
        on_connect_hook=on_connect_hook,
    )


def _loopback(host: str) -> bool:
    """A broker on the gateway itself: plain text never leaves the machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
