"""One sewing-station sensor node: the firmware side of the serial protocol, on a simulated cable.

A real node (an ESP32 or STM32 with a stitch counter, a current clamp, a
thermistor and an accelerometer) talks to the gateway over USB serial. Here each
node sits on a `PtyWire` (a pty with a stable link path the gateway opens).

The node speaks docs/serial-protocol.md through `tonle.protocols.serial_frames`,
the same module the gateway uses. It keeps every frame in a bounded ring until
the gateway ACKs it, resends on SYNC, and applies CMD lines to its station of a
`SewingLine`. The ring is also the transmit queue: a cursor feeds its frames to
the wire in seq order as fast as the link drains, so a gateway that was away,
or reads slowly, gets the backlog without holes.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from firmware_sim.line import SewingLine, SimCommandError
from firmware_sim.pty_wire import PtyWire
from tonle.protocols.serial_frames import (
    MAX_BURST_SAMPLES,
    MAX_HOST_LINE_BYTES,
    Ack,
    Body,
    Cmd,
    Frame,
    FrameError,
    Hello,
    Result,
    Sync,
    decode_host,
    encode_frame,
)

__all__ = ["FIRMWARE", "RING_SIZE", "NodeStats", "SensorNodeSim"]

log = logging.getLogger("tonle.sim.serial")

FIRMWARE = "tn-node 1.0.0-sim"
RING_SIZE = 2000  # unacked frames a node keeps (a real MCU has a few hundred KB of RAM)
# Bytes copied out of the ring ahead of the wire. More frames wait in the ring (behind the send cursor) and
# go out, in seq order, as the link drains: a gateway that reads slowly, or not at all, costs no frames.
OUT_LIMIT_BYTES = 256 * 1024
CMD_MEMORY = 256  # command ids remembered, so a retried CMD is answered but never applied twice


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
        self._wire = PtyWire(self.link, self, spec.name)
        self._rx = bytearray()
        self._corrupt_next = False
        self._cursor = 1  # the next ring seq to put on the wire
        self._ahead: set[int] = set()  # seqs written out of turn (a SYNC's H, command results): skip them
        self._resend_below = 0  # frames below this seq that go out were asked for by a SYNC
        self._boot(boot)

    # ------------------------------------------------------------ properties

    @property
    def plugged(self) -> bool:
        return self._wire.plugged

    @property
    def unacked(self) -> list[int]:
        """Seqs still in the ring, oldest first."""
        return [seq for seq, _ in self._ring]

    # ------------------------------------------------------- cable and power

    def plug(self) -> None:
        """Open a fresh pty and point the link at it (atomically, like udev)."""
        if self._wire.plugged:
            raise RuntimeError(f"{self.machine}: already plugged in at {self.link}")
        self._wire.plug()
        self._cursor, self._ahead = self.seq + 1, set()  # a fresh cable: new frames now, older ones on SYNC
        self.stats.plugs += 1

    def unplug(self) -> None:
        """Yank the cable: the link disappears, the gateway's reads fail, bytes in flight are lost.

        The node stays powered (the machine feeds it), so its ring and seq survive.
        """
        self._wire.unplug()
        self._rx.clear()

    def replug(self) -> None:
        self.unplug()
        self.plug()

    def reboot(self) -> None:
        """Power-cycle the MCU: new boot id, seq restarts at 1, the ring and command memory are lost."""
        if self._wire.plugged:
            self._wire.drop_pending()
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
        if self._wire.plugged:
            self._wire.write(bytes(data))

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
        if ahead and self._wire.plugged:
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
        if not self._wire.plugged or not self._ring:
            return
        first = self._ring[0][0]
        if self._cursor < first:  # acked or forgotten while waiting: nothing below `first` goes out
            self._cursor = first
            self._ahead = {seq for seq in self._ahead if seq >= first}
        while self._cursor <= self.seq and self._wire.queued_bytes < OUT_LIMIT_BYTES:
            seq = self._cursor
            self._cursor += 1
            if seq in self._ahead:
                self._ahead.discard(seq)
                continue
            self.stats.resent += seq < self._resend_below
            self._send(self._ring[seq - first][1])

    def _send(self, line: bytes) -> None:
        if not self._wire.plugged:
            return
        if self._corrupt_next:
            self._corrupt_next = False
            bad = bytearray(line)
            mid = len(bad) // 2
            bad[mid] = ord("#") if bad[mid] != ord("#") else ord("!")
            line = bytes(bad)
        self.stats.written += 1
        self._wire.write(line)

    # ------------------------------------------------------------ the wire

    def room(self) -> None:
        """The wire took what was queued: feed it the frames waiting behind the cursor."""
        self._pump()

    def kicked(self) -> None:
        self.stats.kicks += 1

    # ----------------------------------------------------------------- input

    def data_received(self, data: bytes) -> None:
        """Bytes from the gateway: whole lines are handled, an overlong one is dropped and counted."""
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
        self._wire.drop_pending()
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
