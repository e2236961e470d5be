"""docs/technician.md steps 1 to 3, followed on this machine: wheel, fresh venv, gateway folder, check.

The wheel is made with the guide's own command in a copy of the source folder (pip builds
in the tree it is given), installed with `[edge]` into a new venv the way the guide installs
it into /opt/tonle, and that venv's `tonle` checks a folder from `tonle provision gateway`
with the devices of examples/gateway-small-plant.toml and a trusted command key added.
The gateway install must not bring the server's packages.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.guides import DOCS, REPO, shell_commands

pytestmark = pytest.mark.timeout(600)

SERVER_ONLY = ("scipy", "matplotlib", "influxdb_client", "rich")
_SKIP = shutil.ignore_patterns(
    ".venv", ".git", "run", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)


def _guide_command(containing: str) -> list[str]:
    found = [c.argv for c in shell_commands(DOCS / "technician.md") if containing in c.text]
    assert len(found) == 1, f"technician.md should have one command with {containing!r}"
    return found[0]


def _gateway_env() -> dict[str, str]:
    """This environment without PYTHONPATH: a gateway's Python sees only its own venv."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _run(argv: list[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, env=env)
    assert done.returncode == 0, f"{shlex.join(map(str, argv))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def edge_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the guide's wheel installed with [edge], as /opt/tonle on a gateway."""
    tmp = tmp_path_factory.mktemp("edge")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=_SKIP)
    _run(_guide_command("pip wheel"), cwd=src, env=_gateway_env())
    install = _guide_command("/opt/tonle/bin/pip install")
    wheel = src / "dist" / install[-1].removesuffix("[edge]")
    assert wheel.exists(), f"the guide installs {wheel.name}; the build made {sorted(src.glob('dist/*'))}"
    venv = tmp / "opt-tonle"
    _run([sys.executable, "-m", "venv", venv], env=_gateway_env())
    _run([venv / "bin" / "pip", "install", "-q", f"{wheel}[edge]"], env=_gateway_env())
    return venv


def test_the_installed_agent_answers_help(edge_venv: Path):
    assert "check-config" in _run([edge_venv / "bin" / "tonle", "agent", "--help"], env=_gateway_env())


def test_the_gateway_install_has_none_of_the_servers_packages(edge_venv: Path):
    for module in SERVER_ONLY:
        python = edge_venv / "bin" / "python"
        done = subprocess.run([python, "-c", f"import {module}"], capture_output=True, env=_gateway_env())
        assert done.returncode != 0, f"[edge] installed {module}, which only the server needs"


def test_a_provisioned_folder_with_devices_passes_the_installed_check(edge_venv: Path, tmp_path: Path):
    server = Path(sys.executable).with_name("tonle")
    sec = tmp_path / "security"
    _run([server, "provision", "--dir", sec, "init", "--broker-host", "192.168.10.5"])
    _run([server, "provision", "--dir", sec, "gateway", "gw-l1", "--site", "phnom-penh", "--area", "sewing",
          "--line", "L1", "--broker-host", "192.168.10.5"])  # fmt: skip
    etc = tmp_path / "etc-tonle"  # what `sudo cp gw-l1/* /etc/tonle/` makes
    shutil.copytree(sec / "gateways" / "gw-l1", etc)
    key_line = _run([server, "command", "keygen", "--as", "analytics", "--key", tmp_path / "analytics.key"])
    key = re.search(r'^analytics = ".*"$', key_line, re.M)
    assert key, key_line
    example = (REPO / "examples" / "gateway-small-plant.toml").read_text()
    devices = example[example.index("[machine_types.") :]
    config = etc / "gateway.toml"
    config.write_text(f"{config.read_text()}\n[agent.trusted_keys]\n{key.group(0)}\n\n{devices}")
    agent = edge_venv / "bin" / "tonle"
    assert _run([agent, "agent", "check-config", config], env=_gateway_env()).strip() == f"{config}: OK"
    config.write_text(config.read_text().replace("[spool]", "[spol]"))
    done = subprocess.run(
        [agent, "agent", "check-config", config], capture_output=True, text=True, env=_gateway_env()
    )
    assert done.returncode != 0 and "did you mean 'spool'?" in done.stdout + done.stderr
