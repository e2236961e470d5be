"""Every expected failure, as a technician meets it: `tonle ...` run as a process.

A one-shot command (report, demo, a bad config) exits 2 with one plain sentence
and the fix on stderr, never a traceback; `--debug` adds the traceback. A
long-running service (agent, collector, analytics) does not die when the broker
or the database is not there at start: it warns, naming the address and the fix,
keeps trying, and stops cleanly when told to.

Two failures cannot be staged honestly by a root test process with chmod or a
small disk alone, so each runs the command in a real condition:
- permission denied: root ignores file modes (CAP_DAC_OVERRIDE), so the command
  runs as root *without* that capability (`setpriv --bounding-set`), and the kernel
  refuses it a folder of mode 0500 as it would refuse any user;
- disk full: the spool is on a real tmpfs, filled to the last byte, mounted in a
  private mount namespace (`unshare --mount`) that disappears with the command.
Each is skipped, saying why, where the machine does not allow it.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tonle.app.services import LocalBroker, LocalInfluxDB, free_port

TONLE = [sys.executable, "-m", "tonle.app.cli"]
WAIT_S = 60.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONLE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def one_shot(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *TONLE, *args], env=_env(), capture_output=True, text=True, timeout=180, check=False
    )


def assert_plain_failure(r: subprocess.CompletedProcess[str], command: str, *phrases: str) -> None:
    """Exit 2, one `tonle COMMAND: ...` sentence holding every phrase, and no traceback."""
    print(r.stderr)  # shown by pytest -rP: what the technician reads
    assert r.returncode == 2, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    sentences = [line for line in r.stderr.splitlines() if line.startswith(f"tonle {command}: ")]
    assert len(sentences) == 1, r.stderr[-3000:]
    for phrase in phrases:
        assert phrase in sentences[0], sentences[0]


class Service:
    """A long-running `tonle` command whose log lines are read as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*TONLE, *args],
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="service-log", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)

    def wait_for(self, *phrases: str) -> str:
        """The first log line holding every phrase; fails if the process ends or WAIT_S passes first."""
        deadline = time.monotonic() + WAIT_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._new.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                code, log = self.stop()
                pytest.fail(f"the service ended (code {code}):\n{log[-3000:]}")
            self.lines.append(line)
            if all(p in line for p in phrases):
                return line
        _, log = self.stop()
        pytest.fail(f"no log line with {phrases} within {WAIT_S:.0f}s:\n{log[-3000:]}")

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as systemd or docker stop it: its exit code and its whole log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        self._reader.join(timeout=WAIT_S)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        while (line := self._new.get_nowait() if not self._new.empty() else None) is not None:
            self.lines.append(line)
        return code, "\n".join(self.lines)


def _gateway(tmp_path: Path, mqtt_port: int, spool: Path, devices: str = "") -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\ntls = false\n\n'
        f'[agent]\nid = "gw-test"\nsite = "{tmp_path.name}"\n\n'
        f'[spool]\npath = "{spool}"\nmax_mb = 8.0\n\n'
        + (devices or '[[devices]]\ntype = "sim"\nstations = 2\nwearing_station = -1\n')
    )
    return path


def _server(tmp_path: Path, mqtt_port: int, influx_url: str, database: str = "tonle") -> Path:
    path = tmp_path / "tonle.toml"
    path.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\ntls = false\n\n'
        f'[influxdb]\nurl = "{influx_url}"\ndatabase = "{database}"\n\n'
        f'[collector]\nshare_group = ""\ninstance = "{database}"\n'
        f'spool_path = "{tmp_path / "collector-spool.sqlite"}"\n\n'
        f'[analytics]\nsite = "{database}"\n'
    )
    return path


def _keeps_running(service: Service, *phrases: str) -> str:
    """The service warned with every phrase, without a traceback, and stopped cleanly when told to."""
    if phrases:
        service.wait_for(*phrases)
    code, log = service.stop()
    assert code == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    return log


# -- the broker is not there ------------------------------------------------------------


def test_an_agent_whose_broker_is_not_there_warns_once_and_keeps_its_data(tmp_path: Path) -> None:
    port = free_port()
    gateway = _gateway(tmp_path, port, tmp_path / "spool")
    log = _keeps_running(
        Service("sim", "--config", str(gateway)),
        f"cannot reach the MQTT broker at 127.0.0.1:{port}",
        "check that the broker (mosquitto) is running",
    )
    assert log.count("cannot reach the MQTT broker") == 1
    assert (tmp_path / "spool" / "spool.sqlite").exists()


@pytest.mark.parametrize("command", ["collector", "analytics"])
def test_a_server_service_whose_broker_is_not_there_keeps_trying(
    command: str, influxdb: LocalInfluxDB, unique_name: str, tmp_path: Path
) -> None:
    port = free_port()
    service = Service(command, "--config", str(_server(tmp_path, port, influxdb.url, unique_name)))
    service.wait_for(f"cannot reach the MQTT broker at 127.0.0.1:{port}", "mqtt.host and mqtt.port")
    if command == "collector":  # it gives up on its first session after a timeout and is started again
        service.wait_for("the collector cannot start yet", f"127.0.0.1:{port}")
    _keeps_running(service)


def test_the_demo_with_a_configured_broker_that_is_not_there_exits_with_the_sentence(
    influxdb: LocalInfluxDB, tmp_path: Path
) -> None:
    port = free_port()
    config = _server(tmp_path, port, influxdb.url)
    r = one_shot("demo", "--config", str(config), "--headless", "--run-dir", str(tmp_path / "run"))
    assert_plain_failure(r, "demo", f"cannot reach the MQTT broker at 127.0.0.1:{port}", "mosquitto")


# -- the database is not there ----------------------------------------------------------


@pytest.mark.parametrize("command", ["collector", "analytics"])
def test_a_server_service_whose_database_is_not_there_keeps_trying(
    command: str, broker: LocalBroker, unique_name: str, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    config = _server(tmp_path, broker.port, url, unique_name)
    _keeps_running(
        Service(command, "--config", str(config)),
        f"cannot reach InfluxDB at {url}",
        "check that influxd is running and influxdb.url",
    )


def test_a_report_from_a_database_that_is_not_there_exits_with_the_sentence(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    config = _server(tmp_path, free_port(), url)
    when = ("--from", "2026-11-23", "--to", "2026-11-23")
    r = one_shot("report", "--config", str(config), "--line", "L1", *when)
    assert_plain_failure(
        r, "report", "cannot read the database", f"cannot reach InfluxDB at {url}", "influxd is running"
    )


def test_the_demo_with_a_configured_database_that_is_not_there_exits_with_the_sentence(
    broker: LocalBroker, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    config = _server(tmp_path, broker.port, url)
    r = one_shot("demo", "--config", str(config), "--headless", "--run-dir", str(tmp_path / "run"))
    assert_plain_failure(r, "demo", f"cannot reach InfluxDB at {url}", "influxdb.url")


# -- the config is wrong; --debug -------------------------------------------------------


def test_a_bad_config_exits_with_the_key_and_no_traceback(tmp_path: Path) -> None:
    config = tmp_path / "tonle.toml"
    config.write_text("[mqtt]\nhots = 'x'\n")
    r = one_shot("collector", "--config", str(config))
    assert_plain_failure(r, "collector", "'mqtt.hots' is not a known key")
    missing = tmp_path / "nowhere.toml"
    assert_plain_failure(one_shot("analytics", "--config", str(missing)), "analytics", str(missing))


def test_debug_shows_the_traceback_and_still_the_sentence(tmp_path: Path) -> None:
    config = tmp_path / "tonle.toml"
    config.write_text("[mqtt]\nhots = 'x'\n")
    r = one_shot("--debug", "collector", "--config", str(config))
    assert r.returncode == 2
    assert "Traceback (most recent call last)" in r.stderr and "ConfigError" in r.stderr
    last = r.stderr.splitlines()[-1]
    assert last.startswith("tonle collector: ") and "mqtt.hots" in last


# -- devices and files ------------------------------------------------------------------


def test_a_missing_serial_port_is_a_warning_naming_it_and_the_agent_keeps_running(
    broker: LocalBroker, tmp_path: Path
) -> None:
    device = (
        '[[devices]]\ntype = "serial"\nname = "node-S01"\nport = "/dev/ttyNOPE"\n'
        'machine = "S01"\nmachine_type = "lockstitch"\n'
    )
    gateway = _gateway(tmp_path, broker.port, tmp_path / "spool", device)
    _keeps_running(Service("agent", "--config", str(gateway)), "node-S01", "/dev/ttyNOPE")


def test_a_path_through_a_file_exits_with_the_sentence(tmp_path: Path) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("not a folder")
    r = one_shot("demo", "--headless", "--run-dir", str(afile / "run"))
    assert_plain_failure(r, "demo", str(afile), "part of the path is a file, not a folder", "check the path")


def _without_root_override() -> tuple[str, ...]:
    """A command prefix under which file modes bind: nothing for a user, setpriv for root."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is not installed: chmod cannot stop root")
    prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search", "--")
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"this machine does not let root drop capabilities: {probe.stderr.decode()[:200]}")
    return prefix


def test_a_spool_folder_the_agent_may_not_write_exits_with_the_sentence(tmp_path: Path) -> None:
    prefix = _without_root_override()
    spool = tmp_path / "spool"
    spool.mkdir()
    spool.chmod(0o500)  # read and enter, not write: the spool file cannot be created
    try:
        r = one_shot("sim", "--config", str(_gateway(tmp_path, free_port(), spool)), prefix=prefix)
    finally:
        spool.chmod(0o700)
    assert_plain_failure(r, "sim", str(spool / "spool.sqlite"), "Permission denied", "may write in it")


def test_a_full_disk_under_the_spool_exits_with_the_sentence(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("a real full disk needs root and unshare (util-linux) to mount a private tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    gateway = _gateway(tmp_path, free_port(), disk / "spool")
    script = (
        'mount -t tmpfs -o size=256k tonle-full "$1" || exit 97; '
        'dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null; shift; exec "$@"'
    )
    prefix = (unshare, "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(disk))
    r = one_shot("sim", "--config", str(gateway), prefix=prefix)
    if r.returncode == 97:
        pytest.skip(f"this machine does not allow a tmpfs mount: {r.stderr[:200]}")
    assert_plain_failure(r, "sim", str(disk / "spool"), "the disk is full", "free space on")
