"""Start private mosquitto and influxd instances on free loopback ports.

The demo and the test suite both need a broker and a database that nobody else
is using. Each instance gets its own port(s) and data folder and is stopped
(and its process group killed) on exit, so Ctrl-C never leaves a daemon behind.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tonle.app.broker_security import BrokerSecurity
from tonle.errors import ServiceError
from tonle.messages import N_

__all__ = [
    "LocalBroker",
    "LocalInfluxDB",
    "ServiceError",
    "free_port",
    "local_broker",
    "local_influxdb",
]

START_TIMEOUT_S = 20.0


def free_port() -> int:
    """Ask the kernel for a free loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _find_binary(name: str, package: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServiceError(
        N_("'{service}' is not installed"),
        fix=N_(
            "install it with: sudo apt-get install {package} "
            "(or run 'make demo' / 'make test', which install it for you)"
        ),
        service=name,
        package=package,
    )


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(
                N_("{service} exited with code {code} while starting"),
                fix=N_("see its log {log}, which ends with:\n{tail}"),
                service=what,
                code=proc.returncode,
                log=log,
                tail=_tail(log),
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ServiceError(
        N_("{service} did not open port {port} within {timeout:.0f}s"),
        fix=N_("see its log {log}"),
        service=what,
        port=port,
        timeout=START_TIMEOUT_S,
        log=log,
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@dataclass
class LocalBroker(BrokerSecurity):
    """A mosquitto broker owned by this process: TLS and a certificate per client unless `secure=False`.

    `identity(name, role, ...)` gives a client its `[mqtt]` settings (tonle.app.broker_security).
    """

    folder: Path
    port: int = 0
    secure: bool = True
    max_queued_messages: int = 100_000
    # How often mosquitto writes its store: every `autosave_interval` seconds, or, with
    # `autosave_on_changes`, after that many changes (docs/delivery.md, third-party devices).
    autosave_interval: int = 5
    autosave_on_changes: bool = False
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def config_text(self) -> str:
        # mosquitto's default max_queued_messages (1000) silently drops QoS 1
        # messages for a subscriber that falls behind; the limits are set on
        # purpose here and in deploy/mosquitto.conf. max_inflight_messages 0
        # lets the client's MQTT v5 Receive Maximum decide how many un-acked
        # messages it holds, which is how the collector applies back-pressure.
        persistence = self.folder / "data"
        persistence.mkdir(parents=True, exist_ok=True)
        return "\n".join(
            [
                # Run as whoever started us (as root mosquitto would switch to the
                # 'mosquitto' user and could not write its persistence file).
                f"user {getpass.getuser()}",
                *self.listener_lines(),
                "persistence true",
                f"persistence_location {persistence}/",
                f"autosave_interval {self.autosave_interval}",
                "autosave_on_changes true" if self.autosave_on_changes else "",
                f"max_queued_messages {self.max_queued_messages}",
                "max_queued_bytes 0",
                "max_inflight_messages 0",
                "max_packet_size 16777216",
                # Small packets at once: without it a TLS CONNACK waits ~40 ms for a delayed ACK
                # (bench/mqtt_connect.py).
                "set_tcp_nodelay true",
                f"log_dest file {self.folder / 'mosquitto.log'}",  # flushed per line (stdout is buffered)
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                "log_type all" if os.environ.get("TONLE_BROKER_DEBUG") else "",
                "",
            ]
        )

    def start(self) -> LocalBroker:
        """Start mosquitto; after `stop()` it comes back on the same port with its persisted sessions."""
        if self.running:
            return self
        binary = _find_binary("mosquitto", "mosquitto")
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        conf = self.folder / "mosquitto.conf"
        conf.write_text(self.config_text())
        log = self.folder / "mosquitto.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [binary, "-c", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _wait_for_port(self.port, self.proc, log, "mosquitto")
        return self

    def stop(self) -> None:
        _stop(self.proc)

    def kill(self) -> None:
        """Kill without a clean shutdown, as a power cut would (used by fault drills)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class LocalInfluxDB:
    """An influxd 1.x owned by this process: own HTTP and RPC ports, own folders."""

    folder: Path
    port: int = 0
    rpc_port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # Extra [http] keys from `influxd config` (e.g. {"max-body-size": 4096}), so tests
    # can provoke the server's real 413 and 503 answers; keys set below must not repeat.
    http_settings: dict[str, bool | int | str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config_text(self) -> str:
        # Only the keys that must differ from `influxd config` defaults: every
        # instance gets its own ports and folders, nothing phones home, and the
        # _internal monitor store is off to save CPU on a 2-core gateway.
        f = self.folder
        return f"""reporting-enabled = false
bind-address = "127.0.0.1:{self.rpc_port}"

[meta]
  dir = "{f / "meta"}"

[data]
  dir = "{f / "data"}"
  wal-dir = "{f / "wal"}"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "10s"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  suppress-write-log = true
  pprof-enabled = false
{self._http_settings_text()}
[logging]
  level = "warn"
  suppress-logo = true

[continuous_queries]
  log-enabled = false
"""

    def _http_settings_text(self) -> str:
        return "".join(
            f"  {key} = {json.dumps(value)}\n"  # a JSON int, bool or string is also valid TOML
            for key, value in self.http_settings.items()
        )

    def start(self) -> LocalInfluxDB:
        """Start influxd; after `stop()` it comes back on the same ports with the same data.

        A fault drill stops the database mid-run and starts it again: clients
        keep their URL, and everything stored before the outage is still there.
        """
        if self.running:
            return self
        binary = _find_binary("influxd", "influxdb")
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        if not self.rpc_port:
            self.rpc_port = free_port()
        conf = self.folder / "influxdb.conf"
        conf.write_text(self.config_text())
        log = self.folder / "influxd.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [binary, "-config", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        _wait_for_port(self.port, self.proc, log, "influxd")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 204:
                    return self
            time.sleep(0.05)
        raise ServiceError(
            N_("influxd on port {port} did not answer /ping"),
            fix=N_("see its log {log}"),
            port=self.port,
            log=log,
        )

    def stop(self) -> None:
        _stop(self.proc)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@contextlib.contextmanager
def local_broker(folder: Path, port: int = 0, secure: bool = True) -> Iterator[LocalBroker]:
    broker = LocalBroker(folder=folder, port=port, secure=secure).start()
    try:
        yield broker
    finally:
        broker.stop()


@contextlib.contextmanager
def local_influxdb(folder: Path, port: int = 0) -> Iterator[LocalInfluxDB]:
    db = LocalInfluxDB(folder=folder, port=port).start()
    try:
        yield db
    finally:
        db.stop()


def kill_at_once(procs: list[subprocess.Popen[bytes] | None]) -> None:
    """SIGKILL every process group first, then reap them: one power cut, not one after the other."""
    live = [p for p in procs if p is not None and p.poll() is None]
    for p in live:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
    for p in live:
        p.wait(10)
