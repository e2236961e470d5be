"""An OPC UA server as a Tonle source: one endpoint, one machine, subscriptions or polling.

A session is built whole each time: connect (security and login), find every node
(browse paths again, a restarted server may have renumbered them), create one
subscription with a monitored item per node (its own sampling interval and queue size),
and poll the nodes that say `mode = "poll"` or that the server would not monitor. The
session ends when the watchdog (`opcua_link`) says the subscription is silent, when a poll
fails, or when asyncua reports the connection lost; the source closes it and builds a new
one after a `tonle.io.backoff` wait. The machine goes "offline" after repeated failures.

OPC UA has no acknowledgement of what the gateway stored, so `commit()` does nothing. A new
session is handed every node's current value again with the time it changed: the source says
`replays_on_reconnect`, and the agent keeps those repeats out of the spool (edge_agent.replays).
The values of one publish response (or one poll) leave together: one Sample per time.
Commands write a setpoint node with the node's own data type and read it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from asyncua import Client, Node, ua

from edge_agent.sources.opcua_config import OpcUaCommandConfig, OpcUaDeviceConfig, OpcUaNodeConfig
from edge_agent.sources.opcua_history import history_readings, read_history
from edge_agent.sources.opcua_link import (
    Liveness,
    OpcUaLinkError,
    OpcUaLoginRefused,
    open_client,
    resolve,
    to_value,
)
from edge_agent.sources.opcua_readings import MachineMap, Value, merge_samples
from tonle.io.backoff import Backoff, BackoffPolicy
from tonle.io.clock import Clock, WallClock
from tonle.messages import N_, _, render
from tonle.sources.base import CommandRefused, DeviceLimits, Reading, Sink, SourceHealth

log = logging.getLogger("tonle.agent.opcua")

__all__ = ["OpcUaHealth", "OpcUaLinkError", "OpcUaLoginRefused", "OpcUaSource", "RetryPolicy"]

_SAFE_ERRORS = (OSError, TimeoutError, ua.UaError, OpcUaLinkError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The reconnect timings (tests pass a fast one): waits from `tonle.io.backoff`."""

    link_base_s: float = 1.0
    link_max_s: float = 30.0
    jitter: float = 0.25
    offline_after_failures: int = 2

    def link(self) -> BackoffPolicy:
        return BackoffPolicy(base_s=self.link_base_s, max_s=self.link_max_s, jitter=self.jitter)


@dataclass
class OpcUaHealth(SourceHealth):
    """SourceHealth plus the subscription's own proof of life."""

    sessions: int = 0  # sessions set up (the first one, then one per reconnect)
    watchdog_trips: int = 0  # sessions ended because nothing arrived within watchdog_s
    monitored_items: int = 0  # in the current subscription
    polled_nodes: int = 0  # in the current session (configured, or refused by the server)
    bad_values: int = 0  # values with a bad status, or not a number: not published
    backfilled: int = 0  # values read from the server's history after a gap (opcua_history)


class _SessionEnded(Exception):
    """The session is over (watchdog, lost connection, failed poll); the reason is the text."""


class OpcUaSource:
    """A Source for an `OpcUaDeviceConfig`."""

    replays_on_reconnect = True  # a new subscription opens with the last values and their times

    def __init__(
        self,
        cfg: OpcUaDeviceConfig,
        clock: Clock | None = None,
        *,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self._clock = clock or WallClock()
        self._retry = retry or RetryPolicy()
        self._link = Backoff(self._retry.link(), rng or random.Random())
        self._map = MachineMap.from_config(cfg)
        self._has_state = any(n.role == "state" for n in cfg.nodes)
        self._commands = {c.action: c for c in cfg.commands}
        self._health = OpcUaHealth()
        self._health.per_machine_reads[cfg.machine] = self._health.per_machine_errors[cfg.machine] = 0
        self._client: Client | None = None
        self._command_nodes: dict[str, Node] = {}
        self._sink: Sink | None = None
        self._subscription: object = None
        self._held: list[Reading] = []  # this publish response's (or poll's) readings so far
        self._flush_due = False
        self._count_due = False

    @property
    def machines(self) -> list[tuple[str, str]]:
        return [(self.cfg.machine, self.cfg.machine_type)]

    def resume(self, spooled: Mapping[str, int]) -> None:
        """The newest times the spool holds for this machine (the agent's replay guard, at start):
        after a gateway restart, the first session fills the gap from the server's history."""
        prefix = f"last/{self.cfg.machine}/"
        for key, ts in spooled.items():
            rest = key.removeprefix(prefix)
            if rest != key and (rest.startswith("f/") or rest in ("state", "count")):
                self._map.seen[rest] = max(ts, self._map.seen.get(rest, ts))

    @property
    def health(self) -> OpcUaHealth:
        return self._health

    @property
    def limits(self) -> dict[str, DeviceLimits]:
        ranges = {c.action: (c.min, c.max) for c in self.cfg.commands}
        return {self.cfg.machine: DeviceLimits(frozenset(ranges), ranges)}

    async def commit(self) -> None:
        """Nothing to do: an OPC UA server is not told what the gateway has stored."""

    # -- the session loop ------------------------------------------------------------------------
    async def run(self, sink: Sink) -> None:
        """Keep a session up forever; each lost one is rebuilt after a backoff wait."""
        self._sink = sink
        password = self.cfg.password() if self.cfg.username else None
        while True:
            try:
                await self._session(sink, password)
            except OpcUaLoginRefused:
                raise  # the agent says it plainly and retries on its own, slower schedule
            except (_SessionEnded, *_SAFE_ERRORS) as exc:
                self._ended(sink, str(exc) or type(exc).__name__)
            wait = self._link.policy.delay(self._link.failures, self._link.rng)
            if wait > 0:
                await self._clock.sleep(wait)

    def _ended(self, sink: Sink, why: str) -> None:
        h = self._health
        h.connected = False
        h.read_errors += 1
        h.per_machine_errors[self.cfg.machine] += 1
        h.last_error = f"{self.name}: {why}"
        self._link.failures += 1
        if self._link.failures == 1:  # once per outage, not once per attempt
            text = _("device {device}: {reason}; reconnecting and subscribing again when the server answers")
            log.warning(text.format(device=self.name, reason=why))
        if self._link.failures == self._retry.offline_after_failures:
            sink(self._map.offline(self._clock.now_ns(), why, self._has_state))

    async def _session(self, sink: Sink, password: str | None) -> None:
        client = await open_client(self.cfg, password)
        self._client = client
        try:
            live = Liveness(on_value=lambda node, v: self._value(sink, node, v))
            client.connection_lost_callback = live.connection_lost
            self._command_nodes = {c.action: await resolve(client, c.node, c.path) for c in self.cfg.commands}
            polled = await self._subscribe(client, live)
            self._connected()
            await self._serve(client, polled, live)
        except Exception:
            client.disconnect_socket()  # a dead or silent link: close it first, so nothing waits on it
            raise
        finally:
            self._client = None
            self._command_nodes = {}
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.cfg.timeout_s):
                    await client.disconnect()

    async def _serve(
        self, client: Client, polled: list[tuple[OpcUaNodeConfig, Node]], live: Liveness
    ) -> None:
        """Poll and watch until the session ends; the first reason it ended is raised alone."""
        try:
            async with asyncio.TaskGroup() as tg:
                for interval, nodes in _by_interval(polled).items():
                    tg.create_task(self._poll_loop(client, interval, nodes, live))
                tg.create_task(self._watch(live))
        except* _SessionEnded as group:
            raise group.exceptions[0] from None

    def _connected(self) -> None:
        h = self._health
        if h.sessions:
            h.reconnects += 1
        h.sessions += 1
        h.connected = True
        self._link.succeeded()

    async def _subscribe(self, client: Client, live: Liveness) -> list[tuple[OpcUaNodeConfig, Node]]:
        """One subscription with a monitored item per node; returns the nodes left to poll."""
        cfg = self.cfg
        polled: list[tuple[OpcUaNodeConfig, Node]] = []
        groups: dict[tuple[float, int], list[tuple[OpcUaNodeConfig, Node]]] = defaultdict(list)
        resolved = [(n, await resolve(client, n.node, n.path)) for n in cfg.nodes]
        await self._backfill(resolved)  # before the subscription: its first values are "now"
        for n, node in resolved:
            if n.mode == "poll":
                polled.append((n, node))
            else:
                groups[(n.sampling_interval_ms, n.queue_size)].append((n, node))
                live.by_node[node.nodeid] = n
        keepalive = max(1, round(cfg.watchdog_s * 1000 / 3 / cfg.publishing_interval_ms))
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=cfg.publishing_interval_ms,
            RequestedLifetimeCount=keepalive * 10,
            RequestedMaxKeepAliveCount=keepalive,
            MaxNotificationsPerPublish=0,
            PublishingEnabled=True,
            Priority=0,
        )
        self._subscription = sub = await client.create_subscription(params, live)
        items = 0
        for (sampling, queue), members in groups.items():
            handles = await sub.subscribe_data_change(
                [node for _n, node in members], queuesize=queue, sampling_interval=ua.Double(sampling)
            )
            for (n, node), handle in zip(members, handles, strict=True):
                if isinstance(handle, ua.StatusCode):  # the server would not monitor it: poll it
                    polled.append((n, node))
                    del live.by_node[node.nodeid]
                else:
                    items += 1
        if cfg.heartbeat_node:
            live.heartbeat = ua.NodeId.from_string(cfg.heartbeat_node)
            await sub.subscribe_data_change(
                client.get_node(live.heartbeat), sampling_interval=ua.Double(1000)
            )
        self._health.monitored_items, self._health.polled_nodes = items, len(polled)
        return polled

    async def _backfill(self, nodes: list[tuple[OpcUaNodeConfig, Node]]) -> None:
        """Fill the gap since the gateway last saw each node from the server's history, in time order."""
        cfg, sink = self.cfg, self._sink
        if not cfg.backfill_s or cfg.timestamp == "gateway" or not self._map.seen or sink is None:
            return
        try:
            history = await read_history(cfg, nodes, self._map.seen, self._clock.now_ns())
        except _SAFE_ERRORS as exc:
            raise _SessionEnded(f"history read failed: {exc!r}") from exc
        if history.without:
            text = _(
                "device {device}: the OPC UA server keeps no history of {fields} ({reason}); "
                "what they did while the link was down is not recovered"
            )
            reason = ", ".join(sorted(set(history.without.values())))
            log.info(text.format(device=self.name, fields=", ".join(sorted(history.without)), reason=reason))
        if out := history_readings(self._map, history):
            self._health.backfilled += len(history.values)
            sink(out)
            text = _("device {device}: read {n} values from the OPC UA server's history to fill the gap")
            log.info(text.format(device=self.name, n=len(history.values)))

    async def _watch(self, live: Liveness) -> None:
        """End the session when nothing has proved the subscription alive within `watchdog_s`."""
        limit = self.cfg.watchdog_s
        started = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(limit / 4):
                    await live.lost.wait()
            if live.lost.is_set():
                raise _SessionEnded(live.why)
            now = time.monotonic()
            last = getattr(self._subscription, "last_publish_at", None) or started
            if now - last > limit:
                self._health.watchdog_trips += 1
                raise _SessionEnded(f"no publish response from the server for {now - last:.1f} s")
            if live.heartbeat is not None and now - max(live.last_heartbeat, started) > limit:
                self._health.watchdog_trips += 1
                raise _SessionEnded(f"heartbeat node {self.cfg.heartbeat_node} silent for {limit:g} s")

    async def _poll_loop(
        self, client: Client, interval: float, nodes: list[tuple[OpcUaNodeConfig, Node]], live: Liveness
    ) -> None:
        while not live.lost.is_set():
            try:
                values = await client.read_attributes([node for _n, node in nodes])
            except _SAFE_ERRORS as exc:
                raise _SessionEnded(f"poll failed: {exc!r}") from exc
            for (n, _node), dv in zip(nodes, values, strict=True):
                self._value(self._sink_or_fail(), n, to_value(dv))
            await self._clock.sleep(interval)

    def _sink_or_fail(self) -> Sink:
        assert self._sink is not None
        return self._sink

    def _value(self, sink: Sink, node: OpcUaNodeConfig, v: Value) -> None:
        readings, problem = self._map.readings(node, v, self._clock.now_ns())
        h = self._health
        if problem:
            h.bad_values += 1
            h.last_error = problem
            return
        h.reads += 1
        h.per_machine_reads[self.cfg.machine] += 1
        self._held.extend(readings)
        self._count_due |= node.role in ("count_total", "count_good")
        if not self._flush_due:
            # the other values of the same publish response (or poll) are delivered before this runs
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush, sink)

    def _flush(self, sink: Sink) -> None:
        """The readings of one publish response: one Sample per time, then the count if one moved."""
        out, self._held, self._flush_due = merge_samples(self._held), [], False
        if self._count_due:
            self._count_due = False
            out += self._map.take_count()
        if out:
            sink(out)

    # -- commands --------------------------------------------------------------------------------
    async def apply(
        self, machine: str, action: str, value: float | None, *, cmd_id: str | None = None
    ) -> str:
        """Write a setpoint within its limits in the node's own type and, unless told not to, read it back."""
        cmd = self._command(machine, action, value)
        assert value is not None
        node = self._command_nodes.get(action)
        if self._client is None or node is None:
            text = N_("the OPC UA server of {device} is not connected; {action} not applied")
            raise _refused(text, device=self.name, action=action)
        try:
            vtype = await node.read_data_type_as_variant_type()
            raw = value / cmd.scale
            written = raw if vtype in (ua.VariantType.Float, ua.VariantType.Double) else round(raw)
            await node.write_value(ua.DataValue(ua.Variant(written, vtype)))
            if not cmd.readback:
                text = N_("{action}={value} written to node {node} (no read-back configured)")
                return render(text, {"action": action, "value": f"{value:g}", "node": cmd.node or cmd.path})
            back = float(await node.read_value()) * cmd.scale
        except (*_SAFE_ERRORS, ValueError, TypeError) as exc:
            text = N_("{machine}: {error}; {action} may or may not have been applied")
            raise _refused(text, machine=machine, error=exc, action=action) from exc
        if abs(back - value) > cmd.tolerance * max(1.0, abs(value)):
            text = N_("read-back mismatch: wrote {value}, device reports {got}")
            raise _refused(text, value=f"{value:g}", got=f"{back:g}")
        text = N_("{action}={value} written to node {node} and read back")
        return render(text, {"action": action, "value": f"{value:g}", "node": cmd.node or cmd.path})

    def _command(self, machine: str, action: str, value: float | None) -> OpcUaCommandConfig:
        if machine != self.cfg.machine:
            text = N_("{source} has no machine called {machine!r}")
            raise _refused(text, source=self.name, machine=machine)
        cmd = self._commands.get(action)
        if cmd is None:
            known = ", ".join(sorted(self._commands)) or _("none")
            text = N_("{action!r} is not configured for {machine}; configured: {known}")
            raise _refused(text, action=action, machine=machine, known=known)
        if value is None or not cmd.min <= value <= cmd.max:
            limits = f"{cmd.min:g}..{cmd.max:g}"
            text = N_("{action} on {machine} needs a value in {limits}, got {value}")
            raise _refused(text, action=action, machine=machine, limits=limits, value=value)
        return cmd


def _by_interval(
    polled: list[tuple[OpcUaNodeConfig, Node]],
) -> dict[float, list[tuple[OpcUaNodeConfig, Node]]]:
    groups: dict[float, list[tuple[OpcUaNodeConfig, Node]]] = defaultdict(list)
    for n, node in polled:
        groups[n.poll_interval_s].append((n, node))
    return dict(groups)


def _refused(template: str, **data: object) -> CommandRefused:
    """The device's refusal worded in the gateway's language (it becomes the ack's detail)."""
    return CommandRefused(render(template, data))
