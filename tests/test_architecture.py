"""The house rules a newcomer can rely on: layers a machine checks, small modules, short functions.

`make lint` runs the same import contracts; running them here too means `make test` alone
cannot pass on code that breaks the layering.
"""

from __future__ import annotations

import ast
import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ("tonle", "edge_agent", "collector", "analytics", "firmware_sim")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# argparse tables: one add_argument after another, long by nature and read as a table.
ARGPARSE_TABLES = {("tonle/app/cli.py", "_parser")}


def _modules() -> list[Path]:
    return sorted(p for pkg in PRODUCTION for p in (ROOT / pkg).rglob("*.py"))


def test_no_production_module_is_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these by job: {long}"


def test_no_production_function_is_over_60_lines():
    long = {}
    for p in _modules():
        rel = str(p.relative_to(ROOT))
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and (rel, node.name) not in ARGPARSE_TABLES:
                    long[f"{rel}:{node.name}"] = n
    assert long == {}, f"split these into helpers: {long}"


def test_the_import_contracts_cover_what_docs_architecture_promises():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / ".importlinter")
    contracts = {s: cfg[s] for s in cfg.sections() if s.startswith("importlinter:contract:")}
    layers = contracts["importlinter:contract:layers"]["layers"].split("\n")
    layers = [line.strip() for line in layers if line.strip()]
    assert layers[0] == "tonle.app"
    assert layers[1].split(" | ") == ["edge_agent", "collector", "analytics", "firmware_sim"]
    forbidden = contracts["importlinter:contract:no-test-code-at-run-time"]
    assert set(forbidden["forbidden_modules"].split()) == {"tests", "bench", "validation"}
    assert set(forbidden["source_modules"].split()) == set(PRODUCTION)


def test_the_import_contracts_are_kept():
    run = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:]
