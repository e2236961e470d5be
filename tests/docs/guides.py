"""Reading the user guides (docs/technician.md, manager.md, trainer.md and their Khmer twins).

The tests run what the guides tell a reader to type, so the commands are taken from the
guides themselves: the fenced shell blocks, one command per line (a trailing backslash
joins lines), and the troubleshooting table's quoted sentences.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
GUIDES = ("technician", "manager", "trainer")
LANGS = ("", ".km")  # docs/NAME.md in English, docs/NAME.km.md in Khmer
GUIDE_FILES = tuple(DOCS / f"{name}{lang}.md" for name in GUIDES for lang in LANGS)

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


@dataclass(frozen=True)
class Command:
    guide: str
    text: str  # the command as the guide writes it, continuations joined
    argv: list[str]


def shell_commands(path: Path) -> list[Command]:
    """Every command of the `sh` blocks of a guide (comments dropped)."""
    out = []
    for lang, body in _FENCE.findall(path.read_text()):
        if lang != "sh":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                out.append(Command(path.name, line.strip(), argv))
    return out


def tonle_argv(argv: list[str]) -> list[str] | None:
    """The arguments given to `tonle` in a command line, or None when it does not run tonle.

    `make demo ARGS="..."` runs `tonle demo ...` (the Makefile), so it counts as one.
    """
    if argv[:2] == ["make", "demo"]:
        extra = [a.removeprefix("ARGS=") for a in argv[2:] if a.startswith("ARGS=")]
        return ["demo", *(shlex.split(extra[0]) if extra else [])]
    for i, word in enumerate(argv[:-1]):
        if Path(word).name == "tonle" and (i == 0 or argv[i - 1] not in _TAKES_A_NAME):
            return argv[i + 1 :]
    return None


# Options of other commands whose value may be the user or group `tonle` (sudo -u tonle ...).
_TAKES_A_NAME = {"-u", "-g", "-o", "--user", "--group", "--groups", "--home-dir"}


def section(path: Path, heading_start: str) -> str:
    """The text of the `## ` section whose heading starts with `heading_start`."""
    text = path.read_text()
    m = re.search(rf"^## {re.escape(heading_start)}.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"{path.name} has no section '## {heading_start}...'"
    return m.group(1)


def table_first_cells(text: str) -> list[str]:
    """The first cell of each body row (not the header, not the separator) of the tables in `text`."""
    lines = text.splitlines()
    rule = re.compile(r"^\|[-| :]+\|$")
    cells = []
    for i, line in enumerate(lines):
        header = i + 1 < len(lines) and rule.match(lines[i + 1])
        if line.startswith("|") and not rule.match(line) and not header:
            cells.append(line.split("|")[1].strip())
    return cells
