"""A plant's own MQTT broker as a plant's IT runs it: a real mosquitto, TLS only, a password per user.

Not Tonle's secure broker (which takes a client certificate as the identity): the broker a
plant's SCADA, Sparkplug edge nodes and Wi-Fi plugs already publish to, with a server
certificate signed by the plant CA of `tonle.security` and a `password_file` made by
mosquitto's own `mosquitto_passwd`; nobody gets in without a login. The demo runs one as
"the plant's broker" (tonle.app.demo_protocols) and the device sources' tests meet it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tonle.app.services import LocalBroker

__all__ = ["PasswordBroker"]


@dataclass
class PasswordBroker(LocalBroker):
    """TLS (the plant CA's server certificate) and `users` (name -> password); nobody anonymous."""

    users: dict[str, str] = field(default_factory=dict)
    client_certificates: bool = False  # True: the broker also asks for a certificate the plant CA signed

    @property
    def ca_file(self) -> str:
        return str(self.plant.authority.ca_file)

    def listener_lines(self) -> list[str]:
        p = self.plant
        passwords = self.folder / "passwords"
        _password_file(passwords, self.users)
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


def _password_file(path: Path, users: dict[str, str]) -> None:
    """mosquitto's password file, hashed by its own tool (`mosquitto_passwd -b`, one user at a time)."""
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    path.chmod(0o600)
    for user, password in users.items():
        subprocess.run([tool, "-b", str(path), user, password], check=True, capture_output=True, timeout=30)
