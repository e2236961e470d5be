"""The systemd unit and the udev rule the technician's guide ships are valid and say what it says.

The unit is checked by systemd's own `systemd-analyze verify` (when this machine has it),
with the agent's path pointed at this test's `tonle`, since /opt/tonle does not exist here;
its keys are checked against what docs/technician.md promises either way. The udev rule is
read by udev itself (`udevadm test` in a private mount namespace, when this test may make
one) and by a parser of udev's rule syntax.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.guides import DOCS, REPO

UNIT = REPO / "deploy" / "systemd" / "tonle-agent.service"
RULES = REPO / "deploy" / "udev" / "99-tonle-serial.rules"
AGENT = "/opt/tonle/bin/tonle"
CONFIG = "/etc/tonle/gateway.toml"


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read_string(UNIT.read_text())
    return unit


def _verify(text: str, folder: Path) -> str:
    """What `systemd-analyze verify` says about a unit (empty: nothing to say)."""
    path = folder / "tonle-agent.service"
    path.write_text(text.replace(AGENT, str(Path(sys.executable).with_name("tonle"))))
    done = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    return (done.stdout + done.stderr).strip() + (
        "" if done.returncode == 0 else f" (exit {done.returncode})"
    )


needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")


@needs_systemd
def test_systemd_accepts_the_unit(tmp_path: Path):
    assert _verify(UNIT.read_text(), tmp_path) == ""


@needs_systemd
def test_systemd_verify_would_catch_a_mistake(tmp_path: Path):
    broken = UNIT.read_text().replace("Restart=on-failure", "Restart=on-failur\nRestartEvery=5")
    said = _verify(broken, tmp_path)
    assert "on-failur" in said and "RestartEvery" in said


def test_the_unit_runs_the_agent_as_the_guide_says():
    s = _unit()["Service"]
    assert s["ExecStart"] == f"{AGENT} agent --config {CONFIG}"
    assert s["ExecStartPre"] == f"{AGENT} agent check-config {CONFIG}"
    assert (s["User"], s["Group"], s["SupplementaryGroups"]) == ("tonle", "tonle", "dialout")
    assert s["StateDirectory"] == "tonle" and s["WorkingDirectory"] == "/var/lib/tonle"
    assert s["Restart"] == "on-failure" and float(s["RestartSec"]) > 0
    assert "PrivateDevices" not in s, "it would hide the serial ports"
    assert _unit()["Unit"]["StartLimitIntervalSec"] == "0", "a gateway never stops restarting"
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"


def test_the_guide_installs_the_agent_where_the_unit_looks_for_it():
    guide = (DOCS / "technician.md").read_text()
    assert "sudo python3 -m venv /opt/tonle" in guide
    assert "sudo cp gw-l1/* /etc/tonle/" in guide
    assert "--groups dialout tonle" in guide
    assert "/var/lib/tonle/spool/status.json" in guide


def test_a_provisioned_gateway_keeps_its_spool_where_the_unit_lets_it_write(tmp_path: Path):
    tonle = str(Path(sys.executable).with_name("tonle"))
    sec = tmp_path / "security"
    subprocess.run([tonle, "provision", "--dir", sec, "init", "--broker-host", "192.168.10.5"], check=True)
    subprocess.run(
        [tonle, "provision", "--dir", sec, "gateway", "gw-l1", "--site", "phnom-penh", "--area", "sewing",
         "--line", "L1", "--broker-host", "192.168.10.5"],
        check=True, capture_output=True,
    )  # fmt: skip
    folder = sec / "gateways" / "gw-l1"
    assert sorted(p.name for p in folder.iterdir()) == [
        "ca.crt",
        "gateway.crt",
        "gateway.key",
        "gateway.toml",
    ]
    spool = re.search(r'^path = "(.*)"', (folder / "gateway.toml").read_text(), re.M)
    assert spool and Path(spool.group(1)).is_relative_to("/var/lib/" + _unit()["Service"]["StateDirectory"])


# ---------------------------------------------------------------------------------- udev

_MATCH_KEYS = {"ACTION", "KERNEL", "KERNELS", "SUBSYSTEM", "SUBSYSTEMS", "DRIVER", "DRIVERS", "ATTR",
               "ATTRS", "ENV", "TAG", "DEVPATH", "NAME", "SYMLINK", "PROGRAM", "RESULT"}  # fmt: skip
_ASSIGN_KEYS = {"SYMLINK", "GROUP", "MODE", "OWNER", "ENV", "TAG", "NAME", "RUN", "ATTR", "OPTIONS"}
_PAIR = re.compile(r'\s*([A-Z_]+)(?:\{([^}]+)\})?\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(?:,|$)')


def udev_rule_problems(text: str) -> list[str]:
    """Lines that are not `KEY{attr}OP"value"` pairs of udev's keys, with a known operator."""
    problems = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pos, symlinks = 0, 0
        while pos < len(line):
            m = _PAIR.match(line, pos)
            if m is None:
                problems.append(f"line {n}: cannot read {line[pos:]!r}")
                break
            key, _, op, value = m.groups()
            allowed = _MATCH_KEYS if op in ("==", "!=") else _ASSIGN_KEYS
            if key not in allowed:
                problems.append(f"line {n}: {key} cannot be used with {op}")
            symlinks += key == "SYMLINK" and op == "+="
            if key == "MODE" and not re.fullmatch(r"0[0-7]{3}", value):
                problems.append(f"line {n}: MODE {value!r} is not octal")
            pos = m.end()
        if symlinks != 1 and not problems:
            problems.append(f"line {n}: no SYMLINK+= name")
    return problems


def test_the_udev_rule_is_valid_rule_syntax():
    assert udev_rule_problems(RULES.read_text()) == []
    names = re.findall(r'SYMLINK\+="(tonle/[\w-]+)"', RULES.read_text())
    assert "tonle/rs485_floor" in names and len(names) == len(set(names))


def test_the_udev_syntax_check_would_catch_a_mistake():
    good = 'SUBSYSTEM=="tty", ENV{ID_SERIAL_SHORT}=="A1", SYMLINK+="tonle/x", GROUP="dialout", MODE="0660"'
    assert udev_rule_problems(good) == []
    assert udev_rule_problems(good.replace('SYMLINK+="tonle/x"', 'SYMLINK+="tonle/x'))
    assert udev_rule_problems(good.replace("GROUP=", "GRUOP="))
    assert udev_rule_problems(good.replace('MODE="0660"', 'MODE="660"'))


def _udevadm_test(rules: Path) -> str:
    """udev's own reading of `rules` (alone in rules.d), on this machine's first serial port."""
    script = f"mount --bind {rules} /etc/udev/rules.d && udevadm test --action=add /sys/class/tty/ttyS0 2>&1"
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    return done.stdout + done.stderr


def _can_use_udevadm() -> bool:
    if os.geteuid() != 0 or not shutil.which("udevadm") or not shutil.which("unshare"):
        return False
    if not Path("/sys/class/tty/ttyS0").exists():
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_use_udevadm(), reason="needs root, unshare, udevadm and a ttyS0")
def test_udev_reads_the_rule_without_complaint_and_applies_it(tmp_path: Path):
    shutil.copy(RULES, tmp_path / RULES.name)
    said = _udevadm_test(tmp_path)
    assert f"Reading rules file: /etc/udev/rules.d/{RULES.name}" in said
    assert not re.search(rf"{RULES.name}:\d+", said), said  # udev names the file and line of a problem
    # The first rule, matched to this machine's ttyS0 instead of an adapter: udev makes the name.
    first = next(line for line in RULES.read_text().splitlines() if line.startswith("SUBSYSTEM"))
    (tmp_path / RULES.name).write_text(re.sub(r'ENV\{ID_[A-Z_]+\}=="[^"]*", ', "", first) + "\n")
    said = _udevadm_test(tmp_path)
    assert re.search(r"^DEVLINKS=.*/dev/tonle/rs485_floor", said, re.M), said


@pytest.mark.skipif(not _can_use_udevadm(), reason="needs root, unshare, udevadm and a ttyS0")
def test_udev_would_complain_about_a_broken_rule(tmp_path: Path):
    (tmp_path / RULES.name).write_text(RULES.read_text().replace("GROUP=", "GRUOP=", 1))
    assert re.search(rf"{RULES.name}:\d+ Invalid key 'GRUOP'", _udevadm_test(tmp_path))
