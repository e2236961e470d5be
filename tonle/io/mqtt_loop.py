"""paho-mqtt driven from the asyncio loop itself (paho's external-loop mode), for `MqttConnection`.

The socket paho opens is watched with `add_reader` / `add_writer`, and its keep-alive
runs from a task, so there is no second Python thread fighting for the GIL: with
paho's own network thread, a collector spent more time handing packets between the
two threads than mapping them. paho calls back from the loop, or from the worker
thread that runs the blocking TCP connect; `_in_loop` brings every call onto the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

import paho.mqtt.client as paho

__all__ = ["READ_BURST", "PahoOnLoop", "Socket"]

READ_BURST = 256  # packets read per wake-up of the socket: one loop pass per burst, not per message


class Socket(Protocol):
    """What paho hands us as its socket (a TCP or TLS socket): the loop watches its fd."""

    def fileno(self) -> int: ...


class PahoOnLoop:
    """The socket half of a connection: set `_loop`, `_client`, `_sock` and `_lost_event`, then
    register the `_on_socket_*` callbacks with the paho client."""

    _loop: asyncio.AbstractEventLoop | None
    _client: paho.Client | None
    _sock: Socket | None
    _lost_event: asyncio.Event

    async def _misc(self) -> None:
        """Keep-alive pings and retries of un-acknowledged packets (paho's `loop_misc`)."""
        while True:
            await asyncio.sleep(1.0)
            if self._client is not None and self._sock is not None:
                self._client.loop_misc()

    # -- the socket, watched by the event loop ----------------------------------
    def _in_loop(self, fn: Callable[..., object], *args: object) -> None:
        """Run `fn` on the loop thread: at once if we are on it, else scheduled."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def _on_socket_open(self, client, userdata, sock) -> None:  # type: ignore[no-untyped-def]
        self._in_loop(self._watch, sock)

    def _on_socket_close(self, client, userdata, sock) -> None:  # type: ignore[no-untyped-def]
        self._in_loop(self._closed, sock)

    def _on_socket_register_write(self, client, userdata, sock) -> None:  # type: ignore[no-untyped-def]
        self._in_loop(self._watch_write, sock)

    def _on_socket_unregister_write(self, client, userdata, sock) -> None:  # type: ignore[no-untyped-def]
        self._in_loop(self._unwatch_write, sock)

    def _watch(self, sock: Socket) -> None:
        assert self._loop is not None
        if sock.fileno() < 0 or self._client is None:
            return  # closed (or the connection shut) before the news from the connect worker arrived
        self._unwatch(lost=False)
        self._sock = sock
        self._loop.add_reader(sock, self._readable)
        if self._client is not None and self._client.want_write():
            self._watch_write(sock)

    def _closed(self, sock: Socket) -> None:
        """paho closed `sock`: the connection is lost, unless we had let that socket go already.

        paho's `reconnect` closes the previous socket in the connect worker thread; by the
        time that news reaches the loop, the socket's fd is gone (and a new socket may be
        watched), so `release` lets it go on the loop first and the late news is ignored.
        """
        if sock is self._sock:
            self._unwatch()

    def release(self) -> None:
        """Stop watching the current socket before paho replaces it (call on the loop)."""
        self._unwatch(lost=False)

    def _unwatch(self, lost: bool = True) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            self._forget(sock)
        if lost:
            self._lost_event.set()

    def _watch_write(self, sock: Socket) -> None:
        if self._loop is not None and sock is self._sock and sock.fileno() >= 0:
            self._loop.add_writer(sock, self._writable)

    def _unwatch_write(self, sock: Socket) -> None:
        if sock is self._sock:
            self._forget(sock, reader=False)

    def _forget(self, sock: Socket, reader: bool = True) -> None:
        """Stop watching `sock` for writing (and reading); safe if paho closed it under us."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if sock.fileno() >= 0:
            if reader:
                loop.remove_reader(sock)
            loop.remove_writer(sock)
            return
        # Closed by paho in the connect worker before the loop heard of it: the kernel has
        # already dropped the fd from epoll, only the loop's own record of it is left.
        selector = getattr(loop, "_selector", None)
        if selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(sock)

    def _readable(self) -> None:
        if self._client is None:
            return
        self._client.loop_read(max_packets=READ_BURST)
        # A TLS socket may hold decrypted bytes the kernel no longer reports as readable:
        # read them now, or the messages in them wait for the next packet to arrive.
        pending = getattr(self._sock, "pending", None)
        if pending is not None and pending() > 0 and self._loop is not None:
            self._loop.call_soon(self._readable)

    def _writable(self) -> None:
        if self._client is not None:
            self._client.loop_write()
