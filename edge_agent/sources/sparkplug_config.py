"""Sparkplug B host source configuration: which broker, which edge nodes, which metric means what.

A Sparkplug edge node names its metrics itself ("Spindle/Speed", "Production/Total"), so
the technician maps them: each `[[devices.nodes]]` entry ties one edge node (and
optionally one of its devices) to one Tonle machine, and says which metric is a telemetry
field, which one is the machine's state (with a table of its codes when it is a number),
and which are the piece counters; `commands` names the setpoint metrics the gateway may
write (a DCMD, or an NCMD for a node's own metrics) and read back. Every mistake that can
be seen before connecting is a `Problem` with its key path and a fix, in the plant's
language; whether the edge node declares a command's metric is known only from its birth,
so that is checked when a command is sent.
"""

from __future__ import annotations

from typing import Annotated, get_args

import msgspec

from tonle.config.connections import device_tls_problems
from tonle.config.fields import Name, Section, secret
from tonle.config.problems import Problem
from tonle.contract import MACHINE_STATES
from tonle.contract.payloads import CommandAction
from tonle.io.clock import Clock
from tonle.messages import N_, render
from tonle.sources.base import Source
from tonle.sources.registry import DeviceConfig, GatewayContext, SourceType

__all__ = ["SPARKPLUG_SOURCE", "SparkplugCommand", "SparkplugMachine", "SparkplugSourceConfig"]

Id = Annotated[str, msgspec.Meta(min_length=1)]
PosFloat = Annotated[float, msgspec.Meta(gt=0)]
_BAD_ID_CHARS = ("/", "+", "#")


def _p(key: str, text: str, fix: str, **data: object) -> Problem:
    return Problem(key, render(text, data), render(fix, data))


_ACTIONS: tuple[str, ...] = get_args(CommandAction)
_CONTROL = ("Node Control/", "bdSeq")  # Sparkplug's own metrics: never a setpoint


class SparkplugCommand(Section, frozen=True, kw_only=True):
    """A setpoint metric the gateway may write: metric value = command value / `scale`.

    `readback`: count the command applied only when the edge node reports the metric (in its
    next data or birth) holding the value, within `tolerance`, before `timeout_s` is up.
    """

    action: Name
    metric: str
    scale: float = 1.0
    min: float
    max: float
    readback: bool = True
    tolerance: Annotated[float, msgspec.Meta(ge=0)] = 1e-6  # a Float metric is 32-bit: it rounds
    timeout_s: PosFloat = 5.0

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.action not in _ACTIONS:
            found.append(
                _p(
                    "action",
                    N_("is '{action}', which is not a command Tonle sends"),
                    N_("use one of: {actions}"),
                    action=self.action,
                    actions=", ".join(_ACTIONS),
                )
            )
        if not self.metric.strip():
            found.append(
                _p(
                    "metric",
                    N_("is empty"),
                    N_("name the metric exactly as the edge node's birth declares it"),
                )
            )
        elif self.metric != self.metric.strip() or any(ord(c) < 32 for c in self.metric):
            found.append(
                _p(
                    "metric",
                    N_("is {metric!r}, with spaces at its ends or a control character"),
                    N_("name the metric exactly as the edge node's birth declares it"),
                    metric=self.metric,
                )
            )
        elif self.metric.startswith(_CONTROL):
            found.append(
                _p(
                    "metric",
                    N_("is '{metric}', one of Sparkplug's own control metrics, not a setpoint"),
                    N_("name the setpoint metric the edge node declares for this command"),
                    metric=self.metric,
                )
            )
        if self.scale == 0:
            found.append(
                _p("scale", N_("is 0"), N_("use a scale other than 0 (metric value = value / scale)"))
            )
        if not self.min < self.max:
            found.append(
                _p(
                    "min",
                    N_("({min}) is not below max ({max})"),
                    N_("swap them"),
                    min=f"{self.min:g}",
                    max=f"{self.max:g}",
                )
            )
        return found


class SparkplugMachine(Section, frozen=True, kw_only=True):
    """One Tonle machine fed by one edge node (its node metrics) or one device of it."""

    machine: Name
    machine_type: Name
    edge_node: Id
    device: str = ""
    fields: dict[str, Name] = msgspec.field(default_factory=dict)  # metric name -> Tonle field
    state: str = ""  # the metric that holds the machine state
    states: dict[str, str] = msgspec.field(default_factory=dict)  # its value (as text) -> Tonle state
    count_total: str = ""
    count_good: str = ""
    commands: list[SparkplugCommand] = msgspec.field(default_factory=list)  # setpoints it may write

    def metrics(self) -> dict[str, str]:
        """Every mapped metric name -> what it feeds ("field:x", "state", "count_total", ...)."""
        out = {name: f"field:{f}" for name, f in self.fields.items()}
        for role in ("state", "count_total", "count_good"):
            if getattr(self, role):
                out[getattr(self, role)] = role
        return out

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if not (self.fields or self.state or self.count_total):
            found.append(
                _p(
                    "fields",
                    N_("maps no metric of {node} to this machine"),
                    N_("name at least one metric under fields, state or count_total"),
                    node=self.edge_node,
                )
            )
        for code, state in self.states.items():
            if state not in MACHINE_STATES:
                found.append(
                    _p(
                        f"states.{code}",
                        N_("is '{state}', which is not a Tonle machine state"),
                        N_("use one of: {states}"),
                        state=state,
                        states=", ".join(MACHINE_STATES),
                    )
                )
        if self.states and not self.state:
            found.append(_p("states", N_("is set but no state metric is named"), N_("set state too")))
        if self.count_good and not self.count_total:
            found.append(_p("count_good", N_("is set without count_total"), N_("set count_total too")))
        seen: dict[str, str] = {}
        for name, role in [*((n, f"fields.{n}") for n in self.fields), *self._roles()]:
            if name in seen:
                found.append(
                    _p(
                        role,
                        N_("uses metric '{metric}', already mapped by {other}"),
                        N_("map every metric once"),
                        metric=name,
                        other=seen[name],
                    )
                )
            seen.setdefault(name, role)
        actions: dict[str, int] = {}
        for i, c in enumerate(self.commands):
            if c.action in actions:
                found.append(
                    _p(
                        f"commands[{i}].action",
                        N_("is '{action}', already configured in commands[{other}]"),
                        N_("configure each action of a machine once"),
                        action=c.action,
                        other=actions[c.action],
                    )
                )
            actions.setdefault(c.action, i)
        return found

    def _roles(self) -> list[tuple[str, str]]:
        return [(getattr(self, r), r) for r in ("state", "count_total", "count_good") if getattr(self, r)]


class SparkplugSourceConfig(DeviceConfig, tag="sparkplug", frozen=True, kw_only=True):
    """A Sparkplug B host application on one broker (the plant's, or one next to the gateway).

    A plant's broker is reached over TLS with a login: `ca_file` (TLS on), `username` and
    `password_env`, and `cert_file` + `key_file` when it wants a client certificate
    (tonle.io.plant_broker; docs/sparkplug.md, Security).
    """

    name: Name
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1883
    username: str = ""
    password_env: str = ""
    ca_file: str = ""  # the CA that signed the broker's certificate: TLS is on when set
    cert_file: str = ""  # a client certificate, when the broker asks for one (with key_file)
    key_file: str = ""
    group: Id  # the Sparkplug group_id this host reads
    host_id: Id  # its STATE topic: spBv1.0/STATE/<host_id>
    rebirth_wait_s: PosFloat = 5.0  # at most one rebirth request per edge node in this time
    nodes: list[SparkplugMachine]  # each edge node (or device of one) that is a Tonle machine

    def password(self) -> str | None:
        """The login password from the variable `password_env` names; an unset variable is an error
        that names it (as for every other password), never a login with no password."""
        return secret(self.password_env, f"devices '{self.name}'.password_env")

    def problems(self) -> list[Problem]:
        found = device_tls_problems(self.ca_file, self.cert_file, self.key_file)
        for key in ("group", "host_id"):
            value = getattr(self, key)
            if any(c in value for c in _BAD_ID_CHARS):
                found.append(
                    _p(
                        key,
                        N_("is '{value}', but a Sparkplug id cannot hold /, + or #"),
                        N_("use letters, digits, - and _"),
                        value=value,
                    )
                )
        if not self.nodes:
            found.append(_p("nodes", N_("is empty"), N_("map at least one edge node to a machine")))
        names: dict[str, int] = {}
        places: dict[tuple[str, str], int] = {}
        for i, m in enumerate(self.nodes):
            where = f"nodes[{i}]"
            if m.machine in names:
                found.append(
                    _p(
                        f"{where}.machine",
                        N_("is '{machine}', the machine of nodes[{other}] too"),
                        N_("give every machine its own name"),
                        machine=m.machine,
                        other=names[m.machine],
                    )
                )
            place = (m.edge_node, m.device)
            if place in places:
                found.append(
                    _p(
                        f"{where}.device",
                        N_("maps {node}/{device} again, like nodes[{other}]"),
                        N_("map each edge node or device to one machine"),
                        node=m.edge_node,
                        device=m.device or "-",
                        other=places[place],
                    )
                )
            names.setdefault(m.machine, i)
            places.setdefault(place, i)
        return found

    def machines(self) -> list[str]:
        return [m.machine for m in self.nodes]


def build_sparkplug_source(config: SparkplugSourceConfig, clock: Clock, context: GatewayContext) -> Source:
    from edge_agent.sources.sparkplug import SparkplugSource

    return SparkplugSource(config, clock)


SPARKPLUG_SOURCE = SourceType(
    name="sparkplug",
    config=SparkplugSourceConfig,
    factory=build_sparkplug_source,
    summary="edge nodes and devices that publish Sparkplug B on an MQTT broker (docs/sparkplug.md)",
    needs=("google.protobuf",),
    extra="edge",
)
