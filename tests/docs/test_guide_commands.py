"""Every command the guides tell a reader to type exists, with the options they give it.

The `tonle` commands go through the CLI's own parser (a wrong sub-command or option is the
error a reader would get), the sub-commands must be ones `tonle --help` lists, the demo
report script's arguments go through its parser, and every repository file a guide names
is there. The Khmer guide of each reader gives the same commands as the English one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.docs.guides import DOCS, GUIDE_FILES, GUIDES, REPO, shell_commands, tonle_argv
from tonle.app.cli import _parser

TONLE = Path(sys.executable).with_name("tonle")


def _demo_report_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_report", REPO / "examples" / "demo_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse_error(parser, argv: list[str]) -> str | None:
    """argparse's complaint about `argv`, or None when it parses."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            return None if exc.code == 0 else err.getvalue().strip()
    return None


def _subcommand(argv: list[str]) -> str:
    """The first word that is not an option or an option's value (`--lang km demo` -> demo)."""
    words = iter(argv)
    for word in words:
        if word in ("--lang",):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


@pytest.mark.parametrize("path", GUIDE_FILES, ids=lambda p: p.name)
def test_every_guide_exists_in_english_and_khmer(path: Path):
    assert path.exists(), f"{path.name} is missing"
    assert shell_commands(path), f"{path.name} has no command to run"


@pytest.mark.parametrize("path", GUIDE_FILES, ids=lambda p: p.name)
def test_every_tonle_command_in_a_guide_parses(path: Path):
    tonle_help = subprocess.run([TONLE, "--help"], capture_output=True, text=True, check=True).stdout
    listed = set(re.findall(r"^\s{4}(\S+)", tonle_help, re.M))
    found = 0
    for cmd in shell_commands(path):
        argv = tonle_argv(cmd.argv)
        if argv is None:
            continue
        found += 1
        assert _subcommand(argv) in listed, f"{cmd.guide}: `{cmd.text}`: not a command of `tonle --help`"
        error = _parse_error(_parser(), argv)
        assert error is None, f"{cmd.guide}: `{cmd.text}`: {error}"
    assert found, f"{path.name} runs no tonle command"


def test_the_parser_check_catches_a_wrong_option():
    """The check above can fail: a misspelt option or sub-command is caught."""
    assert _parse_error(_parser(), ["report", "--line", "L1", "--from", "x", "--to", "y", "--outt", "r"])
    assert _parse_error(_parser(), ["agent", "chek-config", "gateway.toml"])
    assert _parse_error(_parser(), ["report", "--line", "L1", "--from", "x", "--to", "y"]) is None


@pytest.mark.parametrize("path", GUIDE_FILES, ids=lambda p: p.name)
def test_the_demo_report_script_is_called_with_its_own_options(path: Path):
    script = _demo_report_script()
    for cmd in shell_commands(path):
        if any(w.endswith("examples/demo_report.py") for w in cmd.argv):
            own, _ = script.split_args(cmd.argv[cmd.argv.index("examples/demo_report.py") + 1 :])
            assert _parse_error(script.parser(), own) is None, f"{cmd.guide}: `{cmd.text}`"
    assert _parse_error(script.parser(), ["--outt", "r.pdf"])


@pytest.mark.parametrize("path", GUIDE_FILES, ids=lambda p: p.name)
def test_every_file_a_guide_names_is_in_the_repository(path: Path):
    text = path.read_text()
    named = set(re.findall(r"(?<![\w/])((?:deploy|examples|docs|dashboards)/[\w.-]+(?:/[\w.-]+)*\w)", text))
    named |= {f"docs/{link}" for link in re.findall(r"\]\(((?:img/)?[\w.-]+\.(?:md|png))\)", text)}
    missing = sorted(n for n in named if not (REPO / n).exists() and not n.startswith("deploy/security"))
    assert not missing, f"{path.name} names files that do not exist: {missing}"


@pytest.mark.parametrize("name", GUIDES)
def test_the_khmer_guide_gives_the_english_guides_commands(name: str):
    english = {c.text for c in shell_commands(DOCS / f"{name}.md")}
    khmer = {c.text for c in shell_commands(DOCS / f"{name}.km.md")}
    assert english <= khmer, f"{name}.km.md lacks: {sorted(english - khmer)}"
