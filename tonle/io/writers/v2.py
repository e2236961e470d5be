"""InfluxDB v2 `/api/v2/write` (InfluxDB 2.x, 3.x, Cloud, VictoriaMetrics) through influxdb-client.

Why the synchronous `WriteApi(write_options=SYNCHRONOUS)` run in `asyncio.to_thread`
and not `InfluxDBClientAsync`:
- fewer dependencies: the async client needs aiohttp (`influxdb-client[async]`),
  which nothing else in Tonle uses; the sync client runs on urllib3, which
  influxdb-client requires anyway.
- honest errors: a SYNCHRONOUS write returns or raises for exactly one request.
  An `ApiException` carries the status, the server's message and Retry-After; a
  dead server surfaces as a urllib3 error. The client's default `retries=False`
  means nothing is retried behind our back, so backoff stays in one place (the
  collector, which keeps the batch and its MQTT acks). The batching and
  asynchronous write modes retry internally and report failures through
  callbacks, which would break "acknowledge only after the batch is stored".
- the cost is one thread hop per HTTP request, small next to a 5k-point batch.

Semantics match the v1 writer (both use `_batch.store_lines`): transient
failures raise WriteError with Retry-After, 413 splits the batch, 400/422
bisects it so good points are stored and each bad line is returned with the
server's reason, and 401/403/404 raise WriteError with the fix for a technician.

Authentication: a token is sent as `Authorization: Token ...` (InfluxDB 2.x,
3.x, Cloud); without a token, a username and password go as HTTP Basic auth,
which VictoriaMetrics (`-httpAuth.*`) and InfluxDB 1.8's v2 API accept.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any, Self

import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from tonle.io.writers._batch import Answer, RejectedLine, WriteError, reason_of, retry_after, store_lines
from tonle.messages import N_, _

__all__ = ["InfluxV2Writer"]

log = logging.getLogger("tonle.collector.writers")

NS_PRECISION: Any = WritePrecision.NS  # a str constant where the stubs expect the enum
#: Statuses from the bucket API meaning "this server has no bucket API" (VictoriaMetrics answers 400).
NO_BUCKET_API = frozenset({400, 404, 405, 501})

#: 400 answers that blame the request, not a line: (marker in the server's message, the fix).
REQUEST_ERRORS = (
    ("orgid or org", N_("set influxdb.org to the organization that owns the bucket")),
    ("unsupported path", N_("influxdb.url must be the server's root URL, without a path")),
    ("precision", N_("this is a Tonle bug: it always writes nanosecond timestamps; please report it")),
)

REFUSED = N_("the InfluxDB v2 write API at {url} refused the request ({reason})")
ANSWERED = N_("the InfluxDB v2 write API at {url} answered {status}: {reason}")
UNREACHABLE = N_("cannot reach the InfluxDB v2 write API at {url} ({reason})")
UNREACHABLE_FIX = N_("check that the database is running and influxdb.url in the config is right")
OVERLOADED = N_("the InfluxDB v2 write API at {url} is overloaded or unavailable ({status}: {reason})")
CREDENTIALS = N_("the InfluxDB v2 write API at {url} refused our credentials ({status}: {reason})")
CREDENTIALS_FIX = N_(
    "check the token in the variable named by influxdb.token_env (it needs write access to bucket "
    "{bucket!r}), or influxdb.username and the password variable named by influxdb.password_env"
)
NO_BUCKET = N_("the InfluxDB v2 write API at {url} has no bucket {bucket!r} in org {org!r} ({reason})")
NO_BUCKET_FIX = N_(
    "create it (influx bucket create --name BUCKET --org ORG) or fix influxdb.bucket and influxdb.org"
)


class InfluxV2Writer:
    """One influxdb-client connection writing line protocol to one bucket; `async with` closes it."""

    def __init__(
        self,
        url: str,
        bucket: str,
        *,
        org: str = "",
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        use_gzip: bool = False,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.bucket = bucket
        self.org = org
        basic = not token and bool(username)
        self._client = InfluxDBClient(
            url=self.url,
            token=token or (f"{username}:{password or ''}" if basic else ""),
            auth_basic=basic,
            org=org,
            timeout=int(timeout_s * 1000),
            enable_gzip=use_gzip,
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._write_api.close()
        self._client.close()

    async def write(self, lines: bytes) -> list[RejectedLine]:
        return await store_lines(self._send, lines, self.url, ANSWERED)

    async def ensure_database(self) -> None:
        """Check the server answers and the bucket exists; create it when the token may.

        Never fails for a server that works but cannot show buckets: VictoriaMetrics
        and some proxies have no bucket API (then this is a reachability check), and
        a write-only token may not list or create buckets (then the first write
        tells whether the bucket is there). Raises WriteError only when the server
        is unreachable, overloaded, or refuses the token outright (401).
        """
        try:
            await asyncio.to_thread(self._ensure_bucket)
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(exc) from exc

    def _ensure_bucket(self) -> None:
        buckets = self._client.buckets_api()
        try:
            if buckets.find_bucket_by_name(self.bucket) is not None:
                return
        except ApiException as exc:
            if exc.status in NO_BUCKET_API:
                log.info(
                    _("{url} has no bucket API ({status}); writes go straight to it").format(
                        url=self.url, status=exc.status
                    )
                )
                return
            if exc.status == 403:
                log.warning(
                    _("the token may not list buckets at {url}; the first write will check it").format(
                        url=self.url
                    )
                )
                return
            self._raise_for(exc)
            raise WriteError(
                N_("the InfluxDB v2 write API at {url} answered {status} to a bucket lookup: {reason}"),
                url=self.url,
                status=exc.status,
                reason=_message(exc),
            ) from exc
        if not self.org:
            log.warning(
                _(
                    "bucket {bucket!r} not found at {url} and influxdb.org is empty, so it cannot be "
                    "created; set influxdb.org or create the bucket by hand"
                ).format(bucket=self.bucket, url=self.url)
            )
            return
        try:
            buckets.create_bucket(bucket_name=self.bucket, org=self.org)
            log.info(
                _("created bucket {bucket!r} in org {org!r} at {url}").format(
                    bucket=self.bucket, org=self.org, url=self.url
                )
            )
        except (ApiException, InfluxDBError) as exc:
            # Another collector may have created it first (422), or the token may
            # only write: the first write will say whether the bucket exists.
            log.warning(
                _("could not create bucket {bucket!r} at {url}: {reason}").format(
                    bucket=self.bucket, url=self.url, reason=_message(exc)
                )
            )

    async def _send(self, lines: bytes) -> Answer:
        try:
            await asyncio.to_thread(
                self._write_api.write, self.bucket, self.org, lines, write_precision=NS_PRECISION
            )
        except ApiException as exc:
            self._raise_for(exc)
            return Answer(exc.status, _message(exc))
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(exc) from exc
        return Answer(204)

    def _raise_for(self, exc: ApiException) -> None:
        """Raise WriteError for every answer that is not a verdict on the lines themselves."""
        status, message = exc.status or 0, _message(exc)
        data: dict[str, Any] = {"url": self.url, "status": status, "reason": message}
        if status == 0:
            raise self._unreachable(exc) from exc
        if status in (429, 503) or status >= 500:
            wait = retry_after(getattr(exc, "retry_after", None))
            raise WriteError(
                OVERLOADED, fix=N_("the batch is kept and retried"), retry_after_s=wait, **data
            ) from exc
        if status in (401, 403):
            raise WriteError(CREDENTIALS, fix=CREDENTIALS_FIX, bucket=self.bucket, **data) from exc
        if status == 404:
            raise WriteError(NO_BUCKET, fix=NO_BUCKET_FIX, bucket=self.bucket, org=self.org, **data) from exc
        if status == 400:
            for marker, fix in REQUEST_ERRORS:
                if marker in message.lower():
                    raise WriteError(REFUSED, fix=fix, **data) from exc

    def _unreachable(self, exc: Exception) -> WriteError:
        return WriteError(UNREACHABLE, fix=UNREACHABLE_FIX, url=self.url, reason=exc.__class__.__name__)


def _message(exc: InfluxDBError) -> str:
    """The server's own words: influxdb-client already took {"message"} out of a JSON body."""
    return reason_of(str(exc.message or getattr(exc, "reason", "") or ""))
