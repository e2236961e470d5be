"""InfluxDB v1 `/write` (InfluxDB 1.x and 3.x) over httpx, gzip optional.

Transient failures (connection refused, 5xx, 429) raise WriteError carrying the
server's Retry-After so the caller backs off; a batch the server calls too
large (413) is split; a batch it rejects as malformed (400) is bisected so the
good points are stored and each bad line is returned with the server's reason.
The splitting lives in `_batch.store_lines`, shared with the v2 writer.
"""

from __future__ import annotations

import gzip

import httpx

from tonle.io.influx_http import InfluxHTTP
from tonle.io.writers._batch import Answer, RejectedLine, WriteError, reason_of, retry_after, store_lines

__all__ = ["InfluxV1Writer", "RejectedLine", "WriteError"]


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
        return await store_lines(self._send, lines, f"InfluxDB at {self.url}")

    async def _send(self, lines: bytes) -> Answer:
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
                f"InfluxDB at {self.url} is overloaded or unavailable "
                f"({r.status_code}: {r.text.strip()[:200]}); the batch is kept and retried",
                retry_after(r.headers.get("Retry-After")),
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
        return Answer(r.status_code, reason_of(r.text))
