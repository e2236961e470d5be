"""`tonle --lang km` speaks Khmer where a technician reads it: the help, and check-config's problems.

Run as a person runs them (a subprocess, no locale in the environment), so the language
comes from `--lang` alone. Keys, file names and command names stay as they are written.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tonle.messages import _, set_language

LOCALE_VARS = ("TONLE_LANGUAGE", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "TONLE_PLANT_LANGUAGE")
KHMER = re.compile("[\u1780-\u17ff]")
BAD_GATEWAY = """\
[mqtt]
hots = "localhost"

[[devices]]
type = "sim"
name = "s1"
"""
SUBCOMMAND_HELP = {
    "demo": "run a simulated sewing line through the whole loop",
    "agent": "run the edge agent for the devices in a gateway config file",
    "collector": "store MQTT machine data in InfluxDB",
    "report": "write a one-page shift report (HTML or PDF) of a line for a supervisor",
    "check-config": "check a config file and print every problem with its fix",
}


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    yield
    set_language("en")


def tonle(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in LOCALE_VARS} | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "tonle.app.cli", *args], capture_output=True, text=True, env=env, cwd=cwd
    )


def words(text: str) -> str:
    """Text with its line wrapping undone (argparse wraps help at spaces)."""
    return " ".join(text.split())


def khmer_of(english: str) -> str:
    set_language("km")
    try:
        return _(english)
    finally:
        set_language("en")


def test_help_in_khmer_describes_tonle_and_every_sub_command(tmp_path: Path) -> None:
    r = tonle("--lang", "km", "--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = words(r.stdout)
    assert words(khmer_of("show debug messages")) in out
    for command, english in SUBCOMMAND_HELP.items():
        translated = khmer_of(english)
        assert KHMER.search(translated), f"{english!r} has no Khmer in the catalogue"
        assert f"{command} {words(translated)}" in out, command
        assert english not in out
    assert "--lang {en,km}" in out and "--debug" in out  # option names as written


def test_help_without_lang_stays_english(tmp_path: Path) -> None:
    r = tonle("--help", cwd=tmp_path)
    assert r.returncode == 0 and not KHMER.search(r.stdout)
    assert SUBCOMMAND_HELP["demo"] in words(r.stdout)


@pytest.mark.parametrize(
    "args",
    [("--lang", "km", "agent", "check-config"), ("agent", "check-config", "--lang", "km")],
    ids=["lang-before", "lang-after"],
)
def test_check_config_names_a_misspelt_key_as_written_in_khmer(tmp_path: Path, args: tuple[str, ...]) -> None:
    bad = tmp_path / "BAD.toml"
    bad.write_text(BAD_GATEWAY)
    r = tonle(*args, str(bad), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    problem, summary = r.stdout.strip().splitlines()
    assert problem.startswith(f"{bad}: 'mqtt.hots' ")  # the key exactly as it is in the file
    assert "'host'" in problem and "client_id, host, key_file" in problem  # the fix names real keys
    assert khmer_of("is not a known key") in problem and KHMER.search(summary)
    assert "known key" not in problem and "problem" not in summary


def test_check_config_without_lang_stays_english(tmp_path: Path) -> None:
    bad = tmp_path / "BAD.toml"
    bad.write_text(BAD_GATEWAY)
    r = tonle("agent", "check-config", str(bad), cwd=tmp_path)
    assert r.returncode == 2 and not KHMER.search(r.stdout)
    assert f"{bad}: 'mqtt.hots' is not a known key; did you mean 'host'?" in r.stdout
    assert r.stdout.strip().endswith("1 problem; fix it and check again")


def test_plant_check_config_words_type_and_range_problems_in_khmer(tmp_path: Path) -> None:
    bad = tmp_path / "tonle.toml"
    bad.write_text('[mqtt]\nport = 0\nhost = 5\n\n[influxdb]\nurll = "http://db:8086"\n')
    r = tonle("--lang", "km", "check-config", str(bad), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 4, r.stdout
    for key in ("'mqtt.port'", "'mqtt.host'", "'influxdb.urll'"):
        line = next(x for x in lines if key in x)
        assert KHMER.search(line.split(key, 1)[1]), line
    assert "65535" in r.stdout and "'url'" in r.stdout  # figures and key names kept
