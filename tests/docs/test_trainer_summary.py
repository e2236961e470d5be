"""The summary fields the trainer's drill lessons point at are ones the demo writes.

Running every drill is `tests/system/test_drills.py`'s job (about a minute each); here each
field the drill table and the intruder lesson name (`drill_observed.spool_at_kill`,
`refused_by_gateway`, a refusal `code`) must be a name the product's code writes, so a
renamed field fails here until the guide follows it. Part 1's fields are checked against a
real summary in test_demo_report.py.
"""

from __future__ import annotations

import ast
import re
from functools import cache

import pytest

from tests.docs.guides import DOCS, REPO

PACKAGES = ("tonle", "edge_agent", "collector", "analytics")


@cache
def product_names() -> frozenset[str]:
    """Every identifier-like string constant and keyword argument of the product's code.

    Summary fields are dict keys (strings) or keyword arguments (`agent_starts=...`).
    """
    names = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    names.update(re.findall(r"[a-z][a-z0-9_]*", node.value))
                elif isinstance(node, ast.keyword) and node.arg:
                    names.add(node.arg)
    return frozenset(names)


def lesson_fields(name: str) -> set[str]:
    """The snake_case names in backquotes in parts 2 and 3 (the drills and the intruder)."""
    text = (DOCS / name).read_text()
    part = text[text.index("### 2.") : text.index("### 4.")]
    quoted = re.findall(r"`([a-z][a-z0-9_.]*)`", part)
    return {w for q in quoted if "_" in q or "." in q for w in q.split(".")}


@pytest.mark.parametrize("name", ["trainer.md", "trainer.km.md"])
def test_each_field_a_drill_lesson_names_is_written_by_the_demo(name: str):
    fields = lesson_fields(name)
    assert {"drill_observed", "no_subscriber_pubacks", "refused_by_gateway", "bad_signature"} <= fields
    missing = sorted(fields - product_names())
    assert not missing, f"{name} names summary fields the code never writes: {missing}"


def test_both_languages_point_at_the_same_fields():
    assert lesson_fields("trainer.md") == lesson_fields("trainer.km.md")


def test_a_field_the_demo_does_not_write_is_caught():
    assert "spool_at_kill" in product_names()
    assert "spool_at_crash" not in product_names()
