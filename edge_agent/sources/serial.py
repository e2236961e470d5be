"""A sewing-station sensor node on a serial line: the gateway side of docs/serial-protocol.md.

One source owns one port (a USB CDC device, an RS-232 adapter, or a pty in
tests), opened by its stable path (`/dev/serial/by-id/...`), so an unplugged
node that comes back on another ttyACM number is found again. The link loop
is plain and readable, like aiomqtt's: open, SYNC, read until the link dies
or goes quiet, close, back off (bounded, jittered), reopen the same path.

Delivery: the node keeps every frame until it is ACKed, and the source ACKs
only in `commit()`, after the agent made the readings durable. Frames carry
(boot, seq); the source drops duplicates by seq within a boot, asks for a
resend (`SYNC <from> <boot>`) when it sees a hole, and learns from the node's H
frame which holes can no longer be filled (counted in `stats.lost`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections import deque

import serial_asyncio_fast

from edge_agent.sources.serial_config import ACTIONS, SerialDeviceConfig
from edge_agent.sources.serial_link import LineLink, SerialStats
from tonle.io.backoff import Backoff, BackoffPolicy
from tonle.messages import N_, _, render
from tonle.protocols import serial_frames as sc
from tonle.sources import base
from tonle.sources.base import CommandRefused, DeviceLimits, Reading, Sink, SourceHealth

__all__ = ["ACTIONS", "CommandUnconfirmed", "SerialDeviceConfig", "SerialNodeSource", "SerialStats"]

log = logging.getLogger("tonle.agent.serial")

BOOT_MEMORY = 8  # earlier boot ids whose late frames are recognised and dropped
MAX_CMD_ID = 64  # characters; a CMD line must fit the node's 1 KiB line buffer
# With bytes waiting and nothing read for KICK_S, re-register the port with the event loop. In
# development, under heavy parallel load, a pty once sat readable (FIONREAD > 0) with no event from
# epoll (not root-caused); re-adding the fd makes the kernel poll it again. Tests may patch it.
KICK_S = 0.5


class CommandUnconfirmed(CommandRefused):
    """The node did not answer (unplugged, or no R frame in time): the command may or may not be applied.

    Resending with the same command id is safe: the node answers a known id
    again without applying it twice.
    """


class SerialNodeSource:
    """The `Source` for one sensor node; `run()` owns the port, reconnecting until cancelled."""

    def __init__(self, cfg: SerialDeviceConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.stats = SerialStats()
        self._health = SourceHealth()
        self._sink: Sink | None = None
        self._transport: serial_asyncio_fast.SerialTransport | None = None
        self._opened = 0
        self._boot: str | None = None
        self._old_boots: deque[str] = deque(maxlen=BOOT_MEMORY)
        self._window = sc.SeqWindow()
        self._acked = 0
        self._uncommitted = 0  # readings pushed to the sink since the agent last said all were durable
        self._waiting: dict[str, asyncio.Future[sc.Result]] = {}
        self._last_sync = -math.inf
        self._hole: tuple[int, float] | None = None  # (first missing seq, since when)
        self._resync_timer: asyncio.TimerHandle | None = None
        # Each reopen waits longer while the port stays dead: reconnect_min_s doubling up to
        # reconnect_max_s, each wait shortened by up to half at random (nodes on one hub spread out).
        policy = BackoffPolicy(base_s=cfg.reconnect_min_s, max_s=cfg.reconnect_max_s, jitter=0.5)
        self._backoff = Backoff(policy)

    @property
    def machines(self) -> list[tuple[str, str]]:
        return [(self.cfg.machine, self.cfg.machine_type)]

    @property
    def health(self) -> SourceHealth:
        return self._health

    @property
    def position(self) -> tuple[str | None, int | None]:
        """(node boot id, seq up to which every frame was handled or given up as lost)."""
        return self._boot, self._window.low

    @property
    def limits(self) -> dict[str, DeviceLimits]:
        """What the command gate should allow for this machine (the same checks `apply` repeats)."""
        ranges = {"set_speed": (self.cfg.speed_min, self.cfg.speed_max), "andon": (0.0, 1.0)}
        return {self.cfg.machine: DeviceLimits(frozenset(self.cfg.allowed_commands), ranges)}

    # ------------------------------------------------------------------ link

    async def run(self, sink: Sink) -> None:
        """Read forever; a lost or silent link is closed and the same path reopened with backoff.

        `sink` is called on the event loop with each batch of new readings and
        must not raise (the agent's sink only queues them).
        """
        self._sink = sink
        while True:
            try:
                worked = await self._session()
            except OSError as exc:  # serial.SerialException is an OSError: port missing, busy, not a tty
                self._note_error(f"cannot open {self.cfg.port}: {exc}")
                worked = False
            if worked:  # a session that heard the node starts the count again: reopen after base_s
                self._backoff.succeeded()
            await self._backoff.failed()

    async def _session(self) -> bool:
        """One open port, until it fails or goes quiet; True if the node sent anything."""
        loop = asyncio.get_running_loop()
        link = LineLink(self._on_lines)
        transport, _ = await serial_asyncio_fast.create_serial_connection(
            loop, lambda: link, self.cfg.port, baudrate=self.cfg.baudrate, exclusive=True
        )
        self._opened += 1
        self._health.reconnects += self._opened > 1
        self._health.connected, self._transport, self._acked = True, transport, 0
        frames_before = self.stats.frames
        try:
            self._send_sync(self._window.low)
            await self._watch(link, transport)
        finally:
            self._health.connected, self._transport = False, None
            if self._resync_timer is not None:
                self._resync_timer.cancel()
                self._resync_timer = None
            if not transport.is_closing():
                transport.abort()
            await link.closed  # the port's fd is closed once this resolves
        return self.stats.frames > frames_before

    async def _watch(self, link: LineLink, transport: serial_asyncio_fast.SerialTransport) -> None:
        """Return when the link is lost or silent for read_timeout_s; probe with a SYNC at half that."""
        loop = asyncio.get_running_loop()
        limit, probed = self.cfg.read_timeout_s, False
        while True:
            idle = loop.time() - link.last_rx
            if idle >= limit:
                self._health.timeouts += 1
                self._note_error(f"{self.cfg.port}: nothing received for {limit:g} s; reopening the port")
                return
            if idle >= limit / 2 and not probed:
                self._send_sync(self._window.low)
                probed = True
            probed &= idle >= limit / 2
            if idle >= KICK_S:
                self._kick(transport)
            wait = min((limit / 2 if idle < limit / 2 else limit) - idle, KICK_S)
            done, _ = await asyncio.wait([link.closed], timeout=wait)
            if done:
                exc = link.closed.result()
                if exc is not None:
                    self._note_error(f"{self.cfg.port}: link lost ({exc}); reopening")
                return

    def _kick(self, transport: serial_asyncio_fast.SerialTransport) -> None:
        """Bytes waiting but never reported readable: remove and re-add the reader (see KICK_S)."""
        try:
            waiting = transport.serial is not None and transport.serial.in_waiting > 0
        except OSError:  # the port is going away; the reader will hear about it
            return
        if waiting and not transport.is_closing():
            self.stats.kicks += 1
            transport.pause_reading()
            transport.resume_reading()

    def _write(self, msg: sc.HostLine) -> bool:
        if self._transport is None or self._transport.is_closing():
            return False
        self._transport.write(sc.encode_host(msg))
        return True

    def _send_sync(self, low: int | None) -> None:
        """SYNC from the first seq we lack (or everything, before the node said who it is)."""
        msg = sc.Sync() if low is None or self._boot is None else sc.Sync(low + 1, self._boot)
        if self._write(msg):
            self._last_sync = asyncio.get_running_loop().time()
            self.stats.resyncs += 1

    def _note_error(self, message: str) -> None:
        self._health.read_errors += 1
        self._health.last_error = message
        log.warning("%s: %s", self.name, message)

    # ---------------------------------------------------------------- frames

    def _on_lines(self, lines: list[bytes], overlong: int) -> None:
        self._health.corrupt_frames += overlong
        batch: list[Reading] = []
        for raw in lines:
            frame = self._decode(raw)
            if frame is not None:
                self._handle(frame, batch)
        if batch:
            machine = self.cfg.machine
            self._health.reads += len(batch)
            reads = self._health.per_machine_reads
            reads[machine] = reads.get(machine, 0) + len(batch)
            assert self._sink is not None
            self._sink(batch)
            self._uncommitted += len(batch)
        if not self._uncommitted:
            self._ack_handled()  # only H or R frames since the last commit: nothing to wait for
        self._maybe_resync()

    def _decode(self, raw: bytes) -> sc.Frame | None:
        """A frame, or None for a blank line; garbage before a `$` is counted and cut off."""
        if not raw.strip():
            return None
        start = raw.rfind(b"$")  # `$` only ever starts a frame, so noise before it is noise
        if start != 0:
            self._health.corrupt_frames += 1
            if start < 0:
                return None
        try:
            return sc.decode_frame(raw[start:])
        except sc.FrameError as exc:
            self._health.corrupt_frames += 1
            self._health.last_error = f"{self.cfg.port}: skipped a bad frame: {exc}"
            return None

    def _handle(self, frame: sc.Frame, batch: list[Reading]) -> None:
        if frame.boot != self._boot:
            if frame.boot in self._old_boots:
                self.stats.stale += 1
                return
            if self._boot is not None:  # the node rebooted: its seq starts again; a new window
                self.stats.node_resets += 1
                self._old_boots.append(self._boot)
                log.warning(
                    _("{device}: node rebooted (boot {before} -> {after})").format(
                        device=self.name, before=self._boot, after=frame.boot
                    )
                )
            self._boot, self._window, self._acked = frame.boot, sc.SeqWindow(), 0
        if self._window.seen(frame.seq):
            self.stats.duplicates += 1
            return
        self._lose(self._window.add(frame.seq))
        self.stats.frames += 1
        body = frame.body
        if isinstance(body, sc.Hello):
            self.stats.node, self.stats.node_dropped = body, body.dropped
            self._lose(self._window.anchor(body.first))
            if body.machine != self.cfg.machine:
                self._health.last_error = (
                    f"{self.cfg.port}: the node says it is on {body.machine!r}; "
                    f"readings go to {self.cfg.machine!r} as configured"
                )
        elif isinstance(body, sc.Result):
            waiter = self._waiting.get(body.cmd_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(body)
        else:
            batch.append(self._reading(body, frame.seq))

    def _lose(self, n: int) -> None:
        if n:
            self.stats.lost += n
            errors = self._health.per_machine_errors
            errors[self.cfg.machine] = errors.get(self.cfg.machine, 0) + n
            self._health.last_error = f"{self.cfg.port}: {n} frames lost (the node's buffer overflowed)"

    def _reading(self, body: sc.Body, seq: int) -> Reading:
        m = self.cfg.machine
        if isinstance(body, sc.Telemetry):
            fields = {"speed_spm": body.speed_spm, "current_a": body.current_a, "temp_c": body.temp_c}
            return base.Sample(m, body.ts_ns, {**fields, "andon": float(body.andon)}, seq)
        if isinstance(body, sc.State):
            return base.StateChange(m, body.ts_ns, body.state, body.reason, seq)
        if isinstance(body, sc.Count):
            return base.Count(m, body.ts_ns, body.total, body.good, seq)
        assert isinstance(body, sc.Vibration)
        return base.Burst(m, body.ts_ns, body.fs_hz, body.waveform(), seq)

    def _maybe_resync(self) -> None:
        """Ask for a resend when a hole has not moved for resync_interval_s (nor a SYNC gone out).

        Waiting for no progress, not just for a hole, matters: every SYNC answer
        starts with a fresh H whose seq is above the frames being resent.
        """
        hole = self._window.hole()
        if hole is None or self._transport is None:
            self._hole = None
            return
        now = asyncio.get_running_loop().time()
        if self._hole is None or self._hole[0] != hole:
            self._hole = (hole, now)
        due = max(self._hole[1], self._last_sync) + self.cfg.resync_interval_s
        if now >= due:
            self._send_sync(self._window.low)
        elif self._resync_timer is None:
            self._resync_timer = asyncio.get_running_loop().call_later(due - now, self._resync_due)

    def _resync_due(self) -> None:
        self._resync_timer = None
        self._maybe_resync()

    # ------------------------------------------------------- commit, commands

    async def commit(self) -> None:
        """The agent made every pushed reading durable: ACK them, the node may forget those frames."""
        self._uncommitted = 0
        self._ack_handled()

    def _ack_handled(self) -> None:
        """ACK the highest seq below which every frame was handled, once no pushed reading awaits a commit.

        Frames that carry no reading (H, R) need nothing from the agent; ACKing
        them at once keeps a quiet node's ring empty. Otherwise each probe SYNC
        would leave its H in the ring until the next reading came and was
        committed, which on a stopped line is never.
        """
        low = self._window.low
        if self._boot is None or low is None or low <= self._acked:
            return
        if self._write(sc.Ack(low, self._boot)):
            self._acked = low

    async def sync(self) -> None:
        """Ask the node to resend everything it still holds (duplicates are dropped here)."""
        if self._write(sc.Sync()):
            self.stats.resyncs += 1

    async def apply(
        self, machine: str, action: str, value: float | None, *, cmd_id: str | None = None
    ) -> str:
        """Send CMD and wait for the node's R frame; raise CommandRefused (or CommandUnconfirmed)."""
        self._check_command(machine, action, value)
        cmd_id = cmd_id or uuid.uuid4().hex[:16]  # unique across gateway restarts: the node remembers ids
        if len(cmd_id) > MAX_CMD_ID:
            text = N_("command id {id!r}... is longer than {limit} characters")
            raise _refused(text, id=cmd_id[:20], limit=MAX_CMD_ID)
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[cmd_id] = waiter
        try:
            if not self._write(sc.Cmd(cmd_id, action, value)):
                text = N_("{machine}: the sensor node on {port} is not connected; {action} was not sent")
                raise CommandUnconfirmed(
                    render(text, {"machine": machine, "port": self.cfg.port, "action": action})
                )
            result = await asyncio.wait_for(waiter, self.cfg.command_timeout_s)
        except TimeoutError:
            self._health.timeouts += 1
            text = N_(
                "{machine}: no answer from the sensor node on {port} within {seconds} s to {action} "
                "(id {id}); it may or may not have been applied, and resending the same id is safe"
            )
            data = {"machine": machine, "port": self.cfg.port, "action": action, "id": cmd_id}
            raise CommandUnconfirmed(
                render(text, data | {"seconds": f"{self.cfg.command_timeout_s:g}"})
            ) from None
        finally:
            self._waiting.pop(cmd_id, None)
        if not result.ok:
            text = N_("{machine}: the node refused {action}: {detail}")
            raise _refused(text, machine=machine, action=action, detail=result.detail)
        return result.detail

    def _check_command(self, machine: str, action: str, value: float | None) -> None:
        """The gate's checks again, at the last step before the wire (defence in depth)."""
        if machine != self.cfg.machine:
            text = N_("{source} drives {drives!r}, not {machine!r}")
            raise _refused(text, source=self.name, drives=self.cfg.machine, machine=machine)
        if action not in self.cfg.allowed_commands:
            allowed = ", ".join(self.cfg.allowed_commands) or _("nothing")
            text = N_("{action!r} is not allowed on {machine}; allowed: {allowed}")
            raise _refused(text, action=action, machine=machine, allowed=allowed)
        lo, hi = self.limits[machine].ranges.get(action, (-math.inf, math.inf))
        if action in ("set_speed", "andon") and (value is None or not lo <= value <= hi):
            text = N_("{machine}: {action} value {value!r} is outside {lo}..{hi}")
            raise _refused(text, machine=machine, action=action, value=value, lo=f"{lo:g}", hi=f"{hi:g}")


def _refused(template: str, **data: object) -> CommandRefused:
    """The node's or this gateway's refusal worded in its language (it becomes the ack's detail)."""
    return CommandRefused(render(template, data))
