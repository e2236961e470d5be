"""InfluxDB v1 `/write` (InfluxDB 1.x and 3.x) over httpx, gzip optional.

Transient failures (connection refused, 5xx, 429) raise WriteError carrying the
server's Retry-After so the caller backs off; a batch the server calls too
large (413) is split; a batch it rejects as malformed (400) is bisected so the
good points are stored and each bad line is returned with the server's reason.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import httpx

from tonle.influx_http import InfluxHTTP

__all__ = ["InfluxV1Writer", "RejectedLine", "WriteError"]


class WriteError(RuntimeError):
    """The database did not store the batch; retry after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class RejectedLine:
    line: bytes
    reason: str


def _retry_after(r: httpx.Response) -> float | None:
    value = r.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class InfluxV1Writer(InfluxHTTP):
    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        use_gzip: bool = False,
        timeout_s: float = 30.0,
    ) -> None:
        super().__init__(url, database, username=username, password=password, timeout_s=timeout_s)
        self.use_gzip = use_gzip
        self._params = {"db": database, "precision": "ns"}

    async def ensure_database(self) -> None:
        try:
            r = await self._http.post("/query", data={"q": f'CREATE DATABASE "{self.database}"'})
        except httpx.HTTPError as exc:
            raise WriteError(self.unreachable(exc)) from exc
        if r.status_code >= 400:
            raise WriteError(
                f"InfluxDB at {self.url} refused to create database {self.database!r} "
                f"({r.status_code}: {r.text[:200]}); create it by hand or give the user admin rights"
            )

    async def write(self, lines: bytes) -> list[RejectedLine]:
        if not lines:
            return []
        status, text, r = await self._post(lines)
        if status == 204:
            return []
        if status == 413 or (status == 400 and lines.count(b"\n") > 1):
            return await self._split(lines, text)
        if status == 400:
            return [RejectedLine(lines.rstrip(b"\n"), text.strip()[:300])]
        raise WriteError(
            f"InfluxDB at {self.url} answered {status}: {text[:200]}",
            _retry_after(r) if r is not None else None,
        )

    async def _split(self, lines: bytes, reason: str) -> list[RejectedLine]:
        rows = lines.splitlines(keepends=True)
        if len(rows) == 1:
            return [RejectedLine(rows[0].rstrip(b"\n"), reason.strip()[:300])]
        mid = len(rows) // 2
        left = await self.write(b"".join(rows[:mid]))
        right = await self.write(b"".join(rows[mid:]))
        return left + right

    async def _post(self, lines: bytes) -> tuple[int, str, httpx.Response | None]:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        body = lines
        if self.use_gzip:
            body = gzip.compress(lines, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        try:
            r = await self._http.post("/write", params=self._params, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise WriteError(self.unreachable(exc), retry_after_s=None) from exc
        if r.status_code in (429, 503) or r.status_code >= 500:
            raise WriteError(
                f"InfluxDB at {self.url} is overloaded or unavailable ({r.status_code}); "
                "the batch is kept and retried",
                _retry_after(r),
            )
        if r.status_code == 404:
            raise WriteError(
                f"InfluxDB at {self.url} has no database {self.database!r}; "
                "the collector creates it at start when allowed, otherwise create it by hand"
            )
        if r.status_code in (401, 403):
            raise WriteError(
                f"InfluxDB at {self.url} refused our credentials ({r.status_code}); "
                "check influxdb.username and the password variable named by influxdb.password_env"
            )
        return r.status_code, r.text, r
