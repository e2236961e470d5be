"""docs/trainer.md part 4, followed: a demo run, then its shift report with the guide's command.

The demo runs headless in a temporary folder (its `run/`), as `make demo` would in the
Tonle folder; then the guide's `examples/demo_report.py` commands run there as written
(the English one, and the Khmer guide's `-- --lang km`), and the PDFs must hold the line's
report over the run.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.guides import DOCS, REPO, shell_commands

pytestmark = [pytest.mark.services, pytest.mark.timeout(600)]

TONLE = Path(sys.executable).with_name("tonle")


def _report_commands(guide: str) -> list[list[str]]:
    """The guide's demo_report.py commands, with this test's Python for `.venv/bin/python`."""
    found = [c.argv for c in shell_commands(DOCS / guide) if "examples/demo_report.py" in c.argv]
    assert found, f"{guide} does not say how to make a report from a demo run"
    return [[sys.executable, str(REPO / "examples" / "demo_report.py"), *argv[2:]] for argv in found]


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", path, "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def class_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A folder holding `run/demo-*` after a short demo (like the Tonle folder after `make demo`),
    and the demo's summary."""
    folder = tmp_path_factory.mktemp("class")
    # 60 s: long enough for S07's derate and maintenance, which the class is asked to find
    demo = [TONLE, "demo", "--headless", "--duration", "60", "--run-dir", folder / "run"]
    done = subprocess.run(demo, cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def class_folder(class_run: tuple[Path, dict]) -> Path:
    return class_run[0]


def _words(value: object) -> set[str]:
    """Every key and text value of a JSON document."""
    if isinstance(value, dict):
        return set(value) | {w for v in value.values() for w in _words(v)}
    if isinstance(value, list):
        return {w for v in value for w in _words(v)}
    return {value} if isinstance(value, str) else set()


def test_what_the_class_is_asked_to_find_is_in_the_summary(class_run: tuple[Path, dict]):
    text = (DOCS / "trainer.md").read_text()
    part = text[text.index("The last line is the summary") : text.index("### 2.")]
    names = {n for n in re.findall(r"`([A-Za-z_][\w]*)`", part)}
    assert {"lost", "samples_published", "commands", "wearing_machine"} <= names
    summary = class_run[1]
    assert not names - _words(summary), f"trainer.md names what the summary lacks: {names - _words(summary)}"
    assert summary["lost"] == 0 and summary["samples_published"] == summary["points_stored"]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
@pytest.mark.parametrize("guide", ["trainer.md", "trainer.km.md"])
def test_the_guides_report_command_makes_the_runs_report(class_folder: Path, guide: str):
    for argv in _report_commands(guide):
        done = subprocess.run(argv, cwd=class_folder, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        ran = done.stdout.splitlines()[0]
        assert re.match(r"TONLE_INFLUXDB_URL=http://127\.0\.0\.1:\d+ tonle report ", ran), ran
        out = class_folder / argv[argv.index("--out") + 1]
        text = _pdf_text(out)
        assert "L1" in text and "OEE" in text and "S07" in text, text[:2000]
        khmer = "--lang" in argv and argv[argv.index("--lang") + 1] == "km"
        title = "របាយការណ៍វេន" in re.sub(r"\s", "", text)  # pdftotext puts spaces inside Khmer words
        assert title == khmer, f"{shlex.join(argv)}: {text[:300]}"
        assert ("Shift report" in text) != khmer


def test_the_script_says_when_there_is_no_run(tmp_path: Path):
    done = subprocess.run(_report_commands("trainer.md")[0], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0 and "no demo run in run/" in done.stderr
