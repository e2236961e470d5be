"""The cable of a simulated sensor node: a pty, its stable link, and a bounded output queue.

The pty is opened in raw mode (no echo or line discipline touches the bytes) and
published as a stable path for the gateway, a symlink like `run/tty/S01 -> /dev/pts/7`,
the way udev's `/dev/serial/by-id` links do. Unplugging closes the pty and removes the
link; plugging again opens a new pty and re-points the link atomically, so the gateway
just reopens the same path. Everything runs on the asyncio loop (`add_reader` /
`add_writer` on the master fd), no threads; a slow watchdog timer (`KICK_S`) only backs
up the readiness events.

The node (`firmware_sim.sensor_node`) is the protocol on top: it hears
`data_received(bytes)`, is told `room()` when the queue drained, and `kicked()` when the
watchdog moved bytes the loop never reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections import deque
from pathlib import Path
from typing import Protocol

from tonle.messages import _

__all__ = ["KICK_S", "PtyWire", "WireUser"]

log = logging.getLogger("tonle.sim.serial")

# Try the pty every KICK_S even without a readiness event. In development, under heavy parallel
# load, a pty once sat with bytes waiting and no event from the loop (not root-caused); this bounds
# such a stall to KICK_S. Tests may patch it.
KICK_S = 0.25


class WireUser(Protocol):
    """What sits on the wire: the node's firmware."""

    def data_received(self, data: bytes) -> None: ...

    def room(self) -> None: ...

    def kicked(self) -> None: ...


class PtyWire:
    """One pty master with its stable link; `plug()` needs a running event loop."""

    def __init__(self, link: Path, user: WireUser, label: str) -> None:
        self.link, self._user, self._label = link, user, label
        self._loop: asyncio.AbstractEventLoop | None = None
        self._master: int | None = None
        self._slave: int | None = None  # held open so the master never sees EIO between gateway opens
        self._out: deque[memoryview] = deque()
        self._out_bytes = 0
        self._head_started = False  # the first queued frame is half written: finish it before anything else
        self._received = 0  # bytes read so far (the watchdog sees whether it moved any)
        self._kick: asyncio.TimerHandle | None = None

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def queued_bytes(self) -> int:
        """Bytes written to the wire that the pty has not taken yet."""
        return self._out_bytes

    def plug(self) -> None:
        """Open a fresh pty and point the link at it (atomically, like udev)."""
        loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._loop, self._master, self._slave = loop, master, slave
        loop.add_reader(master, self._on_readable)
        self._kick = loop.call_later(KICK_S, self._watchdog)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link)

    def unplug(self) -> None:
        """Yank the cable: the link disappears, the gateway's reads fail, bytes in flight are lost."""
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

    def write(self, data: bytes) -> None:
        """Put bytes on the wire now, or queue them behind what the pty has not taken yet."""
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

    def drop_pending(self) -> None:
        """Forget queued bytes not yet started (a half-written frame is finished, never cut)."""
        keep = self._out[0] if self._out and self._head_started else None
        self._out.clear()
        self._out_bytes = 0
        if keep is not None:
            self._out.append(keep)
            self._out_bytes = len(keep)

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
        self._user.room()  # room again: the frames waiting behind the node's cursor
        if not self._out and self._master is not None:
            self._loop.remove_writer(self._master)

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:  # cannot happen while we hold the slave; say so if it does
            log.warning(
                _("{device}: reading the pty failed: {reason}").format(device=self._label, reason=exc)
            )
            return
        self._received += len(data)
        self._user.data_received(data)

    def _watchdog(self) -> None:
        """Read and write as if the loop had said the pty is ready (see KICK_S); harmless if not."""
        assert self._loop is not None
        self._kick = self._loop.call_later(KICK_S, self._watchdog)
        before = (self._out_bytes, self._received)
        if self._out:
            self._on_writable()
        if self._master is not None:
            self._on_readable()
        if (self._out_bytes, self._received) != before:
            self._user.kicked()
