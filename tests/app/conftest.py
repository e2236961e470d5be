"""Fixtures of the application tests: the catalogue template `pybabel extract` writes, made once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pybabel_template(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What `pybabel extract -F babel.cfg -o tonle.pot .` writes from the repository root.

    Run once per session, as a person runs it (a subprocess, the babel.cfg of the
    repository): it reads every source file, so the tests that need it share one run.
    """
    pot = tmp_path_factory.mktemp("pybabel") / "tonle.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-o", str(pot), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as f:
        return read_po(f)
