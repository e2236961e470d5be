"""The wires between simulated Modbus devices and the gateway, with faults you can switch on.

A real plant has an RS-485 pair or an Ethernet cable between the gateway and the
devices, and the faults a gateway must survive live there: a unit that never
answers, one that answers late, a cable pulled out. Rather than teach the pymodbus
server to misbehave, the faults are injected in the wire (STYLE.md, practice 9):

- `PtyBridge` joins two pseudo-terminals back to back, like `socat pty pty`: the
  simulated bus opens one path, the gateway the other. Requests (master to slaves)
  are framed as RTU so a request for a dead unit can be dropped, and one for a slow
  unit delivered late; answers flow back untouched.
- `TcpFaultProxy` sits in front of a pymodbus TCP server and does the same with
  MBAP-framed requests; stopping it drops every connection, like a pulled cable.

Delaying the request rather than the answer keeps every answer correct: the
pymodbus server answers each request immediately with its own transaction id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["FaultTable", "PtyBridge", "TcpFaultProxy", "rtu_request_length"]

_READ_CHUNK = 4096
_RTU_MAX = 256  # the longest RTU frame the standard allows


class _Timers:
    """Delayed deliveries, all cancelled at shutdown so nothing fires into a closed fd."""

    def __init__(self) -> None:
        self._handles: set[asyncio.TimerHandle] = set()

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        holder: list[asyncio.TimerHandle] = []

        def fire() -> None:
            self._handles.discard(holder[0])
            callback()

        holder.append(asyncio.get_running_loop().call_later(delay, fire))
        self._handles.add(holder[0])

    def cancel_all(self) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()


@dataclass
class FaultTable:
    """Which units are dead (never answer) and which answer late, by unit id.

    `present`, when given, is the set of units that exist at all: a request for any
    other unit is dropped too, as on a bus where nobody has that address.
    """

    present: set[int] | None = None
    dead: set[int] = field(default_factory=set)
    slow: dict[int, float] = field(default_factory=dict)
    dropped: int = 0  # requests swallowed because their unit is dead

    def set_dead(self, unit: int, dead: bool = True) -> None:
        if dead:
            self.dead.add(unit)
        else:
            self.dead.discard(unit)

    def set_slow(self, unit: int, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"unit {unit}: a delay of {seconds} s is negative")
        if seconds:
            self.slow[unit] = seconds
        else:
            self.slow.pop(unit, None)

    def delay_for(self, unit: int) -> float | None:
        """Seconds to hold a request for `unit`, or None to drop it."""
        if unit in self.dead or (self.present is not None and unit not in self.present):
            self.dropped += 1
            return None
        return self.slow.get(unit, 0.0)


def rtu_request_length(buf: bytes | bytearray) -> int | None:
    """Length of the RTU request frame at the start of `buf`, or None if not yet known.

    Master requests have a length fixed by the function code (reads and single
    writes are 8 bytes; multiple writes carry a byte count at offset 6), so a
    request can be framed without the 3.5-character silence a pty cannot show.
    Returns 0 for a function code this bridge does not know (forward as is).
    """
    if len(buf) < 2:
        return None
    fc = buf[1]
    if fc in (1, 2, 3, 4, 5, 6):
        return 8
    if fc in (15, 16):
        return 9 + buf[6] if len(buf) >= 7 else None
    return 0


class PtyBridge:
    """Two ptys joined by a forwarding task: `device_path` for the bus, `host_path` for the gateway.

    The slave ends stay open here too, so a side that closes and reopens its port
    (a gateway reconnecting) never makes the master end fail with EIO.
    """

    def __init__(self, faults: FaultTable | None = None) -> None:
        self.faults = faults if faults is not None else FaultTable()
        self._fds: list[int] = []
        self._dev_master = self._host_master = -1
        self.device_path = self.host_path = ""
        self._request = bytearray()
        self._timers = _Timers()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> PtyBridge:
        self._loop = asyncio.get_running_loop()
        self._dev_master, dev_slave = os.openpty()
        self._host_master, host_slave = os.openpty()
        self._fds = [self._dev_master, dev_slave, self._host_master, host_slave]
        for fd in (dev_slave, host_slave):
            tty.setraw(fd)  # no echo, no line editing: bytes pass as they are
        for fd in (self._dev_master, self._host_master):
            os.set_blocking(fd, False)
        self.device_path, self.host_path = os.ttyname(dev_slave), os.ttyname(host_slave)
        self._loop.add_reader(self._host_master, self._from_host)
        self._loop.add_reader(self._dev_master, self._from_device)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._timers.cancel_all()
        self._loop.remove_reader(self._host_master)
        self._loop.remove_reader(self._dev_master)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []

    def _from_host(self) -> None:
        """Master -> slaves: frame requests, drop or delay them by unit."""
        data = _read(self._host_master)
        if not data:
            return
        self._request += data
        while (size := rtu_request_length(self._request)) is not None:
            if size == 0 or size > _RTU_MAX:  # unknown or garbage: pass it on, resynchronise
                frame, self._request = bytes(self._request), bytearray()
            elif len(self._request) < size:
                return
            else:
                frame, self._request = bytes(self._request[:size]), self._request[size:]
            self._deliver(frame, self.faults.delay_for(frame[0]))

    def _deliver(self, frame: bytes, delay: float | None) -> None:
        if delay is None:
            return
        if delay == 0:
            _write(self._dev_master, frame)
        else:
            self._timers.later(delay, lambda: _write(self._dev_master, frame))

    def _from_device(self) -> None:
        """Slaves -> master: answers pass untouched."""
        if data := _read(self._dev_master):
            _write(self._host_master, data)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, _READ_CHUNK)
    except (BlockingIOError, OSError):
        return b""


def _write(fd: int, data: bytes) -> None:
    """Write a small frame to a pty master; a full pty buffer loses it, like line noise would."""
    with contextlib.suppress(BlockingIOError, OSError):
        os.write(fd, data)


class TcpFaultProxy:
    """A loopback TCP listener that forwards MBAP frames to `upstream()`, applying the faults.

    `start()` binds `port` (0 picks a free one, kept for later restarts);
    `stop()` closes the listener and every open connection.
    """

    def __init__(
        self,
        upstream: Callable[[], tuple[str, int]],
        faults: FaultTable | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.faults = faults if faults is not None else FaultTable()
        self.host, self.port = host, port
        self._upstream = upstream
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._timers = _Timers()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._timers.cancel_all()
        for writer in list(self._writers):
            writer.transport.abort()  # like a pulled cable: no FIN, no goodbye
        tasks = list(self._tasks)
        if tasks:  # aborted transports end their pipes; cancel only what is still connecting
            _, pending = await asyncio.wait(tasks, timeout=1.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream())
            self._writers.add(up_writer)
            await self._pair(reader, writer, up_reader, up_writer)
        except (OSError, asyncio.CancelledError):
            pass  # cancelled by stop(): end quietly, asyncio's stream callback chokes on it (3.11)
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()
            self._tasks.discard(task)

    async def _pair(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        """Pump both ways until either end goes away."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._requests(reader, up_writer), name="proxy-requests")
                tg.create_task(_pipe(up_reader, writer), name="proxy-answers")
        except* (OSError, asyncio.IncompleteReadError):
            pass

    async def _requests(self, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        """Read one MBAP frame at a time (7-byte header, length at bytes 4-5, unit at 6)."""
        while True:
            header = await reader.readexactly(7)
            body = await reader.readexactly(max(int.from_bytes(header[4:6], "big") - 1, 0))
            frame = header + body
            delay = self.faults.delay_for(header[6])
            if delay is None:
                continue
            if delay == 0:
                up.write(frame)
            else:
                self._timers.later(delay, lambda f=frame: None if up.is_closing() else up.write(f))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(_READ_CHUNK):
        writer.write(data)
        await writer.drain()
    raise asyncio.IncompleteReadError(b"", None)  # the far end closed: end the pair
