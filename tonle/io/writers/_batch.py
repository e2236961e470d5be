"""What every writer shares: its errors, and how a refused batch is taken apart.

InfluxDB 1.x, 2.x, 3.x and VictoriaMetrics differ in transport and auth, but
agree on what a status means for a batch of line protocol: 2xx stored, 413 too
large, 400/422 some line in it cannot be stored. The splitting and bisecting
that follow live here once, so both writers keep exactly the same semantics
and the real-server tests of one cover the algorithm of the other.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

from tonle.errors import WriteError

__all__ = ["Answer", "RejectedLine", "WriteError", "reason_of", "retry_after", "store_lines"]

#: Statuses that blame the lines, not the request: split the batch and try the halves.
SPLIT_STATUSES = frozenset({400, 413, 422})
REASON_CHARS = 300


@dataclass(frozen=True, slots=True)
class RejectedLine:
    """One line the database will never store, with the database's own reason."""

    line: bytes
    reason: str


class Answer(NamedTuple):
    """A server's verdict on one request that was neither transient nor a setup error."""

    status: int
    reason: str = ""


Send = Callable[[bytes], Awaitable[Answer]]


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def reason_of(text: str) -> str:
    """The human part of an error body: InfluxDB 1.x says {"error"}, 2.x/3.x say {"message"}."""
    text = text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:REASON_CHARS]
    if isinstance(body, dict):
        for key in ("error", "message"):
            if isinstance(body.get(key), str):
                return body[key].strip()[:REASON_CHARS]
    return text[:REASON_CHARS]


async def store_lines(send: Send, lines: bytes, url: str, answered: str) -> list[RejectedLine]:
    """Store `lines` through `send`; return the lines the server refuses to store.

    `send` posts one body and raises WriteError for anything the caller should
    retry (unreachable, overloaded, bad credentials, missing database); it
    returns an Answer only for verdicts about the body itself. The happy path
    sends the batch as it is; only a refused batch is split into lines.
    `answered` is the writer's sentence for any other answer ({url}, {status}, {reason}).
    """
    if not lines.strip():
        return []
    answer = await send(lines)
    if answer.status < 300:
        return []
    if answer.status not in SPLIT_STATUSES:
        raise WriteError(answered, url=url, status=answer.status, reason=answer.reason)
    rows = [row for row in lines.split(b"\n") if row.strip()]
    if len(rows) == 1:
        return [RejectedLine(rows[0], answer.reason)]
    return await _bisect(send, rows, url, answered)


async def _bisect(send: Send, rows: list[bytes], url: str, answered: str) -> list[RejectedLine]:
    # Halving isolates k bad lines among n in about 2k*log2(n) requests and
    # shrinks a 413 batch until each part fits. Re-sending lines the server may
    # already have stored (InfluxDB 1.x writes the good part of a 400 batch)
    # is harmless: a point is keyed by series and timestamp, so it overwrites itself.
    mid = len(rows) // 2
    rejected: list[RejectedLine] = []
    for half in (rows[:mid], rows[mid:]):
        rejected += await store_lines(send, b"\n".join(half) + b"\n", url, answered)
    return rejected
