"""A plant's own MQTT broker as a plant's IT runs it: a real mosquitto, TLS only, a password per user.

Not Tonle's secure broker (which takes a client certificate as the identity): this one has a
server certificate signed by the plant CA of `tonle.security` and a `password_file`, and lets no
one in without a login, so the device sources' TLS and login are met by the real thing.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from tonle.app.services import LocalBroker

__all__ = ["PASSWORD", "USER", "PasswordBroker", "mosquitto_password"]

USER, PASSWORD = "tonle-gw", "s3cret-plant"


def mosquitto_password(user: str, password: str) -> str:
    """One `password_file` line in mosquitto's salted SHA-512 form (`$6$salt$hash`)."""
    salt = os.urandom(12)
    digest = hashlib.sha512(password.encode() + salt).digest()
    return f"{user}:$6${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@dataclass
class PasswordBroker(LocalBroker):
    """TLS (the plant CA's server certificate) and `users` (name -> password); nobody anonymous."""

    users: dict[str, str] = field(default_factory=lambda: {USER: PASSWORD})
    client_certificates: bool = False  # True: the broker also asks for a certificate the plant CA signed

    @property
    def ca_file(self) -> str:
        return str(self.plant.authority.ca_file)

    def listener_lines(self) -> list[str]:
        p = self.plant
        passwords = self.folder / "passwords"
        passwords.write_text("".join(mosquitto_password(u, pw) + "\n" for u, pw in self.users.items()))
        passwords.chmod(0o600)
        return [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {passwords}",
            f"cafile {p.authority.ca_file}",
            f"certfile {p.broker.cert}",
            f"keyfile {p.broker.key}",
            f"require_certificate {'true' if self.client_certificates else 'false'}",
        ]

    def client(self, name: str) -> tuple[Path, Path]:
        """A client certificate and key the plant CA signed, for a broker that asks for one."""
        ident = self.plant.authority.issue(name, role="gateway")
        return ident.cert, ident.key
