"""Read InfluxDB with InfluxQL over the v1 /query endpoint (1.x, 2.x compat, 3.x, Grafana).

Reads pull aggregates where they can: GROUP BY on the server is an order of
magnitude faster than shipping raw points to Python. Build a client from the config
with `tonle.io.connect.influxql_client`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tonle.errors import InfluxQLError
from tonle.io.influx_http import InfluxHTTP
from tonle.messages import N_

__all__ = ["InfluxQLClient", "InfluxQLError", "Series", "quote_ident", "quote_str"]

ANSWERED = N_("InfluxDB at {url} answered {status} to {query!r}: {reason}")
ANSWERED_FIX = N_(
    "check influxdb.database, and influxdb.username with the password variable named by influxdb.password_env"
)
REJECTED = N_("InfluxDB rejected {query!r}: {reason}")


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.values]


def quote_ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxQLClient(InfluxHTTP):
    """`async with InfluxQLClient(url, db) as q: rows = await q.query("SELECT ...")`."""

    async def execute(self, q: str, *, method: str = "GET") -> list[dict[str, Any]]:
        """Run statements and return the raw `results` list, raising on any statement error."""
        try:
            if method == "POST":
                r = await self._http.post("/query", data={"q": q, "db": self.database})
            else:
                r = await self._http.get("/query", params={"q": q, "db": self.database, "epoch": "ns"})
        except httpx.HTTPError as exc:
            raise self.unreachable(InfluxQLError, exc) from exc
        if r.status_code >= 400:
            raise InfluxQLError(
                ANSWERED,
                fix=ANSWERED_FIX,
                url=self.url,
                status=r.status_code,
                query=q,
                reason=r.text[:300].strip(),
            )
        results: list[dict[str, Any]] = r.json().get("results", [])
        for res in results:
            if "error" in res:
                raise InfluxQLError(
                    REJECTED, url=self.url, status=r.status_code, query=q, reason=res["error"]
                )
        return results

    async def ping(self) -> None:
        """Check the server answers (InfluxDB's /ping); InfluxQLError when it does not."""
        try:
            r = await self._http.get("/ping")
        except httpx.HTTPError as exc:
            raise self.unreachable(InfluxQLError, exc) from exc
        if r.status_code >= 300:
            raise InfluxQLError(
                N_("InfluxDB at {url} answered {status} to /ping"),
                fix=N_("check that influxdb.url points at InfluxDB, not at another server"),
                url=self.url,
                status=r.status_code,
            )

    async def query(self, q: str) -> list[Series]:
        """Run one SELECT/SHOW and return its series (timestamps as ns integers)."""
        out: list[Series] = []
        for res in await self.execute(q):
            for s in res.get("series", []):
                out.append(Series(s.get("name", ""), s.get("tags", {}) or {}, s["columns"], s["values"]))
        return out

    async def create_database(self) -> None:
        await self.execute(f"CREATE DATABASE {quote_ident(self.database)}", method="POST")
