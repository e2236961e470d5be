"""The two brokers a side-by-side bench runs against: the plant's secure one and a lab one.

"on" is the broker Tonle runs by default (tonle.app.broker_security): TLS only, a client
certificate per process from the run's own CA (P-256), the certificate name as user name and
client id, the CRL and the ACL generated from the identities. "off" is the plain-text lab
broker (`secure=False`): anonymous, no ACL. Each bench process asks `identity()` for its
`[mqtt]` settings, so the same code runs against both; the bench's bare paho clients
(publishers, the plain subscriber) connect with the same TLS settings as tonle.io.mqtt.

Noise on a shared 2-core VM is larger than the difference being measured, so the benches
alternate the two brokers round by round (ABBA: the order flips every round) and compare
medians from one run only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tonle.app.services import LocalBroker

__all__ = ["MODES", "NoDelayBroker", "label", "paho_client", "rounds_order", "start_brokers"]

# --tls: which brokers to measure. "both" is the default of every bench that takes it.
MODES: dict[str, tuple[bool, ...]] = {"off": (False,), "on": (True,), "both": (False, True)}


def label(tls: bool) -> str:
    return "tls" if tls else "lab"


class NoDelayBroker(LocalBroker):
    """A LocalBroker with `set_tcp_nodelay true` (Nagle's algorithm off on its client sockets).

    Not what Tonle runs today: the benches use it to show what the setting changes. Without
    it, a small packet the broker sends right after another (a CONNACK after the TLS session
    tickets) waits for the client's delayed ACK, 40 ms on Linux.
    """

    def config_text(self) -> str:
        return super().config_text() + "set_tcp_nodelay true\n"


def start_brokers(folder: Path, mode: str, nodelay: bool = False, **kwargs: Any) -> dict[bool, LocalBroker]:
    """One running broker per measured mode, keyed by `tls` (True: the secure one)."""
    kind = NoDelayBroker if nodelay else LocalBroker
    return {tls: kind(folder / f"broker-{label(tls)}", secure=tls, **kwargs).start() for tls in MODES[mode]}


def rounds_order(r: int, mode: str) -> tuple[bool, ...]:
    """The modes of round `r`: lab then TLS on even rounds, TLS then lab on odd ones."""
    modes = MODES[mode]
    return modes if r % 2 == 0 else modes[::-1]


def paho_client(settings: dict[str, Any], client_id: str) -> Any:
    """A paho MQTT v5 client (not connected) with the identity's TLS files, if any.

    On the secure broker the client id is replaced by the certificate name; `client_id`
    only matters on the lab broker.
    """
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    if settings.get("tls"):
        # As tonle.io.mqtt: the broker's certificate and host name checked, our own shown.
        c.tls_set(ca_certs=settings["ca_file"], certfile=settings["cert_file"], keyfile=settings["key_file"])
    return c
