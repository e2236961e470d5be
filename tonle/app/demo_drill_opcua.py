"""The opcua-restart drill: the pocket-setter's controller reboots, and the gateway must cope alone.

A restarted OPC UA server has forgotten every session and subscription. The drill switches
the simulated pocket-setter off for OPCUA_OFF_S and on again on the same port, and waits for
what the agent's status.json shows: the OPC UA source's row saying disconnected (the gateway
noticed by itself: a lost connection or its subscription watchdog), then connected again
with more reconnects and more values read (it subscribed again by itself). The agent is
never restarted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from tonle.messages import N_, _

if TYPE_CHECKING:
    from tonle.app.demo_drills import Drill

__all__ = ["OPCUA_OFF_S", "OPCUA_SOURCE", "PowerCycled", "opcua_restart", "source_row"]

log = logging.getLogger("tonle.app.demo")
# The pocket-setter's controller is off this long (longer than the OPC UA source's watchdog,
# so the gateway has noticed on its own and marked the machine offline).
OPCUA_OFF_S = 8.0
OPCUA_SOURCE = "pocket_setter"  # its device section in examples/gateway-demo-line.toml


class PowerCycled(Protocol):
    """A machine with its own server that a drill can switch off and on (the pocket-setter)."""

    async def power_cycle(self, off_s: float) -> None: ...


async def opcua_restart(drill: Drill) -> None:
    """The pocket-setter's controller reboots mid-run: its server forgets every session and
    subscription. The gateway must notice (not wait on a silent subscription), say the
    machine is offline, and subscribe again on its own once the server answers."""
    before = source_row(drill)
    log.warning(
        _(
            "DRILL: the pocket-setter's controller reboots: its OPC UA server stops for {seconds:.0f}s "
            "and comes back with no sessions and no subscriptions"
        ).format(seconds=OPCUA_OFF_S)
    )
    drill.mark("opcua_off_at_s")
    cycle = asyncio.create_task(drill.plant.opcua_machine.power_cycle(OPCUA_OFF_S))
    await drill.until_agent(
        N_("the gateway to notice that the OPC UA server is gone"),
        lambda st, r: source_row(drill, st).get("connected", 1.0) == 0.0,
    )
    drill.mark("opcua_noticed_at_s")
    await cycle
    drill.mark("opcua_back_at_s")
    reconnects = before.get("link_reconnects", 0.0)
    reads = before.get("reads", 0.0)
    await drill.until_agent(
        N_("the gateway to subscribe again and read new values"),
        lambda st, r: (
            source_row(drill, st).get("connected", 0.0) == 1.0
            and source_row(drill, st).get("link_reconnects", 0.0) > reconnects
            and source_row(drill, st).get("reads", 0.0) > reads
        ),
    )
    drill.mark("opcua_reading_again_at_s")
    after = source_row(drill)
    drill.observed["opcua_reconnects"] = int(after.get("link_reconnects", 0.0) - reconnects)
    drill.observed["opcua_off_s"] = round(OPCUA_OFF_S)
    log.warning(
        _(
            "DRILL: the gateway subscribed to the pocket-setter again by itself ({seconds:.1f}s after "
            "the server came back) and reads it again; no restart of the gateway was needed"
        ).format(seconds=drill.timings["opcua_reading_again_at_s"] - drill.timings["opcua_back_at_s"])
    )


def source_row(drill: Drill, status: dict[str, Any] | None = None) -> dict[str, float]:
    """The OPC UA source's row of the agent's status.json (empty before it wrote one)."""
    status = status if status is not None else drill.plant.agent.status()
    return dict(status["rows"].get(OPCUA_SOURCE, {})) if status else {}
