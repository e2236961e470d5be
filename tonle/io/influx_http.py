"""The HTTP connection to InfluxDB shared by the writer and the InfluxQL reader."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx

__all__ = ["InfluxHTTP"]


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

    def unreachable(self, exc: Exception) -> str:
        return (
            f"cannot reach InfluxDB at {self.url} ({exc.__class__.__name__}); "
            "check that influxd is running and influxdb.url in the config is right"
        )
