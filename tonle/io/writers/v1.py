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
from tonle.messages import N_

__all__ = ["InfluxV1Writer", "RejectedLine", "WriteError"]

ANSWERED = N_("InfluxDB at {url} answered {status}: {reason}")
OVERLOADED = N_("InfluxDB at {url} is overloaded or unavailable ({status}: {reason})")
OVERLOADED_FIX = N_("the batch is kept and retried")
NO_DATABASE = N_("InfluxDB at {url} has no database {database!r}")
NO_DATABASE_FIX = N_("the collector creates it at start when allowed, otherwise create it by hand")
CREDENTIALS = N_("InfluxDB at {url} refused our credentials ({status})")
CREDENTIALS_FIX = N_("check influxdb.username and the password variable named by influxdb.password_env")


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
            raise self.unreachable(WriteError, exc) from exc
        if r.status_code >= 400:
            raise WriteError(
                N_("InfluxDB at {url} refused to create database {database!r} ({status}: {reason})"),
                fix=N_("create it by hand or give the user admin rights"),
                url=self.url,
                status=r.status_code,
                database=self.database,
                reason=r.text[:200],
            )

    async def write(self, lines: bytes) -> list[RejectedLine]:
        return await store_lines(self._send, lines, self.url, ANSWERED)

    async def _send(self, lines: bytes) -> Answer:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        body = lines
        if self.use_gzip:
            body = gzip.compress(lines, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        try:
            r = await self._http.post("/write", params=self._params, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise self.unreachable(WriteError, exc) from exc
        status = r.status_code
        if status in (429, 503) or status >= 500:
            raise WriteError(
                OVERLOADED,
                fix=OVERLOADED_FIX,
                url=self.url,
                status=status,
                reason=r.text.strip()[:200],
                retry_after_s=retry_after(r.headers.get("Retry-After")),
            )
        if status == 404:
            raise WriteError(
                NO_DATABASE, fix=NO_DATABASE_FIX, url=self.url, status=status, database=self.database
            )
        if status in (401, 403):
            raise WriteError(CREDENTIALS, fix=CREDENTIALS_FIX, url=self.url, status=status)
        return Answer(r.status_code, reason_of(r.text))
