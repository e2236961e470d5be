"""The public PdM API is what docs/pdm.md says it is, name by name and parameter by parameter."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import analytics.pdm as pdm

DOC = Path(__file__).resolve().parents[2] / "docs" / "pdm.md"


def _documented() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("## Signatures", 1)[1].split("```", 2)[1]
    out = {}
    for line in block.strip().splitlines():
        m = re.fullmatch(r"([\w.]+)\((.*)\)(?: -> .*)?", line.strip())
        assert m, f"unreadable line in docs/pdm.md signatures: {line!r}"
        out[m.group(1)] = m.group(2)
    return out


def _rendered(obj: object) -> str:
    parts, star = [], False
    for p in inspect.signature(obj).parameters.values():  # type: ignore[arg-type]
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return ", ".join(parts)


def test_every_documented_signature_is_the_code_signature() -> None:
    documented = _documented()
    assert documented, "docs/pdm.md lists no signatures"
    for name, params in documented.items():
        obj: object = pdm
        for part in name.split("."):
            obj = getattr(obj, part)
        assert _rendered(obj) == params, name


def test_every_public_name_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in pdm.__all__:
        assert f"`{name}" in text or f"{name}(" in text, name
