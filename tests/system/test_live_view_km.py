"""The demo's live view in Khmer and English, read off a real terminal: tmux runs it, capture-pane reads it.

A terminal places each character by its width as the C library's wcwidth counts it (tmux
does), so the screen is measured that way here, not with len() and not with rich's
cell_len: rich counts Khmer's spacing vowel signs (ា ើ េ ...) as 0 columns where the
terminal gives them 1, which is exactly the misalignment this test is for.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import locale
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tonle.app.demo_view import LEGEND
from tonle.messages import _, render, using_language

SEPARATORS = frozenset("│┃┏┳┓┡╇┩└┴┘")
TITLE = "Tonle demo - line {line} ({n} stations)"


class Terminal:
    """A tmux server of its own (own socket), one 160x50 window running one command."""

    def __init__(self, folder: Path) -> None:
        tmux = shutil.which("tmux")
        assert tmux, "tmux is not installed: `make test` installs it (Makefile APT_PACKAGES)"
        conf = folder / "tmux.conf"
        conf.write_text("set -g remain-on-exit on\nset -g history-limit 5000\n")
        self.base = [tmux, "-L", f"tonle-test-{os.getpid()}-{folder.name}", "-f", str(conf)]
        # COLUMNS/LINES would override the window's size for rich (pytest-xdist's workers set 80x24).
        drop = ("COLUMNS", "LINES")
        keep = {k: v for k, v in os.environ.items() if not k.startswith("LC_") and k not in drop}
        self.env = keep | {"LANG": "C.UTF-8"}

    def run(self, argv: list[str], timeout_s: float) -> list[str]:
        """Run `argv` in the window until it ends; the screen and its scrollback, line by line."""
        done = f"{self.base[2]}-done"
        command = f"{shlex.join(argv)}; {shlex.join([*self.base, 'wait-for', '-S', done])}"
        self._tmux("new-session", "-d", "-s", "t", "-x", "160", "-y", "50", command)
        self._tmux("wait-for", done, timeout=timeout_s)
        return self._tmux("capture-pane", "-p", "-t", "t", "-S", "-5000").splitlines()

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], env=self.env, capture_output=True, check=False)

    def _tmux(self, *args: str, timeout: float = 30) -> str:
        r = subprocess.run([*self.base, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, r.stderr
        return r.stdout


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path)
    try:
        yield term
    finally:
        term.close()


def terminal_width(text: str) -> int:
    """Columns the terminal gives `text`: the C library's wcwidth, in a UTF-8 locale."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
    try:
        return sum(max(libc.wcwidth(ord(ch)), 0) for ch in text)
    finally:
        locale.setlocale(locale.LC_CTYPE, before)


def separator_columns(screen: list[str]) -> list[list[int]]:
    """For each line of a drawn table, the display columns of its column lines (│ ┃ ┳ ╇ ┴ ...)."""
    rows = []
    for line in screen:
        if not line.strip() or line.lstrip()[0] not in SEPARATORS:
            continue
        rows.append([terminal_width(line[:i]) for i, ch in enumerate(line) if ch in SEPARATORS])
    return rows


def test_the_live_view_in_khmer_is_on_screen_with_its_columns_lined_up(terminal: Terminal, tmp_path: Path):
    argv = [sys.executable, "-m", "tonle.app.cli", "demo", "--lang", "km", "--duration", "25"]
    screen = terminal.run([*argv, "--run-dir", str(tmp_path / "run")], timeout_s=240)
    text = "\n".join(screen)
    with using_language("km"):
        title = render(TITLE, {"line": "L1", "n": 12})
        khmer = [title, _("station"), _("state"), _("health"), _("running"), _("speed"), _("andon")]
        khmer.append(_(LEGEND).partition(" ")[0])  # the legend, in Khmer
        khmer.append(_("gateway: DOWN").partition(" ")[0])  # "gateway:" in Khmer, the status line
    for words in khmer:
        assert words in text, f"{words!r} is not on the screen:\n{text}"
    header = next(line for line in screen if line.lstrip().startswith("┃"))
    assert "station" not in header and "OEE" in header, header  # OEE is OEE in Khmer too (glossary)
    assert "gateway:" not in text and "waiting for data" not in text  # no English left in the view
    assert text.count(title) == 1, f"the live view left copies of its first line behind:\n{text}"
    rows = separator_columns(screen)
    assert len(rows) == 12 + 4, "\n".join(screen)  # 12 stations, the header and 3 rules
    assert all(cols == rows[0] for cols in rows), "\n".join([*map(str, rows), *screen])


def test_the_live_view_in_english_shows_speed_andon_and_a_legend(terminal: Terminal, tmp_path: Path):
    argv = [sys.executable, "-m", "tonle.app.cli", "demo", "--lang", "en", "--duration", "25"]
    screen = terminal.run([*argv, "--run-dir", str(tmp_path / "run")], timeout_s=240)
    text = "\n".join(screen)
    header = next(line for line in screen if line.lstrip().startswith("┃"))
    cells = [c.strip() for c in header.strip().strip("┃").split("┃")]
    assert cells == [
        "station",
        "operation",
        "state",
        "speed",
        "station pcs/h",
        "OEE",
        "health",
        "drift",
        "andon",
    ]
    rows = [line for line in screen if line.lstrip().startswith("│")]
    speeds = [line.strip().strip("│").split("│")[3].strip() for line in rows]
    assert len(rows) == 12 and all(re.fullmatch(r"\d+%", s) for s in speeds), rows  # applied speed, every row
    legend = " ".join(" ".join(screen).split())
    assert "Legend: speed = the speed the gateway applied" in legend
    assert "drift ALARM = the vibration has moved away from this machine's own normal level" in legend
    assert "line output" in text and "leaving the last station" in legend
    cols = separator_columns(screen)
    assert all(c == cols[0] for c in cols), "\n".join(screen)


CODE_POINT_TABLE = """
rows = [("S01", "កំពុងដំណើរការ"), ("S05", "ដាច់អំបោះ"), ("S07", "រង់ចាំការងារ")]
width = max(len(state) for _, state in rows)
for name, state in rows:
    print("│ " + name + " │ " + state.ljust(width) + " │ 90 │")
"""


def test_the_column_check_catches_a_table_padded_by_code_points(terminal: Terminal, tmp_path: Path):
    """The deliberately wrong render: cells padded with len(), so Khmer rows stick out on screen."""
    script = tmp_path / "misaligned.py"
    script.write_text(CODE_POINT_TABLE)
    rows = separator_columns(terminal.run([sys.executable, str(script)], timeout_s=30))
    assert len(rows) == 3
    assert len({tuple(cols) for cols in rows}) > 1, rows
