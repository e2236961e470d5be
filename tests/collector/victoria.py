"""A private VictoriaMetrics for the v2 writer tests (test-only; Debian's `victoria-metrics`).

VictoriaMetrics serves InfluxDB's `/api/v2/write`, so the v2 writer is tested
against a real server speaking that endpoint, started like the suite's influxd:
its own loopback port and data folder, killed with its process group.
What it does with line protocol (measured on 1.79.5, the Debian package):
- a point becomes one series per field, named `{measurement}_{field}`, with the
  tags as labels; `bucket` and `org` are accepted and ignored;
- timestamps are kept in milliseconds (`-influxTrimTimestamp=1ms`) and values
  as decimals with 12 significant digits;
- a malformed line is logged and skipped: the request still answers 204;
- a point written twice is stored twice, unless `-dedup.minScrapeInterval=1ms`
  keeps one sample per series and millisecond: Tonle's replay-overwrites-itself
  guarantee needs that flag, so `dedup` is on unless a test turns it off;
- `/api/v2/buckets` does not exist (400 "unsupported path");
- `/internal/force_flush` makes what was written readable at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx

from tonle.app.services import START_TIMEOUT_S, ServiceError, free_port

BINARY = "/usr/bin/victoria-metrics"


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str]
    values: list[float]
    timestamps_ms: list[int]


@dataclass
class LocalVictoriaMetrics:
    """One victoria-metrics process; `start()` again after `stop()` reuses port and data."""

    folder: Path
    port: int = 0
    flags: tuple[str, ...] = ()
    username: str = ""
    password: str = ""
    dedup: bool = True
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        if not os.access(BINARY, os.X_OK):
            raise ServiceError("victoria-metrics is not installed: sudo apt-get install victoria-metrics")
        self.port = self.port or free_port()
        auth = [f"-httpAuth.username={self.username}", f"-httpAuth.password={self.password}"]
        args = [
            BINARY,
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.folder / 'data'}",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-memory.allowedBytes=64MB",
            "-loggerLevel=WARN",
            *(auth if self.username else []),
            *(["-dedup.minScrapeInterval=1ms"] if self.dedup else []),
            *self.flags,
        ]
        self.folder.mkdir(parents=True, exist_ok=True)
        log = self.folder / "victoria-metrics.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"victoria-metrics exited with {self.proc.returncode}; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.05)
        raise ServiceError(f"victoria-metrics on port {self.port} did not answer /health; see {log}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def _client(self) -> httpx.AsyncClient:
        auth = httpx.BasicAuth(self.username, self.password) if self.username else None
        return httpx.AsyncClient(base_url=self.url, auth=auth, timeout=10.0)

    async def export(self, match: str) -> list[Series]:
        """Every series matching the selector, after making fresh writes readable."""
        async with self._client() as http:
            (await http.get("/internal/force_flush")).raise_for_status()
            r = await http.post("/api/v1/export", data={"match[]": match})
            r.raise_for_status()
        out = []
        for row in r.text.splitlines():
            s = json.loads(row)
            labels = dict(s["metric"])
            name = labels.pop("__name__")
            out.append(Series(name, labels, s["values"], s["timestamps"]))
        return sorted(out, key=lambda s: (s.name, sorted(s.labels.items())))

    def skipped_lines(self) -> list[tuple[str, str]]:
        """(line, reason) for each line the server logged as unparsable and skipped.

        Read from the log and not from /metrics: on 1.79 a `vm_log_messages_total`
        series born after the first /metrics scrape is never exported.
        """
        text = (self.folder / "victoria-metrics.log").read_text(errors="replace")
        return re.findall(r'cannot unmarshal InfluxDB line "(.*?)": (.*); skipping it', text)
