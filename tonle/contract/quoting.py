"""What a refused payload holds: read leniently, followed along msgspec's paths, quoted short.

Only on the error path, for `tonle.contract.explain`: msgspec says where and what it
expected; the payload, parsed leniently, says what was actually sent.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec

__all__ = ["MISSING", "NAME_KEY", "last_name", "lenient_parse", "resolve", "show"]

MISSING: Any = object()
"""What `lenient_parse` and `resolve` return for a payload or a value that is not there."""
_LENIENT_MAX_BYTES = 256 * 1024
_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\.\.\.)\]")
NAME_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
"""A valid field name, to tell which key of an object msgspec refused."""


def lenient_parse(data: bytes) -> Any:
    """The payload as plain Python objects, to quote what was sent; `MISSING` if unreadable.

    msgspec (fast) first; Python's json, which also reads 1e400 and integers
    beyond 64 bits, only for payloads small enough that its slowness does not
    matter. Deep nesting raises RecursionError in both: caught, never raised.
    """
    try:
        return msgspec.json.decode(data)
    except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
        pass
    if len(data) > _LENIENT_MAX_BYTES:
        return MISSING
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return MISSING


def resolve(doc: Any, path: str) -> tuple[str, Any]:
    """Follow a msgspec path (`$.rows[0].fields[...]`) into the parsed payload.

    `[...]` is msgspec's "some key of this dict": the first key whose value is
    not a valid number (or list of numbers) is taken as the culprit.
    """
    tokens = _PATH_TOKEN.findall(path)
    where: list[str] = []
    cur = doc
    for i, (name, index) in enumerate(tokens):
        if name:
            cur = cur.get(name, MISSING) if isinstance(cur, dict) else MISSING
            where.append(f".{name}")
        elif index == "..." and isinstance(cur, dict) and cur:
            rest = "".join(f".{n}" if n else f"[{x}]" for n, x in tokens[i + 1 :])
            culprits = (k for k, v in cur.items() if _suspicious(resolve(v, rest)[1], not rest))
            key = next(culprits, next(iter(cur)))
            cur = cur[key]
            where.append(f".{key}" if NAME_KEY.fullmatch(key) else f"[{show(key)}]")
        elif index.isdigit() and isinstance(cur, list) and int(index) < len(cur):
            cur = cur[int(index)]
            where.append(f"[{index}]")
        else:
            cur = MISSING
            where.append(f"[{index}]" if index else "")
    text = "".join(where).lstrip(".")
    return text or "$", cur


def _suspicious(value: Any, leaf: bool) -> bool:
    if leaf and isinstance(value, list):
        return not all(_is_number(x) for x in value)
    return not _is_number(value)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def last_name(path: str) -> str:
    names = [n for n, _ in _PATH_TOKEN.findall(path) if n]
    return names[-1] if names else ""


def show(value: Any) -> str:
    """A payload value, quoted as JSON and cut short: hostile input never makes a long reason."""
    if value is MISSING:
        return "(missing)"
    if isinstance(value, list | dict):
        return f"a {'list' if isinstance(value, list) else 'JSON object'} of {len(value)}"
    try:
        text = json.dumps(value[:80] if isinstance(value, str) else value, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        text = repr(value)
    # Keep letters in any script readable, but show what cannot be seen (line and
    # paragraph separators, zero-width and no-break spaces) as \uXXXX.
    text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
    return text if len(text) <= 60 else text[:57] + "..."
