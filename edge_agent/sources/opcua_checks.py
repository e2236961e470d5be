"""The checks of an OPC UA section msgspec cannot express: addresses, node ids, security, roles.

A technician copies node ids out of a vendor's manual or a browsing tool (UaExpert), so a
node id with the wrong syntax, an endpoint without `opc.tcp://`, or a security mode that
does not go with its policy is found here, before the first connection, in plain words.
Each check returns every problem it finds (keys relative to the section it checks).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from edge_agent.sources.opcua_config import OpcUaCommandConfig, OpcUaDeviceConfig, OpcUaNodeConfig
from edge_agent.sources.repeats import half_count, repeated
from tonle.config.problems import Problem
from tonle.contract import MACHINE_STATES
from tonle.messages import N_, _

__all__ = [
    "command_problems",
    "device_problems",
    "endpoint_problem",
    "is_browse_path",
    "is_node_id",
    "node_problems",
]

# Part 6 §5.3.1.10: [ns=<index>;|nsu=<uri>;]<i=number | s=string | g=guid | b=base64>
_NODE_ID = re.compile(
    r"^(?:ns=\d+;|nsu=[^;]+;)?"
    r"(?:i=\d+|s=.+|g=[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|b=[A-Za-z0-9+/]+={0,2})$"
)
_PATH_PART = re.compile(r"^(?:\d+:)?[^/:]+$")


def is_node_id(text: str) -> bool:
    return bool(_NODE_ID.match(text))


def is_browse_path(text: str) -> bool:
    """`2:PocketSetter/2:Speed`: browse names from the Objects folder, each with its namespace index."""
    parts = text.split("/")
    return bool(text) and all(_PATH_PART.match(p) for p in parts)


def endpoint_problem(endpoint: str) -> Problem | None:
    example = _("write it as opc.tcp://HOST:PORT, e.g. opc.tcp://192.168.10.30:4840")
    if not endpoint.strip():
        return Problem("endpoint", _("is empty"), example)
    parts = urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "opc.tcp" or not parts.hostname or port is None:
        return Problem(
            "endpoint", _("is {value!r}, not an OPC UA server address").format(value=endpoint), example
        )
    return None


def _where_problems(node: str, path: str) -> list[Problem]:
    if bool(node) == bool(path):
        text = _("needs either 'node' (a node id) or 'path' (a browse path), not both and not neither")
        return [Problem("", text, _('e.g. node = "ns=2;s=PS1.Speed" or path = "2:PocketSetter/2:Speed"'))]
    if node and not is_node_id(node):
        return [
            Problem(
                "node",
                _("is {value!r}, which is not an OPC UA node id").format(value=node),
                _("write it as ns=INDEX;s=NAME or ns=INDEX;i=NUMBER, e.g. ns=2;s=PS1.Speed"),
            )
        ]
    if path and not is_browse_path(path):
        return [
            Problem(
                "path",
                _("is {value!r}, which is not a browse path").format(value=path),
                _("write browse names from the Objects folder joined by '/', e.g. 2:PocketSetter/2:Speed"),
            )
        ]
    return []


def node_problems(n: OpcUaNodeConfig) -> list[Problem]:
    found = _where_problems(n.node, n.path)
    if n.scale == 0:
        found.append(Problem("scale", _("is 0, which would make every reading 0"), _("use 1 for no scaling")))
    if n.role != "state":
        if n.states:
            found.append(
                Problem(
                    "states", _('is only for a node with role = "state"'), _("remove it, or set the role")
                )
            )
        return found
    if not n.states:
        found.append(Problem("states", _("is missing"), _('a state node needs a table, e.g. { 0 = "idle" }')))
    for code, name in n.states.items():
        if name not in MACHINE_STATES:
            found.append(
                Problem(
                    f"states.{code}",
                    _("is {name!r}, which is not a Tonle state").format(name=name),
                    _("use one of: {choices}").format(choices=", ".join(MACHINE_STATES)),
                )
            )
    return found


def command_problems(c: OpcUaCommandConfig) -> list[Problem]:
    found = _where_problems(c.node, c.path)
    if c.scale == 0:
        found.append(Problem("scale", _("is 0"), _("use a scale other than 0 (node value = value / scale)")))
    if not c.min < c.max:
        found.append(
            Problem(
                "min",
                _("({min}) is not below max ({max})").format(min=f"{c.min:g}", max=f"{c.max:g}"),
                _("swap them"),
            )
        )
    return found


def device_problems(d: OpcUaDeviceConfig) -> list[Problem]:
    found: list[Problem] = []
    if (problem := endpoint_problem(d.endpoint)) is not None:
        found.append(problem)
    found.extend(_security_problems(d))
    if d.heartbeat_node and not is_node_id(d.heartbeat_node):
        found.append(
            Problem(
                "heartbeat_node",
                _("is {value!r}, which is not an OPC UA node id").format(value=d.heartbeat_node),
                _('use i=2258 (the server\'s clock), a node id that changes often, or "" for none'),
            )
        )
    if not d.nodes:
        found.append(Problem("nodes", _("is empty"), _("a device needs at least one node to read")))
    found.extend(_mapping_problems(d))
    return found


def _security_problems(d: OpcUaDeviceConfig) -> list[Problem]:
    found: list[Problem] = []
    plain = d.security_policy == "None"
    if plain != (d.security_mode == "None"):
        found.append(
            Problem(
                "security_mode",
                _("is {mode!r} but security_policy is {policy!r}: they go together").format(
                    mode=d.security_mode, policy=d.security_policy
                ),
                _('use security_policy = "None" with security_mode = "None", or "Basic256Sha256" with '
                  '"Sign" or "SignAndEncrypt"'),
            )
        )  # fmt: skip
    if not plain:
        for key in ("certificate", "private_key"):
            if not getattr(d, key):
                found.append(
                    Problem(
                        key,
                        _("is missing"),
                        _("a signed or encrypted link needs the gateway's certificate and key files"),
                    )
                )
    if bool(d.username) != bool(d.password_env):
        found.append(
            Problem(
                "username" if not d.username else "password_env",
                _("is missing"),
                _("a password login needs both username and password_env (the variable with the password)"),
            )
        )
    if d.username and d.user_certificate:
        found.append(
            Problem(
                "user_certificate", _("is set with a username"), _("log in with a password or a certificate")
            )
        )
    if bool(d.user_certificate) != bool(d.user_private_key):
        found.append(Problem("user_private_key", _("goes with user_certificate"), _("set both, or neither")))
    return found


def _mapping_problems(d: OpcUaDeviceConfig) -> list[Problem]:
    found = repeated(
        [n.field for n in d.nodes],
        lambda i: f"nodes[{i}].field",
        N_("is {name!r}, the field of nodes[{other}] too"),
        N_("give every node its own field name"),
    )
    found += repeated(
        [n.role for n in d.nodes],
        lambda i: f"nodes[{i}].role",
        N_("is {name!r} a second time"),
        N_("only one node may be {name!r}"),
        skip=("field",),
    )
    found += half_count(
        (n.role for n in d.nodes), "nodes", N_("has only one of the 'count_total' and 'count_good' nodes")
    )
    found += repeated(
        [c.action for c in d.commands],
        lambda i: f"commands[{i}].action",
        N_("is {name!r}, the action of commands[{other}] too"),
        N_("configure each action once"),
    )
    return found
