"""The demo's fault drills: the broker, the database, the gateway and the collector fail mid-run.

Each drill forces the ordering it is about and waits for the state that proves the ordering
happened, as the processes themselves show it (the agent's status.json, the collector's log
and health rows): never a pause long enough to hope something is done. A drill that cannot
bring its ordering about stops the demo with a DrillError instead of passing without proof.
The pauses that remain are durations of an outage, not guesses. What each drill saw goes
into the summary (`drill_timings`, `drill_observed`), so a trainer can show what broke, for
how long, and that nothing was lost. README and docs/delivery.md ("Drills") describe them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from firmware_sim.line import LineSpec
from tonle.app.demo_drill_opcua import PowerCycled, opcua_restart
from tonle.app.demo_intruder import Intruder
from tonle.app.demo_plant import AgentProcess, CollectorProcess, Services, mqtt_client
from tonle.app.drill_names import DRILLS
from tonle.app.services import LocalBroker, LocalInfluxDB, kill_at_once
from tonle.contract import MachineAddress, subscription
from tonle.errors import ServiceError
from tonle.io.mqtt import MqttError
from tonle.messages import N_, _, render

__all__ = ["DRILLS", "Drill", "DrillError", "Plant"]

log = logging.getLogger("tonle.app.demo")
# collector-crash: the SIGKILL lands this long after machine data crossed the
# broker, inside the collector's batch window (batch_wait_ms, 200 ms by default).
IN_FLIGHT_DELAY_S = 0.05
COLLECTOR_DOWN_S = 4.0
DB_OUTAGE_MIN_S = 10.0
POWER_OFF_S = 2.0
# How long a drill waits for the state that proves its ordering (a status.json comes every 2 s).
ORDER_TIMEOUT_S = 60.0
POLL_S = 0.2
# broker-crash, broker-disk-lost: messages the broker must have accepted for the absent collector.
QUEUED_MIN = 20
# What the collector logs while it waits for a database that does not answer (collector.store).
DB_RETRY_LOG = "retrying in"


class DrillError(ServiceError):
    """A drill could not bring about the ordering it promises, so it proves nothing."""


class Plant(Protocol):
    """What a drill acts on: the run's services, processes and the analytics inside the demo."""

    svc: Services
    agent: AgentProcess
    collector: CollectorProcess
    spec: LineSpec
    folder: Path

    def start_collector(self) -> None: ...
    async def collector_ready(self) -> None: ...
    def kill_analytics(self) -> None: ...
    def start_analytics(self) -> None: ...

    @property
    def opcua_machine(self) -> PowerCycled: ...


@dataclass
class Drill:
    """A fault for a class, injected mid-run into the real processes.

    Times are seconds since the drill was armed (the start of the live view);
    `observed` holds the counts that prove the bad ordering happened.
    """

    kind: str
    duration_s: float
    plant: Plant
    timings: dict[str, float] = field(default_factory=dict)
    observed: dict[str, int] = field(default_factory=dict)
    intruder_report: dict[str, Any] | None = None
    t0: float = field(default_factory=time.monotonic)

    def mark(self, key: str, since: float | None = None) -> None:
        self.timings[key] = round(time.monotonic() - (self.t0 if since is None else since), 1)

    async def run(self) -> None:
        await asyncio.sleep(self.duration_s * 0.25)
        await getattr(self, self.kind.replace("-", "_"))()

    @property
    def broker(self) -> LocalBroker:
        assert self.plant.svc.broker is not None, "drills run on the demo's own services"
        return self.plant.svc.broker

    @property
    def db(self) -> LocalInfluxDB:
        assert self.plant.svc.db is not None, "drills run on the demo's own services"
        return self.plant.svc.db

    # -- someone on the network ------------------------------------------------------
    async def intruder(self) -> None:
        """A rogue client tries to connect, to speak for the line and to move a machine."""
        p = self.plant
        target = MachineAddress(p.spec.site, p.spec.area, p.spec.line, p.spec.stations[0].name)
        log.warning(
            _("DRILL: an intruder on the plant network goes for {machine}").format(machine=target.machine)
        )
        self.mark("intruder_at_s")
        who = Intruder(self.broker, p.agent, target, p.folder / "analytics.key", p.svc.cfg.analytics.signer)
        self.intruder_report = await who.run()
        self.mark("intruder_done_at_s")
        report = self.intruder_report
        log.warning(
            _(
                "DRILL: intruder: {attempts} attempts, {by_broker} refused by the broker, "
                "{by_gateway} by the gateway, {applied} applied"
            ).format(
                attempts=len(report["attempts"]),
                by_broker=report["refused_by_broker"],
                by_gateway=report["refused_by_gateway"],
                applied=report["applied"],
            )
        )

    # -- the broker drills ------------------------------------------------------
    async def broker_outage(self) -> None:
        """The broker stops cleanly; it comes back while the collector is held away (SIGSTOP)."""
        log.warning(
            _("DRILL: the broker stops (the plant's network is down); the agent keeps reading into its spool")
        )
        self.mark("broker_stopped_at_s")
        await asyncio.to_thread(self.broker.stop)
        self.plant.collector.pause()
        log.warning(_("DRILL: the collector is held (SIGSTOP): it will reconnect after the gateway"))
        await asyncio.sleep(self.duration_s * 0.35)
        await self.gateway_back_first()
        self.plant.collector.resume()
        self.mark("collector_resumed_at_s")
        log.warning(
            _(
                "DRILL: the collector runs again (SIGCONT), reconnects and subscribes; the gateway sends "
                "again what nobody took, until the collector confirms it stored"
            )
        )

    async def broker_crash(self) -> None:
        """The broker is SIGKILLed holding messages queued for a collector that is down."""
        await self.queue_for_absent_collector()
        log.warning(
            _(
                "DRILL: the broker loses power (SIGKILL) with {queued} messages queued for the collector, "
                "before it has saved them all to disk"
            ).format(queued=self.observed["queued_for_absent_collector"])
        )
        await asyncio.to_thread(self.broker.kill)
        self.mark("broker_killed_at_s")
        await self.gateway_back_first()
        await self.collector_back()

    async def broker_disk_lost(self) -> None:
        """The broker, holding a queue for an absent collector, comes back on an empty disk."""
        await self.queue_for_absent_collector()
        await asyncio.to_thread(self.broker.stop)  # clean: its disk now holds every queued message
        store = self.broker.folder / "data"
        self.observed["broker_store_bytes_lost"] = sum(
            f.stat().st_size for f in store.rglob("*") if f.is_file()
        )
        shutil.rmtree(store)
        self.mark("broker_disk_lost_at_s")
        log.warning(
            _(
                "DRILL: the broker's disk is lost with {queued} messages queued for the collector "
                "({bytes} bytes); it comes back empty: no sessions, no queues, no subscriptions"
            ).format(
                queued=self.observed["queued_for_absent_collector"],
                bytes=self.observed["broker_store_bytes_lost"],
            )
        )
        await self.gateway_back_first()
        await self.collector_back()

    async def queue_for_absent_collector(self) -> None:
        """Stop the collector and wait until the broker has accepted messages for it (PUBACK, not 16)."""
        log.warning(
            _("DRILL: the collector's server goes down; the broker queues the gateway's messages for it")
        )
        stopped = time.time_ns()
        await asyncio.to_thread(self.plant.collector.stop)
        self.mark("collector_stopped_at_s")
        refused = self.plant.agent.row().get("no_subscriber_pubacks", 0.0)
        row = await self.until_agent(
            N_("the broker to accept {n} messages for the absent collector"),
            lambda st, r: (
                st["ts"] > stopped
                and r.get("spool_unconfirmed", 0) >= QUEUED_MIN
                and r.get("no_subscriber_pubacks", 0) == refused
            ),
            n=QUEUED_MIN,
        )
        self.observed["queued_for_absent_collector"] = int(row["spool_unconfirmed"])

    async def gateway_back_first(self) -> None:
        """Start the broker; return once the gateway has reconnected and sent into it, before any collector.

        With a shared subscription (the default) the proof is the broker's own answer: PUBACKs
        that say nobody is subscribed. Without one, the collector's session may have kept its
        subscription, so the proof is a reconnect after which the gateway sent again.
        """
        agent = self.plant.agent
        before = agent.row()  # empty for an agent that has just started
        back = time.time_ns()
        await asyncio.to_thread(self.broker.start)
        self.mark("broker_back_at_s")
        shared = bool(self.plant.svc.cfg.collector.share_group)

        def sent_first(st: dict[str, Any], r: dict[str, float]) -> bool:
            if not (st["ts"] > back and st["broker_connected"]):
                return False
            grew = {k: r.get(k, 0) - before.get(k, 0) for k in ("no_subscriber_pubacks", "messages_resent")}
            return grew["no_subscriber_pubacks"] > 0 or (not shared and grew["messages_resent"] > 0)

        row = await self.until_agent(N_("the gateway to reconnect and send before the collector"), sent_first)
        self.observed["no_subscriber_pubacks"] = int(
            row.get("no_subscriber_pubacks", 0) - before.get("no_subscriber_pubacks", 0)
        )
        self.mark("gateway_sent_first_at_s")
        log.warning(
            _(
                "DRILL: the gateway is back first: the broker told it {times} times that nobody is "
                "subscribed; it keeps those messages in its spool"
            ).format(times=self.observed["no_subscriber_pubacks"])
        )

    async def collector_back(self) -> None:
        self.plant.start_collector()
        self.mark("collector_started_at_s")
        log.warning(_("DRILL: the collector starts again, subscribes, and stores what the gateway re-sends"))

    # -- the power cut ----------------------------------------------------------
    async def power_cut(self) -> None:
        """Everything dies at once; it comes back in the worst order (docs/delivery.md, "Drills")."""
        p = self.plant
        log.warning(
            _(
                "DRILL: power cut: the broker, the database, the collector and the gateway die at once "
                "(SIGKILL), and the analytics with them"
            )
        )
        kill_at_once([self.broker.proc, self.db.proc, p.agent.proc, p.collector.proc])
        p.kill_analytics()
        self.mark("power_cut_at_s")
        await asyncio.sleep(POWER_OFF_S)
        log.warning(_("DRILL: power is back: the broker and the gateway first, nobody subscribed"))
        p.agent.start()
        await self.gateway_back_first()
        offset = p.collector.log_size()
        p.start_collector()
        await self.until_log(p.collector, offset, DB_RETRY_LOG, N_("the collector to find the database down"))
        self.mark("collector_up_db_down_at_s")
        log.warning(_("DRILL: the collector is up and the database is still down: it waits for it"))
        await asyncio.to_thread(self.db.start)
        self.mark("db_back_at_s")
        await p.collector_ready()
        self.mark("collector_storing_at_s")
        p.start_analytics()
        self.mark("analytics_back_at_s")
        log.warning(
            _("DRILL: the database is back, the collector stores, and a fresh analytics rebuilds its state")
        )

    # -- the agent, the database, the collector -----------------------------------
    async def agent_crash(self) -> None:
        """The broker stops mid-run and the gateway loses power (SIGKILL) during the outage."""
        log.warning(
            _("DRILL: the broker stops (the plant's network is down); the agent keeps reading into its spool")
        )
        self.mark("broker_stopped_at_s")
        down = time.monotonic()
        await asyncio.to_thread(self.broker.stop)
        outage = self.duration_s * 0.35
        await asyncio.sleep(outage * 0.5)
        self.observed["spool_at_kill"] = int(self.plant.agent.row().get("spool_depth", 0))
        log.warning(_("DRILL: the gateway loses power (SIGKILL of the agent) in the middle of the outage"))
        await asyncio.to_thread(self.plant.agent.kill)
        self.mark("agent_killed_at_s")
        await asyncio.sleep(2)
        log.warning(_("DRILL: power is back; the agent restarts and finds its spool"))
        self.plant.agent.start()
        await asyncio.sleep(max(0.0, outage * 0.5 - 2))
        await asyncio.to_thread(self.broker.start)
        self.mark("broker_down_s", since=down)
        log.warning(_("DRILL: the broker is back; watch the spool drain"))

    async def db_outage(self) -> None:
        """Stop InfluxDB for a while: the collector must hold the data until it is back."""
        log.warning(
            _(
                "DRILL: the database stops (InfluxDB is down); the collector holds the data in its spool and "
                "tells the gateway so, and the analytics skips its rounds until the database is back"
            )
        )
        self.mark("db_stopped_at_s")
        down = time.monotonic()
        await asyncio.to_thread(self.db.stop)
        await asyncio.sleep(max(DB_OUTAGE_MIN_S, self.duration_s * 0.25))
        row = await self.until_agent(
            N_("the collector to tell the gateway it holds messages"),
            lambda st, r: r.get("spool_held", 0) > 0,
        )
        self.observed["held_by_collector"] = int(row["spool_held"])
        await asyncio.to_thread(self.db.start)
        self.mark("db_down_s", since=down)
        log.warning(
            _(
                "DRILL: the database is back after {seconds:.0f}s on the same port with its data; "
                "watch the collector catch up"
            ).format(seconds=self.timings["db_down_s"])
        )

    async def collector_crash(self) -> None:
        """SIGKILL the collector while it holds a batch, then restart it with the same MQTT session."""
        async with mqtt_client(self.plant.svc.mqtt("observer"), f"tonle-demo-drill-{os.getpid()}") as watch:
            await watch.subscribe(subscription("telemetry"), qos=0)
            with contextlib.suppress(TimeoutError, MqttError):  # no traffic seen: kill all the same
                await watch.wait_subscribed()
                # Machine data just crossed the broker: the collector is batching
                # it and has not acknowledged it yet.
                await asyncio.wait_for(watch.messages.get(), 15)
                await asyncio.sleep(IN_FLIGHT_DELAY_S)
            await asyncio.to_thread(self.plant.collector.kill)
        self.mark("collector_killed_at_s")
        down = time.monotonic()
        log.warning(
            _(
                "DRILL: the collector's server loses power (SIGKILL) with a batch in flight; the broker "
                "keeps every message the collector had not acknowledged, and the gateway every one not "
                "confirmed"
            )
        )
        await asyncio.sleep(COLLECTOR_DOWN_S)
        self.plant.start_collector()
        self.mark("collector_down_s", since=down)
        log.warning(
            _(
                "DRILL: the collector restarts with the same client id; the broker hands it back what it "
                "had not acknowledged"
            )
        )

    # -- a machine the gateway reads over OPC UA ---------------------------------
    async def opcua_restart(self) -> None:
        """The pocket-setter's controller reboots mid-run (tonle.app.demo_drill_opcua)."""
        await opcua_restart(self)

    # -- waiting for the state that proves the ordering ------------------------------
    async def until_agent(
        self, what: str, check: Callable[[dict[str, Any], dict[str, float]], bool], **data: object
    ) -> dict[str, float]:
        """Poll the running agent's status.json until `check(status, agent row)`; return the row."""
        agent = self.plant.agent
        deadline = time.monotonic() + ORDER_TIMEOUT_S
        while time.monotonic() < deadline:
            status = agent.status()
            if status is not None:
                row = status["rows"].get("agent", {})
                if check(status, row):
                    return dict(row)
            if not agent.running:
                break
            await asyncio.sleep(POLL_S)
        raise self.error(what, agent, **data)

    async def until_log(self, proc: CollectorProcess, offset: int, text: str, what: str) -> None:
        """Wait until the process writes `text` to its log after `offset`."""
        deadline = time.monotonic() + ORDER_TIMEOUT_S
        while time.monotonic() < deadline and proc.running:
            if text in proc.log_since(offset):
                return
            await asyncio.sleep(POLL_S)
        raise self.error(what, proc)

    def error(self, what: str, proc: AgentProcess | CollectorProcess, **data: object) -> DrillError:
        return DrillError(
            N_("the {drill} drill could not force its ordering: it waited {timeout:.0f}s for {what}"),
            fix=N_("nothing was proved; the log {log} ends with:\n{tail}"),
            drill=self.kind,
            timeout=ORDER_TIMEOUT_S,
            what=render(what, data),
            log=proc.log,
            tail=proc.tail(),
        )
