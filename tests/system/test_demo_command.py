"""`tonle demo` as a user runs it: a subprocess, its own mosquitto and influxd, a JSON summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TONLE = [sys.executable, "-m", "tonle.app.cli"]


def _children_of(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-o", "pid=,ppid=,comm=", "-e"], capture_output=True, text=True).stdout
    procs = [line.split(None, 2) for line in out.splitlines()]
    tree, found = {str(pid)}, []
    changed = True
    while changed:
        changed = False
        for p, pp, comm in procs:
            if pp in tree and p not in tree:
                tree.add(p)
                found.append(comm)
                changed = True
    return found


def test_the_demo_runs_the_whole_loop_and_loses_nothing(tmp_path: Path):
    r = subprocess.run(
        [*TONLE, "demo", "--duration", "60", "--headless", "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    for key in (
        "samples_published",
        "points_stored",
        "machines",
        "oee",
        "alerts",
        "commands_sent",
        "commands_acked",
        "lost",
    ):
        assert key in summary, key
    assert summary["lost"] == 0
    assert summary["samples_published"] > 500
    assert summary["points_stored"] == summary["samples_published"]
    # 12 sewing stations on serial, the press and the energy meter on Modbus, the cutter on Sparkplug B,
    # the pocket-setter on OPC UA, the steam iron's Shelly plug on plain MQTT
    assert summary["machines"] == 17
    for protocol in ("serial", "modbus_tcp", "modbus_rtu", "sparkplug", "opcua", "mqtt_json"):
        row = summary["protocols"][protocol]  # one machine of each kind, each with data and nothing lost
        assert row["stored"] > 0 and row["lost"] == 0, (protocol, row)
    assert all(0 < v <= 1 for v in summary["oee"].values())
    wearing = summary["wearing_machine"]
    acked = [c for c in summary["commands"] if c["machine"] == wearing and c["status"] == "applied"]
    assert acked, summary
    assert {c["machine"] for c in summary["commands"]} == {wearing}  # healthy machines left alone
    assert summary["dead_letters"] == 0


def test_ctrl_c_stops_the_demo_and_its_broker_and_database(tmp_path: Path):
    proc = subprocess.Popen(
        [*TONLE, "demo", "--duration", "600", "--headless", "--run-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kids = _children_of(proc.pid)
        if "mosquitto" in kids and "influxd" in kids:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        proc.communicate()
        pytest.fail("the demo did not start mosquitto and influxd")
    # The user presses Ctrl-C.
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "shut down" in err
    assert _children_of(proc.pid) == []
    confs = [str(p) for p in tmp_path.rglob("*.conf")]
    ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert not [c for c in confs if c in ps], "a daemon of the demo is still running"
