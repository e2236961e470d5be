"""Who may talk to the plant's broker: one entry per identity, kept beside the CA.

Every process that connects to the broker has an identity of its own (the common name of
its certificate, which the broker also takes as its user name and client id). The registry
says what each identity is: a gateway owning some machines of one line, a collector, the
analytics, an operator, an observer (the demo's own watch), or the container healthcheck.
The broker's ACL is generated from it (`tonle.security.acl`), never written by hand, so a
gateway can only ever speak for the machines it owns.

Kept as `identities.json` in the security folder: small, diffable, and readable without
Tonle installed. A new name is checked against the names already in use (`names`), so a
look-alike site, line, machine or identity is refused with both names.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, get_args

from tonle.contract.topics import TopicError, check_name
from tonle.security.names import confusable_with

__all__ = ["ROLES", "Member", "Registry", "RegistryError", "Role"]

Role = Literal["gateway", "collector", "analytics", "operator", "observer", "healthcheck", "qc"]
ROLES: tuple[str, ...] = get_args(Role)
FILE = "identities.json"


class RegistryError(ValueError):
    """An identity cannot be added or found; the message says why and what to do."""


@dataclass(frozen=True)
class Member:
    """One identity. A gateway owns `machines` of site/area/line (every machine when empty)."""

    name: str
    role: Role
    site: str = ""
    area: str = ""
    line: str = ""
    machines: tuple[str, ...] = ()
    revoked: bool = False

    @property
    def place(self) -> tuple[str, str, str]:
        return (self.site, self.area, self.line)

    def check(self) -> None:
        if self.role not in ROLES:
            raise RegistryError(f"{self.role!r} is not a role; use one of {', '.join(ROLES)}")
        for level, value in (("identity", self.name), *self._levels()):
            try:
                check_name(level, value)
            except TopicError as exc:
                raise RegistryError(str(exc)) from exc
        if not all(c.isascii() and (c.isalnum() or c in "-_.") for c in self.name):
            raise RegistryError(
                f"identity name {self.name!r} must be ASCII letters, digits, '-', '_' or '.': it becomes "
                "a certificate name, a file name and the broker's user name"
            )
        if self.role == "gateway" and not (self.site and self.area and self.line):
            raise RegistryError(f"gateway {self.name!r} needs --site, --area and --line: the line it serves")

    def _levels(self) -> list[tuple[str, str]]:
        pairs = [(lvl, v) for lvl, v in (("site", self.site), ("area", self.area), ("line", self.line)) if v]
        return pairs + [("machine", m) for m in self.machines]


@dataclass
class Registry:
    """The identities in `folder/identities.json`."""

    folder: Path
    members: dict[str, Member] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: Path) -> Registry:
        path = folder / FILE
        if not path.exists():
            return cls(folder)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries = raw["identities"]
            members = {m["name"]: Member(**{**m, "machines": tuple(m.get("machines", ()))}) for m in entries}
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError(f"{path} is damaged ({exc}); restore it from a backup") from exc
        return cls(folder, members)

    def save(self) -> None:
        """Write atomically: a power cut leaves the old file or the new one, never half of one."""
        path = self.folder / FILE
        tmp = path.with_suffix(".tmp")
        doc = {"identities": [asdict(m) for m in sorted(self.members.values(), key=lambda m: m.name)]}
        tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def active(self) -> list[Member]:
        return [m for m in self.members.values() if not m.revoked]

    def add(self, member: Member) -> Member:
        """Add (or re-issue) an identity after checking its names against those in use."""
        member.check()
        old = self.members.get(member.name)
        if old is not None and old.role != member.role:
            raise RegistryError(
                f"{member.name!r} is already a {old.role}; choose another name, or revoke it first"
            )
        self._check_look_alikes(member)
        self._check_machines_free(member)
        self.members[member.name] = member
        return member

    def revoke(self, name: str) -> Member:
        member = self.members.get(name)
        if member is None:
            known = ", ".join(sorted(self.members)) or "none yet"
            raise RegistryError(f"there is no identity called {name!r} (known: {known})")
        revoked = Member(**{**asdict(member), "machines": member.machines, "revoked": True})
        self.members[name] = revoked
        return revoked

    # -- checks -------------------------------------------------------------------------
    def _check_look_alikes(self, new: Member) -> None:
        others = [m for m in self.members.values() if m.name != new.name]
        confusable_with("identity", new.name, [m.name for m in others])
        if new.site:
            confusable_with("site", new.site, {m.site for m in others if m.site})
        same_site = [m for m in others if m.site == new.site]
        if new.area:
            confusable_with("area", new.area, {m.area for m in same_site if m.area})
        same_area = [m for m in same_site if m.area == new.area]
        if new.line:
            confusable_with("line", new.line, {m.line for m in same_area if m.line})
        same_line = [m for m in same_area if m.line == new.line]
        used = {x for m in same_line for x in m.machines}
        for machine in new.machines:
            confusable_with("machine", machine, used | (set(new.machines) - {machine}))

    def _check_machines_free(self, new: Member) -> None:
        """Two gateways never speak for the same machine: that is how one would hide behind the other."""
        if new.role != "gateway":
            return
        for m in self.active():
            if m.name == new.name or m.role != "gateway" or m.place != new.place:
                continue
            if not m.machines or not new.machines:
                raise RegistryError(
                    f"gateway {m.name!r} already serves line {'/'.join(m.place)}; give each gateway its "
                    "machines with --machines, or revoke the other one first"
                )
            shared = sorted(set(m.machines) & set(new.machines))
            if shared:
                raise RegistryError(
                    f"machine(s) {', '.join(shared)} already belong to gateway {m.name!r}; "
                    "a machine has one gateway (revoke or re-issue that one first)"
                )
