"""The lab switch documented in deploy/mosquitto/mosquitto.conf: off as shipped, working as written.

The steps in the file's comment are applied to its text here (comment out the secure block,
uncomment the two lab lines) and the result runs on a real mosquitto, so the comment cannot
drift from what works.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.deploy.deploy_broker import CONF
from tests.deploy.tls_client import Client
from tonle.app.services import LocalBroker

pytestmark = pytest.mark.services

LAB_LINES = ("# listener 1883", "# allow_anonymous true")


def lab_config(text: str, port: int, data: str, log: str) -> str:
    """The shipped config with the lab switch turned on, exactly as its comment says."""
    lines = text.splitlines()
    start = lines.index("per_listener_settings false")
    end = next(i for i, line in enumerate(lines) if line.startswith("crlfile "))
    out = []
    for i, line in enumerate(lines):
        if start <= i <= end and line and not line.startswith("#"):
            line = "# " + line
        elif line in LAB_LINES:
            line = line[2:]
        if line == "listener 1883":
            line = f"listener {port} 127.0.0.1"
        elif line.startswith("persistence_location"):
            line = f"persistence_location {data}/"
        elif line.startswith("log_dest"):
            line = f"log_dest file {log}"
        out.append(line)
    out.append(f"user {pwd.getpwuid(os.getuid()).pw_name}")
    return "\n".join(out) + "\n"


@dataclass
class LabBroker(LocalBroker):
    def config_text(self) -> str:
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        return lab_config(CONF.read_text(), self.port, str(data), str(self.folder / "mosquitto.log"))


@pytest.fixture(scope="module")
def lab_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabBroker]:
    b = LabBroker(folder=tmp_path_factory.mktemp("mosquitto-lab"), secure=False)
    b.start()
    yield b
    b.stop()


def test_the_lab_switch_is_off_as_shipped() -> None:
    lines = CONF.read_text().splitlines()
    for line in LAB_LINES:
        assert line in lines, f"the documented lab line {line!r} is gone"
        assert line[2:] not in lines, f"{line[2:]!r} is on"


def test_the_lab_switch_as_documented_gives_a_plain_text_broker(lab_broker: LabBroker) -> None:
    text = (lab_broker.folder / "mosquitto.conf").read_text()
    assert "\nplugin" not in text and "\nrequire_certificate" not in text
    sub, pub = Client(lab_broker.port, None, "lab-sub"), Client(lab_broker.port, None, "lab-pub")
    try:
        assert sub.connect() == 0 and pub.connect() == 0
        assert sub.subscribe("tonle/#") < 0x80
        assert pub.publish("tonle/lab/sewing/L1/S01/cmd", b"anyone") < 0x80
        assert sub.next_message() == ("tonle/lab/sewing/L1/S01/cmd", b"anyone")
    finally:
        sub.close()
        pub.close()
