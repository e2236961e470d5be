"""The byte side of a sensor node's port: a stream cut into lines, and the link's counters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from tonle.protocols import serial_frames as sc

__all__ = ["LineLink", "SerialStats"]


@dataclass
class SerialStats:
    """Protocol counters beyond `SourceHealth`: what the seq numbers say about the link."""

    frames: int = 0  # distinct frames handled
    duplicates: int = 0  # resent frames already handled (dropped)
    lost: int = 0  # seqs the node can no longer resend (its ring overflowed)
    stale: int = 0  # late frames from an earlier boot of the node (dropped)
    node_resets: int = 0  # the node rebooted: its seq started again
    resyncs: int = 0  # SYNCs sent to fill holes or probe a quiet link
    kicks: int = 0  # times the port had bytes waiting that the event loop never reported
    node_dropped: int = 0  # the node's own count of frames its ring forgot, from its last H
    node: sc.Hello | None = None  # the node's last H frame


class LineLink(asyncio.Protocol):
    """Splits the byte stream into lines for the source; overlong lines are cut off and counted.

    `on_lines(lines, overlong)` gets each batch of whole lines and how many were cut off.
    """

    def __init__(self, on_lines: Callable[[list[bytes], int], None]) -> None:
        loop = asyncio.get_running_loop()
        self._on_lines, self._loop = on_lines, loop
        self.closed: asyncio.Future[Exception | None] = loop.create_future()
        self.last_rx = loop.time()
        self._buf = bytearray()
        self._skipping = False  # inside an overlong line: drop up to its newline

    def data_received(self, data: bytes) -> None:
        self.last_rx = self._loop.time()
        self._buf += data
        lines, pos, overlong = [], 0, 0
        while (end := self._buf.find(b"\n", pos)) >= 0:
            if not self._skipping:
                lines.append(bytes(self._buf[pos : end + 1]))
            self._skipping, pos = False, end + 1
        del self._buf[:pos]
        if len(self._buf) > sc.MAX_LINE_BYTES:
            self._buf.clear()
            overlong, self._skipping = 1, True
        self._on_lines(lines, overlong)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)
