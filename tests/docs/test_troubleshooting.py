"""The technician's troubleshooting table quotes what the product really prints.

A row that starts with a quoted sentence (`...`) must match a message of the code: a string
of tonle/, edge_agent/, collector/ or analytics/ (an f-string or a `{name}` template) whose
fixed words all appear, in order, in the quote, with the quote's `{...}` standing for what
changes. So a message reworded in the code fails here until the guide follows it.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from tests.docs.guides import DOCS, REPO, section, table_first_cells

PACKAGES = ("tonle", "edge_agent", "collector", "analytics")
MIN_FIXED_CHARS = 10  # "{error}; {fix}" would match anything: a message must say something
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|%[sdr]")
_HOLE = "\x00"


def _text(node: ast.AST) -> str | None:
    """A string constant, or an f-string with each `{expression}` made a hole."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _PLACEHOLDER.sub(_HOLE, node.value)
    if isinstance(node, ast.JoinedStr):
        parts = [v.value if isinstance(v, ast.Constant) else _HOLE for v in node.values]
        return "".join(str(p) for p in parts)
    return None


@cache
def messages() -> tuple[re.Pattern[str], ...]:
    """Each string of the product's code as a pattern: holes match anything."""
    found = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                text = _text(node)
                if text and len(text.replace(_HOLE, "").strip()) >= MIN_FIXED_CHARS:
                    found.add(text)
    return tuple(re.compile(".*?".join(re.escape(p) for p in t.split(_HOLE)), re.S) for t in found)


def printed(quote: str) -> bool:
    """True when `quote` (with `{...}` for what changes) contains a whole message of the code."""
    filled = _PLACEHOLDER.sub("X", quote)
    return any(m.search(filled) for m in messages())


def quoted_sentences(path: Path) -> list[str]:
    """The quotes that open a row of the troubleshooting table (section 8)."""
    cells = table_first_cells(section(path, "8."))
    return [m.group(1) for c in cells if (m := re.match(r"^`([^`]+)`", c))]


@pytest.mark.parametrize("name", ["technician.md", "technician.km.md"])
def test_each_troubleshooting_sentence_is_one_the_product_prints(name: str):
    quotes = quoted_sentences(DOCS / name)
    assert len(quotes) >= 10, f"{name}: the table quotes only {len(quotes)} messages"
    missing = [q for q in quotes if not printed(q)]
    assert not missing, f"{name}: not printed by the code as written: {missing}"


def test_both_languages_quote_the_same_sentences():
    assert quoted_sentences(DOCS / "technician.md") == quoted_sentences(DOCS / "technician.km.md")


def test_a_sentence_the_code_does_not_print_is_caught():
    assert printed("cannot reach the MQTT broker at {host}:{port} ({reason})")
    assert not printed("cannot reach the MQTT server at {host}:{port} ({reason})")
    assert not printed("the agent could not find its configuration file")
