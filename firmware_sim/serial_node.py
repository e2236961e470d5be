"""Sewing-station sensor nodes on pseudo-terminals: the firmware side of the serial protocol.

A real node (an ESP32 or STM32 with a stitch counter, a current clamp, a
thermistor and an accelerometer) talks to the gateway over USB serial. Here each
node owns a pty (`os.openpty`, raw mode, so no echo or line discipline touches
the bytes) and publishes a stable path for the gateway, a symlink like
`run/tty/S01 -> /dev/pts/7`, the way udev's `/dev/serial/by-id` links do.
Unplugging closes the pty and removes the link; replugging opens a new pty and
re-points the link atomically, so the gateway just reopens the same path.

The node speaks docs/serial-protocol.md through `tonle.protocols.serial_frames`,
the same module the gateway uses. It keeps every frame in a bounded ring until
the gateway ACKs it, resends on SYNC, and applies CMD lines to its station of a
`SewingLine`. The ring is also the transmit queue: a cursor feeds its frames to
the wire in seq order as fast as the link drains, so a gateway that was away,
or reads slowly, gets the backlog without holes. Everything runs on the asyncio
loop (`add_reader`/`add_writer` on the master fd), no threads; a slow watchdog
timer (`KICK_S`) only backs up the readiness events.

`SerialLineSim` runs one node per station on one shared `SewingLine`, stepped
on a clock; each station's output becomes that node's frames, in time order,
exactly as twelve separate MCUs would send them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections import OrderedDict, defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from firmware_sim.line import LineOutput, SewingLine, SimCommandError
from tonle.io.clock import Clock
from tonle.protocols.serial_frames import (
    MAX_BURST_SAMPLES,
    MAX_HOST_LINE_BYTES,
    Ack,
    Body,
    Cmd,
    Count,
    Frame,
    FrameError,
    Hello,
    Result,
    State,
    Sync,
    Telemetry,
    Vibration,
    decode_host,
    encode_frame,
)

__all__ = ["FIRMWARE", "KICK_S", "RING_SIZE", "NodeStats", "SensorNodeSim", "SerialLineSim", "station_bodies"]

log = logging.getLogger("tonle.sim.serial")

FIRMWARE = "tn-node 1.0.0-sim"
RING_SIZE = 2000  # unacked frames a node keeps (a real MCU has a few hundred KB of RAM)
# Bytes copied out of the ring ahead of the wire. More frames wait in the ring (behind the send cursor) and
# go out, in seq order, as the link drains: a gateway that reads slowly, or not at all, costs no frames.
OUT_LIMIT_BYTES = 256 * 1024
CMD_MEMORY = 256  # command ids remembered, so a retried CMD is answered but never applied twice
# Try the pty every KICK_S even without a readiness event. In development, under heavy parallel
# load, a pty once sat with bytes waiting and no event from the loop (not root-caused); this bounds
# such a stall to KICK_S. Tests may patch it.
KICK_S = 0.25


@dataclass
class NodeStats:
    frames: int = 0  # frames made (each gets a new seq)
    written: int = 0  # frames queued to the wire, resends included
    resent: int = 0  # frames put on the wire again in answer to a SYNC
    dropped: int = 0  # unacked frames forgotten because the ring was full (reported in H)
    syncs: int = 0
    acks: int = 0
    bad_lines: int = 0  # gateway lines with a bad CRC or garbled
    commands: int = 0  # CMD lines applied (repeats of a known id not included)
    plugs: int = 0
    kicks: int = 0  # bytes moved by the watchdog, not by a readiness event (mostly benign races)


class SensorNodeSim:
    """One station's sensor node on its own pty; `plug()` needs a running event loop."""

    def __init__(
        self,
        line: SewingLine,
        station: int,
        link: str | Path,
        *,
        node_id: str | None = None,
        ring_size: int = RING_SIZE,
        firmware: str = FIRMWARE,
        boot: str | None = None,
    ) -> None:
        if not 0 <= station < line.n:
            raise ValueError(f"station {station} does not exist; the line has 0..{line.n - 1}")
        if ring_size < 2:
            raise ValueError(f"ring_size={ring_size} must be >= 2 frames")
        if line.spec.burst_n > MAX_BURST_SAMPLES:
            raise ValueError(f"burst_n={line.spec.burst_n}: a node sends at most {MAX_BURST_SAMPLES} samples")
        spec = line.spec.stations[station]
        self.line, self.station, self.link = line, station, Path(link)
        self.machine, self.machine_type = spec.name, spec.machine_type
        self.node_id = node_id or f"{line.spec.line}-{spec.name}"
        self.firmware, self.ring_size = firmware, ring_size
        self.stats = NodeStats()
        self.deaf = False  # fault injection: ignore everything the gateway sends
        self._loop: asyncio.AbstractEventLoop | None = None
        self._master: int | None = None
        self._slave: int | None = None  # held open so the master never sees EIO between gateway opens
        self._out: deque[memoryview] = deque()
        self._out_bytes = 0
        self._head_started = False  # the first queued frame is half written: finish it before anything else
        self._rx = bytearray()
        self._corrupt_next = False
        self._cursor = 1  # the next ring seq to put on the wire
        self._ahead: set[int] = set()  # seqs written out of turn (a SYNC's H, command results): skip them
        self._resend_below = 0  # frames below this seq that go out were asked for by a SYNC
        self._kick: asyncio.TimerHandle | None = None
        self._boot(boot)

    # ------------------------------------------------------------ properties

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def unacked(self) -> list[int]:
        """Seqs still in the ring, oldest first."""
        return [seq for seq, _ in self._ring]

    # ------------------------------------------------------- cable and power

    def plug(self) -> None:
        """Open a fresh pty and point the link at it (atomically, like udev)."""
        if self._master is not None:
            raise RuntimeError(f"{self.machine}: already plugged in at {self.link}")
        loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._loop, self._master, self._slave = loop, master, slave
        self._cursor, self._ahead = self.seq + 1, set()  # a fresh cable: new frames now, older ones on SYNC
        loop.add_reader(master, self._on_readable)
        self._kick = loop.call_later(KICK_S, self._watchdog)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link)
        self.stats.plugs += 1

    def unplug(self) -> None:
        """Yank the cable: the link disappears, the gateway's reads fail, bytes in flight are lost.

        The node stays powered (the machine feeds it), so its ring and seq survive.
        """
        if self._master is None or self._loop is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        if self._kick is not None:
            self._kick.cancel()
            self._kick = None
        self._loop.remove_reader(self._master)
        self._loop.remove_writer(self._master)
        os.close(self._master)
        if self._slave is not None:
            os.close(self._slave)
        self._master = self._slave = None
        self._out.clear()
        self._out_bytes, self._head_started = 0, False
        self._rx.clear()

    def replug(self) -> None:
        self.unplug()
        self.plug()

    def reboot(self) -> None:
        """Power-cycle the MCU: new boot id, seq restarts at 1, the ring and command memory are lost."""
        if self._master is not None:
            self._drop_pending()
        self._boot(None)

    def _boot(self, boot: str | None) -> None:
        self.boot = boot or os.urandom(4).hex().upper()
        self.seq = 0
        self._cursor, self._ahead, self._resend_below = 1, set(), 0
        self._ring: deque[tuple[int, bytes]] = deque()
        self._results: OrderedDict[str, Result] = OrderedDict()
        self._dropped = 0
        self._emit_hello()  # the boot banner

    # -------------------------------------------------------- fault injection

    def inject_garbage(self, data: bytes) -> None:
        """Put raw bytes on the wire between frames (line noise, a bootloader banner)."""
        if self._master is not None:
            self._queue(bytes(data))

    def corrupt_next_frame(self) -> None:
        """Flip one byte of the next frame on the wire; the ring keeps the good copy."""
        self._corrupt_next = True

    # ---------------------------------------------------------------- output

    def publish(self, bodies: Iterable[Body]) -> None:
        """Measurements taken by the firmware: each becomes a frame with the next seq."""
        for body in bodies:
            self._emit(body)

    def _emit(self, body: Body, *, ahead: bool = False) -> None:
        """Give `body` the next seq and keep it in the ring; it goes out in turn, or at once if `ahead`.

        `ahead` is for frames the gateway waits on (a SYNC's H, a command's R):
        they must not queue behind a backlog. The gateway takes frames in any
        order, and the cursor skips them later so they are not sent twice.
        """
        self._make_room()
        self.seq += 1
        line = encode_frame(Frame(self.boot, self.seq, body))
        self._ring.append((self.seq, line))
        self.stats.frames += 1
        if ahead and self._master is not None:
            self._ahead.add(self.seq)
            self._send(line)
        else:
            self._pump()

    def _emit_hello(self, *, ahead: bool = False) -> None:
        self._make_room()
        first = self._ring[0][0] if self._ring else self.seq + 1
        hello = Hello(self.node_id, self.firmware, self.machine, self.machine_type, self._dropped, first)
        self._emit(hello, ahead=ahead)

    def _make_room(self) -> None:
        while len(self._ring) >= self.ring_size:
            self._ring.popleft()
            self._dropped += 1
            self.stats.dropped += 1

    def _pump(self) -> None:
        """Feed ring frames from the cursor to the wire, in seq order, while the output queue has room.

        Frames that do not fit wait in the ring, not skipped: a skipped frame is a
        hole the gateway can only refill with a SYNC round trip, so a backlog bigger
        than the queue (the warm-up, a gateway restart) would trickle in at one
        queue per resync interval instead of at link speed.
        """
        if self._master is None or not self._ring:
            return
        first = self._ring[0][0]
        if self._cursor < first:  # acked or forgotten while waiting: nothing below `first` goes out
            self._cursor = first
            self._ahead = {seq for seq in self._ahead if seq >= first}
        while self._cursor <= self.seq and self._out_bytes < OUT_LIMIT_BYTES:
            seq = self._cursor
            self._cursor += 1
            if seq in self._ahead:
                self._ahead.discard(seq)
                continue
            self.stats.resent += seq < self._resend_below
            self._send(self._ring[seq - first][1])

    def _send(self, line: bytes) -> None:
        if self._master is None:
            return
        if self._corrupt_next:
            self._corrupt_next = False
            bad = bytearray(line)
            mid = len(bad) // 2
            bad[mid] = ord("#") if bad[mid] != ord("#") else ord("!")
            line = bytes(bad)
        self.stats.written += 1
        self._queue(line)

    def _queue(self, data: bytes) -> None:
        assert self._master is not None and self._loop is not None
        if not self._out:
            try:
                n = os.write(self._master, data)
            except BlockingIOError:
                n = 0
            if n == len(data):
                return
            self._head_started = n > 0
            data = data[n:]
            self._loop.add_writer(self._master, self._on_writable)
        self._out.append(memoryview(data))
        self._out_bytes += len(data)

    def _on_writable(self) -> None:
        assert self._master is not None and self._loop is not None
        while self._out:
            head = self._out[0]
            try:
                n = os.write(self._master, head)
            except BlockingIOError:
                return
            self._out_bytes -= n
            if n < len(head):
                self._out[0] = head[n:]
                self._head_started = True
                return
            self._out.popleft()
            self._head_started = False
        self._pump()  # room again: the frames waiting behind the cursor
        if not self._out:
            self._loop.remove_writer(self._master)

    def _watchdog(self) -> None:
        """Read and write as if the loop had said the pty is ready (see KICK_S); harmless if not."""
        assert self._loop is not None
        self._kick = self._loop.call_later(KICK_S, self._watchdog)
        before = (self._out_bytes, len(self._rx), self.stats.bad_lines + self.stats.acks + self.stats.syncs)
        if self._out:
            self._on_writable()
        self._on_readable()
        after = (self._out_bytes, len(self._rx), self.stats.bad_lines + self.stats.acks + self.stats.syncs)
        self.stats.kicks += before != after

    def _drop_pending(self) -> None:
        """Forget queued frames not yet started (a SYNC moves the cursor back to resend them in order)."""
        keep = self._out[0] if self._out and self._head_started else None
        self._out.clear()
        self._out_bytes = 0
        if keep is not None:
            self._out.append(keep)
            self._out_bytes = len(keep)

    # ----------------------------------------------------------------- input

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:  # cannot happen while we hold the slave; say so if it does
            log.warning("%s: reading the pty failed: %s", self.machine, exc)
            return
        self._rx += data
        while (end := self._rx.find(b"\n")) >= 0:
            line = bytes(self._rx[: end + 1])
            del self._rx[: end + 1]
            self._on_line(line)
        if len(self._rx) > MAX_HOST_LINE_BYTES:
            self._rx.clear()
            self.stats.bad_lines += 1

    def _on_line(self, line: bytes) -> None:
        if self.deaf or not line.strip():
            return
        try:
            msg = decode_host(line)
        except FrameError as exc:
            self.stats.bad_lines += 1
            log.debug("%s: bad gateway line: %s", self.machine, exc)
            return
        if isinstance(msg, Ack):
            self._ack(msg)
        elif isinstance(msg, Sync):
            self._sync(msg)
        else:
            self._command(msg)

    def _ack(self, msg: Ack) -> None:
        if msg.boot != self.boot:
            return  # an ACK for frames of an earlier boot says nothing about these ones
        self.stats.acks += 1
        while self._ring and self._ring[0][0] <= msg.seq:
            self._ring.popleft()

    def _sync(self, msg: Sync) -> None:
        """Answer with a fresh H (who we are, oldest resendable seq), then resend the unacked frames.

        The resend is the cursor moved back: the frames stream out as the link
        drains, however many the ring holds.
        """
        self.stats.syncs += 1
        start = msg.from_seq if msg.boot == self.boot and msg.from_seq is not None else 0
        self._drop_pending()
        self._ahead.clear()  # written out of turn before, maybe lost: resend them in turn too
        self._emit_hello(ahead=True)  # may push the oldest frame out of a full ring: it is not resent then
        self._cursor, self._resend_below = min(start, self.seq), self.seq  # never past what comes next
        self._pump()

    def _command(self, cmd: Cmd) -> None:
        result = self._results.get(cmd.cmd_id)
        if result is None:
            self.stats.commands += 1
            try:
                detail = self.line.apply(self.station, cmd.action, cmd.value)
                result = Result(cmd.cmd_id, True, detail)
            except SimCommandError as exc:
                result = Result(cmd.cmd_id, False, str(exc))
            self._results[cmd.cmd_id] = result
            while len(self._results) > CMD_MEMORY:
                self._results.popitem(last=False)
        self._emit(result, ahead=True)  # the gateway is waiting for it: not behind a backlog


def station_bodies(out: LineOutput, stations: Iterable[int] | None = None) -> dict[int, list[Body]]:
    """Split one step of line output into each station's frames, in time order."""
    want = None if stations is None else set(stations)
    items: defaultdict[int, list[tuple[int, int, Body]]] = defaultdict(list)
    tel = out.telemetry
    columns = (tel.ts, tel.station, tel.speed_spm, tel.current_a, tel.temp_c, tel.andon)
    for ts, st, speed, cur, temp, andon in zip(*(c.tolist() for c in columns), strict=True):
        if want is None or st in want:
            items[st].append((ts, 2, Telemetry(ts, speed, cur, temp, round(andon))))
    for s in out.states:
        items[s.station].append((s.ts_ns, 0, State(s.ts_ns, s.state, s.reason)))
    for c in out.counts:
        items[c.station].append((c.ts_ns, 1, Count(c.ts_ns, c.total, c.good)))
    for b in out.bursts:
        if want is None or b.station in want:
            items[b.station].append((b.ts_ns, 3, Vibration.from_waveform(b.ts_ns, b.fs_hz, b.waveform)))
    return {
        st: [body for _, _, body in sorted(rows, key=lambda r: (r[0], r[1]))]
        for st, rows in items.items()
        if want is None or st in want
    }


class SerialLineSim:
    """A whole line of sensor nodes: one `SewingLine`, one node and one pty link per station.

    Use as `async with SerialLineSim(line, "run/tty") as sim: await sim.run(clock)`;
    the gateway opens `sim.links["S01"]` and so on.
    """

    def __init__(
        self,
        line: SewingLine,
        link_dir: str | Path,
        *,
        stations: Sequence[int] | None = None,
        ring_size: int = RING_SIZE,
    ) -> None:
        self.line = line
        self.link_dir = Path(link_dir)
        chosen = range(line.n) if stations is None else stations
        nodes = [
            SensorNodeSim(line, i, self.link_dir / line.spec.stations[i].name, ring_size=ring_size)
            for i in chosen
        ]
        self.nodes: dict[str, SensorNodeSim] = {n.machine: n for n in nodes}
        self._by_station = {n.station: n for n in nodes}

    @property
    def links(self) -> dict[str, Path]:
        """Machine name -> the stable path a gateway opens."""
        return {name: node.link for name, node in self.nodes.items()}

    async def __aenter__(self) -> SerialLineSim:
        self.link_dir.mkdir(parents=True, exist_ok=True)
        try:
            for node in self.nodes.values():
                node.plug()
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for node in self.nodes.values():
            node.unplug()

    def step(self, now_ns: int) -> LineOutput:
        """Run the line up to `now_ns` and hand each node its station's output; return the output."""
        out = self.line.advance_to(now_ns)
        for station, bodies in station_bodies(out, self._by_station).items():
            self._by_station[station].publish(bodies)
        return out

    async def run(self, clock: Clock, tick_s: float = 1.0) -> None:
        """Step the line every `tick_s` of `clock` until cancelled."""
        while True:
            await clock.sleep(tick_s)
            self.step(clock.now_ns())
