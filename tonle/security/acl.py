"""The broker's access rules, generated from the identity registry: each identity gets only its topics.

mosquitto takes each client's certificate name as its user name (`use_identity_as_username`)
and as its client id (`use_username_as_clientid`), so the rules below bind topics to
certificates, and nobody can take another's client id (and with it, its queued session).

The rules are a configuration of mosquitto's dynamic-security plugin, not an `acl_file`:
mosquitto 2.0's acl_file never checks a *subscription* (only what is delivered), so any
client could join the collectors' shared group, be handed its share of the data, and have
the broker drop it at delivery (measured: 10 of 20 messages never reached the collector).
The plugin refuses the subscription itself. Everything not allowed here is denied.

Why these rules (topics: tonle/{site}/{area}/{line}/{machine}/{kind}, tonle.contract.topics):
- a gateway writes data, its answers to commands and its own status only for the machines it
  owns, reads only their commands and its own confirmations;
- collectors read everything, and only they may subscribe to a shared group;
- the analytics and operators write commands (which the gateway still checks for a
  signature: tonle.security.signing) and read the answers;
- an observer (the demo's own watch) reads telemetry and status; the healthcheck reads the
  broker's uptime;
- a `qc` identity (a QC tablet, a button box, `tonle defect add` / `tonle andon ack`) writes
  only defects and andon acknowledgements, for any station of its line (or site), and reads
  nothing: it cannot send a command nor speak for a machine's data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tonle.contract.confirm import confirm_topic
from tonle.security.registry import Member

__all__ = ["DATA_KINDS", "FLOOR_KINDS", "dynsec_config", "rules_of"]

DATA_KINDS = ("telemetry", "state", "count", "event", "status", "health", "cmd/ack")
FLOOR_KINDS = ("defect", "andon/ack")
"""What people on the floor send (tonle.contract.floor): the only topics a `qc` identity writes."""


def _base(m: Member, machine: str = "+") -> str:
    parts = [m.site or "+", m.area or "+", m.line or "+", machine]
    return "tonle/" + "/".join(parts)


def _gateway(m: Member) -> list[str]:
    rules = []
    for machine in m.machines or ("+",):
        base = _base(m, machine)
        rules += [f"topic write {base}/{kind}" for kind in DATA_KINDS]
        rules.append(f"topic {'receive' if m.machines else 'read'} {base}/cmd")
    if m.machines:
        # The agent subscribes to its line's commands with one filter; the broker hands it only
        # its own machines' (two gateways may share a line). Its own status and health go
        # under its own name (the agent's id).
        rules.append(f"topic subscribe {_base(m)}/cmd")
        rules += [f"topic write {_base(m, m.name)}/{kind}" for kind in ("status", "health")]
    rules.append(f"topic read {confirm_topic(m.name)}")
    return rules


def _rules(m: Member) -> list[str]:
    if m.role == "gateway":
        return _gateway(m)
    if m.role == "collector":
        return [
            "topic read tonle/#",
            "topic read $SYS/#",
            "topic write tonle/_deadletter/#",
            "topic write tonle/_gateway/+/confirm",
        ]
    if m.role == "analytics":
        base = _base(m)
        return [f"topic read {base}/cmd/ack", f"topic write {base}/cmd", f"topic write {base}/alert"]
    if m.role == "operator":
        return [f"topic read {_base(m)}/cmd/ack", f"topic write {_base(m)}/cmd"]
    if m.role == "qc":
        return [f"topic write {_base(m)}/{kind}" for kind in FLOOR_KINDS]
    if m.role == "observer":
        return [f"topic read {_base(m)}/{kind}" for kind in ("telemetry", "status", "health")]
    return ["topic read $SYS/broker/uptime"]  # healthcheck


Rule = tuple[str, str]  # ("read" | "write" | "subscribe" | "receive", topic filter)


def rules_of(m: Member) -> list[Rule]:
    """What `m` may do, as (access, topic) pairs (revoked identities may do nothing).

    read = subscribe + receive; a filter one may subscribe to but receive only part of is
    split in two.
    """
    if m.revoked:
        return []
    return [tuple(r.split(" ", 2)[1:]) for r in _rules(m)]  # type: ignore[misc]


def dynsec_config(members: Iterable[Member]) -> dict[str, Any]:
    """The dynamic-security plugin's file: one client and one role per active identity."""
    clients, roles = [], []
    for m in sorted((m for m in members if not m.revoked), key=lambda m: m.name):
        acls = []
        for access, topic in rules_of(m):
            if access == "write":
                acls.append(_acl("publishClientSend", topic))
            if access in ("read", "subscribe"):
                acls.append(_acl("subscribePattern", topic))
            if access in ("read", "receive"):
                acls.append(_acl("publishClientReceive", topic))
        if m.role == "collector":  # only collectors may join a shared group, for data
            acls.append(_acl("subscribePattern", "$share/+/tonle/#"))
        where = "/".join(p for p in m.place if p) or "every site"
        clients.append(
            {"username": m.name, "textname": f"{m.role} ({where})", "roles": [{"rolename": m.name}]}
        )
        roles.append({"rolename": m.name, "acls": acls})
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": clients,
        "groups": [],
        "roles": roles,
    }


def _acl(kind: str, topic: str) -> dict[str, Any]:
    return {"acltype": kind, "topic": topic, "priority": 0, "allow": True}
