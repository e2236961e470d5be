"""The security half of the local mosquitto: TLS, a certificate per client, the generated ACL.

`LocalBroker` (tonle.app.services) runs secure unless told it is a lab: a TLS listener that
requires a client certificate signed by the run's own CA, takes the certificate name as the
user name and client id, checks the CRL and the ACL generated from the identity registry
(tonle.security). The demo and the system tests that prove the security run this way; tests
about other things may run a lab broker (`secure=False`): plain text, anonymous, loopback only.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from tonle.security.plant import PlantSecurity
from tonle.security.registry import Member, Role

__all__ = ["BrokerSecurity"]

RELOAD_TIMEOUT_S = 10.0
RELOADED = "Reloading config"


class BrokerSecurity:
    """Mixed into LocalBroker: needs `folder`, `port`, `host`, `secure` and `proc`."""

    folder: Path
    port: int
    secure: bool
    proc: Any

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def plant(self) -> PlantSecurity:
        """The run's security folder (CA, identities, ACL), made on first use."""
        found: PlantSecurity | None = getattr(self, "_plant", None)
        if found is None:
            found = PlantSecurity.open(self.folder / "security")
            self._plant = found
        return found

    def listener_lines(self) -> list[str]:
        if not self.secure:
            return [f"listener {self.port} 127.0.0.1", "allow_anonymous true"]
        p = self.plant
        broker = p.broker
        return [
            "per_listener_settings false",
            "allow_anonymous false",
            f"acl_file {p.acl_file}",
            f"listener {self.port} 127.0.0.1",
            f"cafile {p.authority.ca_file}",
            f"certfile {broker.cert}",
            f"keyfile {broker.key}",
            "require_certificate true",
            # mosquitto reads these two per listener: they must follow the listener line.
            "use_identity_as_username true",
            "use_username_as_clientid true",
            f"crlfile {p.authority.crl_file}",
        ]

    def identity(self, name: str, role: Role, **place: Any) -> dict[str, Any]:
        """The `[mqtt]` settings of identity `name` (made and allowed first if it is new).

        A lab broker has no identities: any name gets plain text settings.
        """
        settings: dict[str, Any] = {"host": self.host, "port": self.port}
        if not self.secure:
            return settings | {"tls": False}
        p = self.plant
        member = p.registry.members.get(name)
        if member is None or member.revoked:
            machines = tuple(place.pop("machines", ()))
            p.add(Member(name, role, machines=machines, **place))
            self.reload()
        ident = p.identity(name)
        return settings | {
            "tls": True,
            "ca_file": str(p.authority.ca_file),
            "cert_file": str(ident.cert),
            "key_file": str(ident.key),
        }

    def revoke(self, name: str) -> None:
        """Take `name`'s certificate and topics back, and make the running broker know it."""
        self.plant.revoke(name)
        self.reload()

    def reload(self) -> None:
        """SIGHUP: mosquitto reads the ACL and CRL again; return once its log says it has."""
        if self.proc is None or self.proc.poll() is not None:
            return
        log = self.folder / "mosquitto.log"
        before = _count(log)
        os.kill(self.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        while _count(log) <= before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"mosquitto did not reload within {RELOAD_TIMEOUT_S:.0f}s; see {log}")
            time.sleep(0.02)


def _count(log: Path) -> int:
    try:
        return log.read_text(errors="replace").count(RELOADED)
    except OSError:
        return 0
