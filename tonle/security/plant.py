"""The plant's security folder: CA, certificates, identities, ACL and CRL, kept consistent.

One object changes them together, so the access rules the broker loads (`dynsec.json`, for
mosquitto's dynamic-security plugin; tonle.security.acl says why not an acl_file) always match
the identities that hold certificates, and a revoked identity loses its certificate (CRL) and
its topics in the same step. mosquitto reads `dynsec.json` when it starts: after a change the
broker restarts, every client reconnects within seconds, and nothing is lost
(docs/delivery.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tonle.security.acl import dynsec_config
from tonle.security.pki import Authority, Identity
from tonle.security.registry import Member, Registry

__all__ = ["BROKER", "PlantSecurity"]

BROKER = "broker"  # the broker's server certificate: not a client, not in the ACL
DEFAULT_BROKER_HOSTS = ("localhost", "127.0.0.1")


@dataclass
class PlantSecurity:
    folder: Path
    authority: Authority
    registry: Registry

    @classmethod
    def open(cls, folder: Path, broker_hosts: tuple[str, ...] = ()) -> PlantSecurity:
        """Open the folder, making the CA and the broker's certificate the first time."""
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        plant = cls(folder, Authority.open(folder), Registry.open(folder))
        if broker_hosts or not plant.authority.identity(BROKER).cert.exists():
            hosts = tuple(dict.fromkeys((*DEFAULT_BROKER_HOSTS, *broker_hosts)))
            plant.authority.issue(BROKER, server_hosts=hosts, role="broker")
        plant.write_acl()
        return plant

    @property
    def rules_file(self) -> Path:
        """The dynamic-security plugin's file (`plugin_opt_config_file`)."""
        return self.folder / "dynsec.json"

    @property
    def broker(self) -> Identity:
        return self.authority.identity(BROKER)

    def add(self, member: Member) -> Identity:
        """Register `member` and issue its certificate; the ACL is rewritten."""
        if member.name == BROKER:
            raise ValueError(f"{BROKER!r} is the broker's own certificate; choose another name")
        self.registry.add(member)
        ident = self.authority.issue(member.name, role=member.role)
        self.registry.save()
        self.write_acl()
        return ident

    def identity(self, name: str) -> Identity:
        return self.authority.identity(name)

    def revoke(self, name: str) -> Member:
        """Take `name`'s certificate and topics back; everyone else keeps working."""
        member = self.registry.revoke(name)
        self.authority.revoke(name)
        self.registry.save()
        self.write_acl()
        return member

    def write_acl(self) -> None:
        tmp = self.rules_file.with_suffix(".tmp")
        doc = dynsec_config(self.registry.members.values())
        tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.rules_file)
