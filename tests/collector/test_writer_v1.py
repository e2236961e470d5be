"""The v1 writer against a real influxd: bad lines, oversized batches, outages, throttling.

Every behaviour here is provoked on a real influxd 1.6.7 except Retry-After:
influxd's write throttle answers 503 without that header (measured below), so
one test uses a tiny scripted HTTP server on loopback for that header only.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import count, wait_for
from tonle.app.services import LocalInfluxDB
from tonle.io.influxql import InfluxQLClient
from tonle.io.writers import InfluxV1Writer, RejectedLine, WriteError

T0 = 1_780_000_000_000_000_000
SMALL_BODY = 4096  # bytes; influxd answers 413 to anything larger


def lines(n: int, first: int = 0) -> bytes:
    """Points `first`..`first+n-1` of one series: point i has value i + 0.5 at T0 + i ns."""
    return b"".join(b"telemetry,machine=S01 v=%d.5 %d\n" % (i, T0 + i) for i in range(first, first + n))


async def values(q: InfluxQLClient, query: str) -> list[list]:
    rows = await q.query(query)
    return [v for s in rows for v in s.values]


@pytest.fixture(scope="module")
def small_body_influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInfluxDB]:
    db = LocalInfluxDB(
        folder=Path(tmp_path_factory.mktemp("influxd-small-body")),
        http_settings={"max-body-size": SMALL_BODY},
    ).start()
    yield db
    db.stop()


def test_a_malformed_line_is_returned_with_the_server_reason_and_every_good_line_is_stored(
    influxdb, unique_name
):
    bad = b"telemetry,machine=S01 v=oops 123"
    batch = lines(50) + bad + b"\n" + lines(50, 50)

    async def body() -> None:
        async with (
            InfluxV1Writer(influxdb.url, unique_name) as w,
            InfluxQLClient(influxdb.url, unique_name) as q,
        ):
            await w.ensure_database()
            rejected = await w.write(batch)
            assert [r.line for r in rejected] == [bad]
            assert "unable to parse 'telemetry,machine=S01 v=oops 123'" in rejected[0].reason
            stored = await values(q, "SELECT v FROM telemetry")
            assert stored == [[T0 + i, i + 0.5] for i in range(100)]

    asyncio.run(body())


def test_a_point_whose_field_type_conflicts_is_rejected_and_the_rest_of_the_batch_is_stored(
    influxdb, unique_name
):
    conflicting = b'telemetry,machine=S01 v="text" %d' % (T0 + 50)

    async def body() -> None:
        async with (
            InfluxV1Writer(influxdb.url, unique_name) as w,
            InfluxQLClient(influxdb.url, unique_name) as q,
        ):
            await w.ensure_database()
            assert await w.write(lines(10)) == []
            rejected = await w.write(lines(20, 100) + conflicting + b"\n")
            assert [r.line for r in rejected] == [conflicting]
            assert "field type conflict" in rejected[0].reason
            assert await count(q, "SELECT count(v) FROM telemetry") == 30

    asyncio.run(body())


def test_a_batch_larger_than_max_body_size_is_split_and_every_point_stored(small_body_influxd, unique_name):
    db = small_body_influxd
    batch = lines(2000)
    assert len(batch) > 20 * SMALL_BODY

    async def body() -> None:
        async with InfluxV1Writer(db.url, unique_name) as w, InfluxQLClient(db.url, unique_name) as q:
            await w.ensure_database()
            assert await w.write(batch) == []
            stored = await values(q, "SELECT count(v), sum(v) FROM telemetry")
            assert stored == [[0, 2000, sum(i + 0.5 for i in range(2000))]]

    asyncio.run(body())


def test_a_single_line_larger_than_max_body_size_is_rejected_instead_of_retried_forever(
    small_body_influxd, unique_name
):
    db = small_body_influxd
    huge = b'event,machine=S01 text="%s" %d' % (b"x" * SMALL_BODY, T0)

    async def body() -> None:
        async with InfluxV1Writer(db.url, unique_name) as w, InfluxQLClient(db.url, unique_name) as q:
            await w.ensure_database()
            rejected = await w.write(lines(30) + huge + b"\n")
            assert rejected == [RejectedLine(huge, "Request Entity Too Large")]
            assert await count(q, "SELECT count(v) FROM telemetry") == 30

    asyncio.run(body())


def test_a_database_that_is_down_raises_write_error_naming_the_url_and_writes_resume_after_restart(
    tmp_path, unique_name
):
    db = LocalInfluxDB(folder=tmp_path / "influxd").start()

    async def body() -> None:
        async with InfluxV1Writer(db.url, unique_name) as w, InfluxQLClient(db.url, unique_name) as q:
            await w.ensure_database()
            assert await w.write(lines(5)) == []
            db.stop()
            with pytest.raises(WriteError) as down:
                await w.write(lines(5, 100))
            assert db.url in str(down.value)
            assert "influxdb.url" in str(down.value)
            assert down.value.retry_after_s is None
            with pytest.raises(WriteError):
                await w.ensure_database()
            db.start()
            assert await w.write(lines(5, 100)) == []
            assert await count(q, "SELECT count(v) FROM telemetry") == 10

    try:
        asyncio.run(body())
    finally:
        db.stop()


@contextlib.contextmanager
def stalled_write(port: int, database: str) -> Iterator[socket.socket]:
    """Hold influxd's only write slot: a /write whose body never finishes arriving."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(
            f"POST /write?db={database} HTTP/1.1\r\nHost: influxd\r\nContent-Length: 1000\r\n\r\n".encode()
            + b"telemetry v=1 1\n"
        )
        yield s


def test_a_throttled_influxd_answers_503_without_retry_after_and_the_kept_batch_is_stored_after(
    tmp_path, unique_name
):
    # influxd 1.6.7 with max-concurrent-write-limit = 1 answers a write that cannot get
    # the slot within enqueued-write-timeout with 503 "request throttled, exceeds
    # timeout" and no Retry-After: the writer hands None, so the caller's own backoff applies.
    db = LocalInfluxDB(
        folder=tmp_path / "influxd",
        http_settings={"max-concurrent-write-limit": 1, "enqueued-write-timeout": "10ms"},
    ).start()
    batch = lines(10)

    async def attempt(w: InfluxV1Writer) -> WriteError | None:
        try:
            await w.write(batch)
        except WriteError as exc:
            return exc
        return None

    async def body() -> None:
        async with InfluxV1Writer(db.url, unique_name) as w, InfluxQLClient(db.url, unique_name) as q:
            await w.ensure_database()
            with stalled_write(db.port, unique_name):
                error = await wait_for(lambda: attempt(w), lambda e: e is not None, "influxd to throttle")
            assert error is not None
            assert "overloaded or unavailable (503: request throttled" in str(error)
            assert error.retry_after_s is None
            assert await w.write(batch) == []
            assert await count(q, "SELECT count(v) FROM telemetry") == 10

    try:
        asyncio.run(body())
    finally:
        db.stop()


# -- Retry-After: influxd never sends it, so a scripted HTTP server does -------------


@dataclass
class ScriptedServer:
    """A loopback HTTP/1.1 server answering each request with the next scripted (status, headers)."""

    answers: list[tuple[int, dict[str, str]]]
    bodies: list[bytes] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        sent = dict(h.lower().split(b": ", 1) for h in request.split(b"\r\n")[1:] if b": " in h)
        self.bodies.append(await reader.readexactly(int(sent.get(b"content-length", b"0"))))
        status, headers = self.answers.pop(0)
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        answer = f"HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n{extra}\r\n"
        writer.write(answer.encode())
        await writer.drain()
        writer.close()
        await writer.wait_closed()


@contextlib.asynccontextmanager
async def scripted_server(answers: list[tuple[int, dict[str, str]]]) -> AsyncIterator[ScriptedServer]:
    script = ScriptedServer(list(answers))
    server = await asyncio.start_server(script._handle, "127.0.0.1", 0)
    script.port = server.sockets[0].getsockname()[1]
    async with server:
        yield script


def in_seconds(s: float) -> str:
    return email.utils.formatdate(time.time() + s, usegmt=True)


def test_retry_after_in_seconds_or_as_a_date_is_handed_to_the_caller_and_the_batch_is_kept():
    async def body() -> None:
        answers = [(503, {"Retry-After": "7"}), (429, {"Retry-After": in_seconds(120)}), (204, {})]
        async with scripted_server(answers) as server, InfluxV1Writer(server.url, "db") as w:
            with pytest.raises(WriteError) as first:
                await w.write(lines(3))
            assert first.value.retry_after_s == 7.0
            with pytest.raises(WriteError) as second:
                await w.write(lines(3))
            assert second.value.retry_after_s is not None and 100 < second.value.retry_after_s <= 120
            assert await w.write(lines(3)) == []
            assert server.bodies == [lines(3)] * 3

    asyncio.run(body())
