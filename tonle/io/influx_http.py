"""The HTTP connection to InfluxDB shared by the writer and the InfluxQL reader.

Build one from the config with `tonle.io.connect` (credentials are taken there, once).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self, TypeVar

import httpx

from tonle.errors import InfluxError
from tonle.messages import N_

__all__ = ["UNREACHABLE", "UNREACHABLE_FIX", "InfluxHTTP"]

UNREACHABLE = N_("cannot reach InfluxDB at {url} ({reason})")
UNREACHABLE_FIX = N_("check that influxd is running and influxdb.url in the config is right")
E = TypeVar("E", bound=InfluxError)


class InfluxHTTP:
    """Owns one httpx client for one database; `async with` closes it."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout_s, auth=auth)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    def unreachable(self, error: type[E], exc: Exception) -> E:
        """The caller's error (read or write) for a server that did not answer at all."""
        return error(UNREACHABLE, fix=UNREACHABLE_FIX, url=self.url, reason=exc.__class__.__name__)
