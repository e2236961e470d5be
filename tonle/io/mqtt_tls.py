"""TLS for `MqttConnection`: the files a client shows, and what a failed handshake means.

Split from `tonle.io.mqtt` so the connection's life cycle reads on its own. A TLS failure
is not an outage: a gateway whose certificate was revoked, or that does not trust the
broker, needs a person, so it gets its own sentence and fix instead of "cannot reach".
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from tonle.io.mqtt_inbound import FastPublishClient
from tonle.messages import N_

__all__ = ["AGENT_FIXES", "CLOSED", "Fixes", "TlsClient", "TlsFiles", "connect_failure"]

UNREACHABLE = N_("cannot reach the MQTT broker at {host}:{port} ({reason})")
UNREACHABLE_FIX = N_(
    "check that the broker (mosquitto) is running and that mqtt.host and mqtt.port in the config are right"
)
UNTRUSTED = N_("the MQTT broker at {host}:{port} did not prove who it is ({reason})")
UNTRUSTED_FIX = N_(
    "mqtt.ca_file must be the plant's ca.crt, and mqtt.host a name on the broker's certificate "
    "(tonle provision init --broker-host NAME); a client that does not trust the broker never sends to it"
)
CLOSED = N_("the MQTT broker at {host}:{port} hung up before accepting this client ({reason})")
CLOSED_FIX = N_(
    "the plant's broker speaks TLS only and wants a certificate from `tonle provision`: check mqtt.tls, "
    "mqtt.cert_file and mqtt.key_file; a revoked gateway needs new credentials"
)
CERT_REFUSED = N_("the MQTT broker at {host}:{port} refused this client's certificate ({reason})")
CERT_REFUSED_FIX = N_(
    "check mqtt.cert_file and mqtt.key_file; a revoked or expired gateway needs new credentials "
    "from `tonle provision gateway NAME`"
)
REFUSED_FIX = N_(
    "check mqtt.username, the password in the variable named by mqtt.password_env, and the broker's ACL"
)


@dataclass(frozen=True)
class Fixes:
    """What to do about each way a connection can fail, naming the keys of the config it came from.

    The default names the gateway's own `[mqtt]` keys and `tonle provision`; a device source on a
    plant's own broker (Sparkplug B, plain MQTT devices) names its `[[devices]]` keys instead
    (tonle.io.plant_broker), so the technician is sent to the section that is wrong. `data`
    fills the fields those sentences name (say, the device section's name).
    """

    unreachable: str = UNREACHABLE_FIX
    untrusted: str = UNTRUSTED_FIX
    cert_refused: str = CERT_REFUSED_FIX
    closed: str = CLOSED_FIX
    refused: str = REFUSED_FIX  # the broker answered, and refused the login (CONNACK)
    data: Mapping[str, object] = field(default_factory=dict)


AGENT_FIXES = Fixes()


def connect_failure(exc: BaseException, fixes: Fixes = AGENT_FIXES) -> tuple[str, str, str]:
    """(message, fix, reason) for an exception raised while connecting."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return UNTRUSTED, fixes.untrusted, exc.verify_message or str(exc)
    if isinstance(exc, ssl.SSLError):
        return CERT_REFUSED, fixes.cert_refused, exc.reason or str(exc)
    return UNREACHABLE, fixes.unreachable, str(exc) or exc.__class__.__name__


class TlsClient(FastPublishClient):
    """paho's client, closing the TLS socket of a failed handshake (paho 2.1 leaves it open).

    A gateway with a revoked certificate or the wrong CA retries for days: without this,
    every attempt would leak a socket until the garbage collector found it.
    """

    def _ssl_wrap_socket(self, tcp_sock):  # type: ignore[no-untyped-def]
        ctx = self._ssl_context
        made: list[ssl.SSLSocket] = []
        if ctx is None:
            return super()._ssl_wrap_socket(tcp_sock)
        wrap = ctx.wrap_socket

        def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
            sock = wrap(*args, **kwargs)
            made.append(sock)
            return sock

        ctx.wrap_socket = recorded  # type: ignore[method-assign]
        try:
            return super()._ssl_wrap_socket(tcp_sock)
        except BaseException:
            for sock in made:
                sock.close()
            tcp_sock.close()
            raise
        finally:
            del ctx.wrap_socket


@dataclass(frozen=True)
class TlsFiles:
    """The CA this client trusts, and its own certificate and key (its identity to the broker).

    A client of a plant's own broker may log in with a password instead of a certificate:
    `cert` and `key` are then empty, and only the broker proves who it is.
    """

    ca: str
    cert: str = ""
    key: str = ""
