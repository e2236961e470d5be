"""`tonle demo --report FILE.pdf`: the shift report of the demo's own data, read back with pdftotext.

The demo runs as a user runs it (a subprocess with its own mosquitto and influxd); the
report is made at its end, before its database stops. Every alert the analytics raised
(its log lines on stderr, the same words it stored) must be in the PDF whole: the
"What to do" column wraps and is never cut. The same run is piped (not a terminal), so
it also shows what a piped demo prints: no table, status lines on stderr, the JSON last.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tonle.app.demo import WARMUP_S
from tonle.config.shifts import ShiftsConfig

TONLE = [sys.executable, "-m", "tonle.app.cli"]
# An alert as the analytics logs it: "S07: <advice>", or an andon's "S07 has broken down; ...".
ALERT_LOG = re.compile(
    r"WARNING tonle\.analytics: (?:S\d+: (?P<advice>.*)|(?P<andon>S\d+ has broken down; .*))$"
)


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], str]:
    folder = tmp_path_factory.mktemp("demo-report")
    out = folder / "r.pdf"
    t0 = time.time_ns() - WARMUP_S * 1_000_000_000  # the demo's line starts this far back
    r = subprocess.run(
        [
            *TONLE,
            "demo",
            "--headless",
            "--duration",
            "90",
            "--report",
            str(out),
            "--run-dir",
            str(folder / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    r.window_ns = (t0, time.time_ns())  # type: ignore[attr-defined]
    assert out.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    return r, _words(text)


def test_the_demo_report_has_every_alert_in_full(demo):
    r, text = demo
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["report"].endswith("r.pdf") and summary["lost"] == 0
    alerts = [m for line in r.stderr.splitlines() if (m := ALERT_LOG.search(line))]
    assert alerts, r.stderr[-3000:]  # the demo's wearing bearing always raises some
    assert "Maintenance alerts" in text and "…" not in text
    advice = [_words(m["advice"] or m["andon"]) for m in alerts]
    assert advice[-1] in text, (advice[-1], text)  # the latest alert, whole
    whole = {a for a in advice if a in text}
    for a in advice:  # an advice the table begins to show, it shows whole (one like it, at least)
        if a[:40] in text:
            assert any(w.startswith(a[:40]) for w in whole), (a, text)


def test_the_demo_report_says_how_long_is_left_as_a_person_reads_it(demo):
    _r, text = demo
    text = text.partition("Maintenance alerts")[2].partition("Machines reported")[0]  # the alerts' part
    assert "What to do" in text
    assert re.search(r"(?<![\d.])0\.0 (h|min)", text) is None and "0.0 to 0.0" not in text
    assert "before the early end" not in text and "no end of life in sight" not in text


def test_the_demo_report_has_a_filled_hourly_board_and_names_off_shift_time(demo):
    """The board has the run's hours (the last one marked partial: a run is shorter than an hour),
    and time outside the plant's shifts is named as such, never counted as planned time.

    Whether the run fell outside shift time depends on the clock when the suite runs, so the
    test asks the plant's own calendar (the demo's default shifts) which case it is in.
    """
    r, text = demo
    assert "Target met in 0 of 0 hours" not in text
    assert "Hour by hour" in text
    # The board's last hour is not over: its row says "HH:00" with "partial" under it. pdftotext's
    # reading order of the two-column page moves the board's heading about (a run that crosses an
    # hour put it after the rows once), so the rows are found by their own words, not by position.
    assert re.findall(r"\b\d{2}:00 partial\b", text), text  # at least one hour row, the last partial
    start_ns, end_ns = r.window_ns  # type: ignore[attr-defined]
    periods = ShiftsConfig().calendar().periods(start_ns, end_ns)
    off_shift = bool((periods.shift < 0).any())
    assert ("Outside shift time" in text) == off_shift, (off_shift, text)


def test_a_piped_demo_says_there_is_no_table_and_prints_status_lines_then_the_json(tmp_path: Path):
    r = subprocess.run(
        [*TONLE, "demo", "--duration", "20", "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "not a terminal: no live table" in r.stderr
    assert "gateway: " in r.stderr and "collector: " in r.stderr  # the status lines
    assert "┃" not in r.stderr + r.stdout  # and no table
    assert json.loads(r.stdout.strip().splitlines()[-1])["lost"] == 0  # stdout: the JSON summary last


def test_a_kept_demo_database_makes_the_report_with_the_printed_command(tmp_path: Path):
    demo = subprocess.Popen(
        [*TONLE, "demo", "--headless", "--duration", "20", "--keep", "--run-dir", str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stderr is not None
        seen = []
        for line in demo.stderr:  # blocks until the demo prints the command (or ends)
            seen.append(line)
            if line.startswith("  ") and " tonle report " in line:
                break
        else:
            raise AssertionError("".join(seen[-40:]))
        env_word, _tonle, *args = shlex.split(line)
        name, _eq, value = env_word.partition("=")
        out = tmp_path / "later.pdf"
        args[args.index("--out") + 1] = str(out)
        r = subprocess.run(
            [*TONLE, *args], capture_output=True, text=True, timeout=300, env={**os.environ, name: value}
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"wrote {out} (line L1: OEE ")
        assert out.read_bytes().startswith(b"%PDF")
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=120)
        stdout, _rest = demo.communicate()  # and the pipes are closed
    assert code == 0, "".join(seen[-40:])
    assert json.loads(stdout.strip().splitlines()[-1])["lost"] == 0


def test_a_report_name_the_demo_cannot_write_is_refused_before_the_run(tmp_path: Path):
    r = subprocess.run(
        [*TONLE, "demo", "--report", str(tmp_path / "r.txt"), "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.startswith(f"tonle demo: --report {tmp_path / 'r.txt'} must end in .html or .pdf; change")
    assert not any(tmp_path.iterdir())  # nothing was started
