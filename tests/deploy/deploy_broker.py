"""The production broker as compose runs it, on a loopback port: the shipped config, a real folder.

`make_security` runs deploy/provision.sh, the script of compose's `provision` service, into a
temporary folder (with the same `tonle provision` commands and flags), and `DeployBroker`
runs deploy/mosquitto/mosquitto.conf as shipped except for what names a port, a container
path, the plugin's path (Debian's, not the image's) or the log: /etc/tonle/security/ becomes
that folder's `broker/` subfolder, exactly what compose mounts there.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tonle.app.broker_security import dynsec_plugin
from tonle.app.cli import main as tonle_main
from tonle.app.services import LocalBroker

__all__ = ["BROKER_HOST", "CONF", "DEPLOY", "DeployBroker", "make_security", "provision", "run_provision_sh"]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CONF = DEPLOY / "mosquitto" / "mosquitto.conf"
PROVISION_SH = DEPLOY / "provision.sh"
CONTAINER_SECURITY = "/etc/tonle/security/"
BROKER_HOST = "tonle-server.test"


def owners() -> dict[str, str]:
    """As root, the script's own defaults (uid 1883 and 10001); otherwise, whoever runs the tests."""
    if os.getuid() == 0:
        return {}
    me = f"{os.getuid()}:{os.getgid()}"
    return {"BROKER_OWNER": me, "SERVICE_OWNER": me}


def run_provision_sh(folder: Path, broker_host: str = BROKER_HOST) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONLE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # this venv's `tonle`
    env |= {"SECURITY_DIR": str(folder), "TONLE_BROKER_HOST": broker_host, **owners()}
    return subprocess.run(["sh", str(PROVISION_SH)], env=env, capture_output=True, text=True, timeout=120)


def provision(folder: Path, *args: str) -> None:
    """`tonle provision --dir folder ARGS`, as a technician types it."""
    assert tonle_main(["provision", "--dir", str(folder), *args]) == 0, args


def make_security(folder: Path) -> Path:
    """The folder compose's first start makes, plus the test's gateways and an operator."""
    result = run_provision_sh(folder)
    assert result.returncode == 0, result.stderr
    where = ("--site", "kandal", "--area", "sewing", "--line", "L3")
    provision(folder, "gateway", "gw-a", *where, "--machines", "OL-01,OL-02")
    provision(folder, "gateway", "gw-b", *where, "--machines", "OL-03")
    provision(folder, "gateway", "gw-gone", *where, "--machines", "OL-04")
    provision(folder, "service", "op-1", "--role", "operator")
    provision(folder, "service", "qc-l3", "--role", "qc", *where)  # a QC tablet of line L3
    return folder


@dataclass
class DeployBroker(LocalBroker):
    """A LocalBroker that runs the shipped production config with the security folder `security`."""

    security: Path = Path()

    def config_text(self) -> str:
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        replace = {
            "listener 8883": f"listener {self.port} 127.0.0.1",
            "plugin": f"plugin {dynsec_plugin()}",
            "persistence_location": f"persistence_location {data}/",
            # mosquitto buffers stdout into a file; a failed start shows the log's last lines.
            "log_dest": f"log_dest file {self.folder / 'mosquitto.log'}",
        }
        out, seen = [], set()
        for line in CONF.read_text().splitlines():
            key = next((k for k in replace if line == k or line.startswith(k + " ")), None)
            if key is not None:
                seen.add(key)
                line = replace[key]
            out.append(line.replace(CONTAINER_SECURITY, f"{self.security / 'broker'}/"))
        missing = set(replace) - seen
        assert not missing, f"{CONF} no longer has the lines {sorted(missing)}; update this test"
        # Started as root, mosquitto would switch to the `mosquitto` user, which cannot enter
        # pytest's private folders; stay the user who runs the tests.
        out.append(f"user {pwd.getpwuid(os.getuid()).pw_name}")
        return "\n".join(out) + "\n"
