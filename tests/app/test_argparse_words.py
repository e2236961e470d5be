"""argparse's own words ("usage:", "options:", its errors) come out of Tonle's catalogue in Khmer.

The English checked for is what argparse itself writes in Python 3.11 (its msgids, read
from the running argparse's source), so a help or an error that still carries one of
them fails, whichever sub-command it comes from.
"""

from __future__ import annotations

import argparse
import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.test_cli_khmer import KHMER, tonle
from tonle.app import cli
from tonle.app.argparse_words import ARGPARSE_MSGIDS, argparse_plurals, speaking_tonle
from tonle.messages import _, set_language, using_language


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    """`cli.main` chooses the language for the process: put English back for the next test."""
    yield
    set_language("en")


def argparse_msgids() -> list[str | tuple[str, str]]:
    """Every sentence the running argparse hands to gettext: `_("...")` and `ngettext("...", "...")`."""
    tree = ast.parse(Path(argparse.__file__).read_text(encoding="utf-8"))
    found: list[str | tuple[str, str]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        texts = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if node.func.id == "_" and texts:
            found.append(texts[0])
        elif node.func.id == "ngettext" and len(texts) == 2:
            found.append((texts[0], texts[1]))
    return found


def english_pieces() -> re.Pattern[str]:
    """The English of argparse's msgids, exactly: each msgid cut at its %-placeholders.

    A piece keeps its colon ("usage:", "error:", "value:") so that a word of Tonle's own
    (the positional `value` of `tonle command set_speed`) is not taken for argparse's.
    """
    pieces = set()
    for msgid in argparse_msgids():
        for text in msgid if isinstance(msgid, tuple) else (msgid,):
            for piece in re.split(r"%(?:\(\w+\))?[sdr]", text):
                piece = piece.strip(" '\"()\n-")
                if re.search(r"[A-Za-z]{3}", piece):
                    pieces.add(re.escape(piece))
    return re.compile(
        r"(?<![A-Za-z])(?:" + "|".join(sorted(pieces, key=len, reverse=True)) + r")(?![A-Za-z])"
    )


ARGPARSE_ENGLISH = english_pieces()  # "usage", "options", "the following arguments are required", ...


def _percent_fields(text: str) -> list[str]:
    return sorted(re.findall(r"%(?:\(\w+\))?[sdr]", text))


def test_every_sentence_of_this_pythons_argparse_is_in_the_catalogue() -> None:
    plurals = {(s, p) for s, p in zip(argparse_plurals(1), argparse_plurals(2), strict=True)}
    assert plurals  # worded in English here: the singular and the plural
    singles = set(ARGPARSE_MSGIDS)
    for msgid in argparse_msgids():
        if isinstance(msgid, tuple):
            assert msgid in plurals, msgid
        else:
            assert msgid in singles, f"argparse asks for {msgid!r}: add it to ARGPARSE_MSGIDS and the .po"


def test_each_argparse_sentence_has_khmer_with_the_same_percent_fields() -> None:
    with using_language("km"):
        for msgid in ARGPARSE_MSGIDS:
            khmer = _(msgid)
            assert KHMER.search(khmer), msgid
            assert _percent_fields(khmer) == _percent_fields(msgid), msgid
        for n in (1, 2):
            for khmer in argparse_plurals(n):
                assert KHMER.search(khmer) and _percent_fields(khmer) == ["%s"], khmer


def test_speaking_tonle_words_argparse_from_the_catalogue_and_puts_gettext_back() -> None:
    before = argparse._  # type: ignore[attr-defined]
    with using_language("km"), speaking_tonle():
        p = argparse.ArgumentParser(prog="gauge")  # its group titles are worded when it is built
        p.add_argument("n", type=int)
        help_text = p.format_help()
    assert argparse._ is before  # type: ignore[attr-defined]
    assert not ARGPARSE_ENGLISH.search(help_text), help_text
    assert help_text.startswith("របៀបប្រើ៖ gauge")


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command line `tonle` has help for: itself and each sub-command, at every depth."""
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def test_help_of_tonle_and_of_every_sub_command_has_no_english_argparse_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    every = list(commands(cli._parser()))
    assert len(every) > 15 and ("provision", "gateway") in every  # the walk reaches the nested ones
    for command in every:
        with pytest.raises(SystemExit) as done:
            cli.main(["--lang", "km", *command, "--help"])
        assert done.value.code == 0, command
        out = capsys.readouterr().out
        shown = ARGPARSE_ENGLISH.search(out)
        assert shown is None, f"tonle {' '.join(command)} --help shows {shown.group()!r}:\n{out}"
        assert out.startswith("របៀបប្រើ៖ tonle"), command


def test_help_of_every_sub_command_in_a_process_of_its_own_is_khmer_too(tmp_path: Path) -> None:
    r = tonle("--lang", "km", "provision", "gateway", "--help", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("របៀបប្រើ៖ tonle provision gateway")
    assert ARGPARSE_ENGLISH.search(r.stdout) is None, r.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("demo", "--duration", "soon"),  # invalid float value
        ("demo", "--drill", "flood"),  # invalid choice
        ("demo", "--duration"),  # expected one argument
        ("report", "--line", "L1"),  # the following arguments are required
        (),  # the sub-command is required
        ("check-config", "a.toml", "b.toml"),  # unrecognized arguments
        ("nosuch",),  # invalid choice of sub-command
    ],
    ids=["type", "choice", "one-argument", "required", "no-command", "unrecognized", "no-such-command"],
)
def test_a_bad_command_line_is_refused_in_khmer(tmp_path: Path, args: tuple[str, ...]) -> None:
    r = tonle("--lang", "km", *args, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    shown = ARGPARSE_ENGLISH.search(r.stderr)
    assert shown is None, f"shows {shown.group()!r}:\n{r.stderr}"
    assert "កំហុស៖" in r.stderr and r.stderr.startswith("របៀបប្រើ៖ tonle")


def test_a_bad_command_line_without_lang_is_refused_in_argparses_english(tmp_path: Path) -> None:
    r = tonle("demo", "--drill", "flood", cwd=tmp_path)
    assert r.returncode == 2 and not KHMER.search(r.stderr)
    assert "tonle demo: error: argument --drill: invalid choice: 'flood' (choose from" in r.stderr


def test_the_percent_field_check_can_fail() -> None:
    assert _percent_fields("invalid choice: %(value)r") != _percent_fields("ជម្រើស៖ %(value)s")
    assert _percent_fields("expected %s argument") != _percent_fields("ត្រូវការអាគុយម៉ង់")
