"""The serial device section of the gateway file: validated once, errors say what to fix."""

from __future__ import annotations

import msgspec
import pytest

from edge_agent.sources.serial import SerialNodeSource
from edge_agent.sources.serial_config import SerialDeviceConfig

GOOD = {"type": "serial", "name": "s01", "port": "/dev/serial/by-id/usb-tonle-S01", "machine": "S01"}


def test_a_minimal_section_decodes_with_safe_defaults() -> None:
    cfg = msgspec.convert(GOOD, SerialDeviceConfig)
    assert (cfg.baudrate, cfg.allowed_commands, cfg.machine_type) == (115200, (), "lockstitch")
    source = SerialNodeSource(cfg)
    assert source.machines == [("S01", "lockstitch")]
    assert source.limits["S01"].allowed == frozenset()  # nothing moves the machine unless listed
    assert msgspec.json.decode(msgspec.json.encode(cfg), type=SerialDeviceConfig) == cfg


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"baud": 9600}, "unknown field `baud`"),
        ({"reconnect_min_s": 5.0, "reconnect_max_s": 1.0}, "make reconnect_min_s <= reconnect_max_s"),
        ({"allowed_commands": ["set_speed", "reboot"]}, "'allowed_commands' names unknown actions: reboot"),
        ({"speed_min": 0.9, "speed_max": 0.5}, r"'speed_min' \(0.9\) is above speed_max \(0.5\); swap them"),
        ({"read_timeout_s": 0}, r"Expected `float` >= 0.0|Expected `float` > 0.0"),
        ({"port": ""}, "length >= 1"),
    ],
)
def test_bad_sections_are_refused_with_the_key_and_the_fix(extra: dict, message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert({**GOOD, **extra}, SerialDeviceConfig)
