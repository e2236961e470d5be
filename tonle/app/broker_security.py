"""The security half of the local mosquitto: TLS, a certificate per client, the generated ACL.

`LocalBroker` (tonle.app.services) runs secure unless told it is a lab: a TLS listener that
requires a client certificate signed by the run's own CA, takes the certificate name as the
user name and client id, checks the CRL, and the access rules generated from the identity
registry (tonle.security.acl, for mosquitto's dynamic-security plugin). A new or revoked
identity restarts the broker, as `tonle provision` asks a plant to do: the plugin reads its
rules only when mosquitto starts. The demo and the system tests that prove the security run this way; tests
about other things may run a lab broker (`secure=False`): plain text, anonymous, loopback only.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from tonle.security.plant import PlantSecurity
from tonle.security.registry import Member, Role

__all__ = ["BrokerSecurity"]

# Debian/Ubuntu's mosquitto package, and the eclipse-mosquitto image.
PLUGIN_GLOBS = ("/usr/lib/*/mosquitto_dynamic_security.so", "/usr/lib/mosquitto_dynamic_security.so")


def dynsec_plugin() -> str:
    for pattern in PLUGIN_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    raise FileNotFoundError(
        "mosquitto's dynamic-security plugin (mosquitto_dynamic_security.so) is not installed; "
        "it comes with mosquitto 2.0: sudo apt-get install mosquitto"
    )


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
            f"plugin {dynsec_plugin()}",
            f"plugin_opt_config_file {p.rules_file}",
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
            self.apply()
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
        self.apply()

    def apply(self) -> None:
        """Restart a running broker on its port with its sessions, so it loads the new rules and CRL."""
        if self.proc is not None and self.proc.poll() is None:
            self.stop()  # type: ignore[attr-defined]  # LocalBroker's
            self.start()  # type: ignore[attr-defined]
