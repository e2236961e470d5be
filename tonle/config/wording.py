"""msgspec's validation messages, reworded for the person who edits the file.

msgspec says "Expected `int` >= 1 - at `$.port`"; a technician should read
"'mqtt.port' is 0; use a whole number from 1 to 65535". The type the value was
checked against is known here, so the sentence can list the allowed values
(a `Literal`) and the whole range (both bounds of a `Meta`), not just the bound
that failed.
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

from tonle.config.problems import Problem, join_key

__all__ = ["NAME_PATTERN", "explain", "kind_of", "noun", "shown"]

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_PATTERNS = {
    NAME_PATTERN: "use letters, digits and _ only, starting with a letter or _ (no spaces or dashes)",
}
_NOUNS = {
    "int": "a whole number",
    "float": "a number",
    "str": 'text in quotes ("...")',
    "bool": "true or false",
    "array": "a list [...]",
    "object": "a table { ... } or a [section]",
    "null": "nothing",
}
_KINDS = {
    "int": "a number",
    "float": "a number",
    "str": "text",
    "bool": "true/false",
    "array": "a list",
    "object": "a table",
    "null": "empty",
}
_BOUNDS = {">=": "at least", ">": "above", "<=": "at most", "<": "below"}


def shown(value: Any) -> str:
    """A value as it would look in the file, cut short when long."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, dict):
        text = "{ ... }"
    elif isinstance(value, list):
        text = "[...]" if len(repr(value)) > 40 else repr(value)
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def kind_of(value: Any) -> str:
    """What a TOML value is, in plain words."""
    for typ, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "array")):
        if isinstance(value, typ):
            return _KINDS[name]
    return _KINDS["object"] if isinstance(value, dict) else "empty"


def noun(tp: Any) -> str:
    """What a key of type `tp` must hold, in plain words."""
    base = _strip(tp)
    if get_origin(base) is Literal:
        return "one of: " + ", ".join(_plain(a) for a in get_args(base))
    if get_origin(base) in (Union, types.UnionType):
        return " or ".join(noun(a) for a in get_args(base) if a is not type(None))
    if get_origin(base) in (list, tuple):
        return _NOUNS["array"]
    if get_origin(base) is dict or (isinstance(base, type) and issubclass(base, msgspec.Struct | dict)):
        return _NOUNS["object"]
    name = getattr(base, "__name__", str(base))
    return _NOUNS.get(name, name)


def explain(exc: msgspec.ValidationError, value: Any, tp: Any, key: str, device: str = "") -> Problem:
    """The problem msgspec found in `value` (checked against `tp` at `key`), as a sentence."""
    text, _, where = str(exc).partition(" - at `")
    sub = _subpath(where.rstrip("`"))
    at = join_key(key, sub)
    here = _value_at(value, sub)
    inner = _type_at(tp, sub)
    return Problem(at, *_sentence(text, here, inner), device=device)


def _sentence(text: str, value: Any, tp: Any) -> tuple[str, str]:
    """(what is wrong, the fix) for one msgspec message."""
    if m := re.fullmatch(r"Invalid enum value (.+)", text):
        return f"is {shown(value)}", "use one of: " + ", ".join(_plain(a) for a in _literal_args(tp))
    if m := re.fullmatch(r"Expected `(\w+)`, got `(\w+)`", text):
        want = noun(tp) if _literal_args(tp) else _NOUNS.get(m[1], m[1])
        return f"is {shown(value)} ({_KINDS.get(m[2], m[2])})", f"it must be {want}"
    if m := re.fullmatch(r"Expected `([\w |]+)`, got `(\w+)`", text):
        return f"is {shown(value)} ({_KINDS.get(m[2], m[2])})", f"it must be {noun(tp)}"
    if m := re.fullmatch(r"Expected `(int|float)` (>=|>|<=|<) (\S+)", text):
        return f"is {shown(value)}", f"use {_range(tp, m[1], m[2], m[3])}"
    if m := re.fullmatch(r"Expected `str` of length (>=|<=) (\d+)", text):
        if m[1] == ">=" and m[2] == "1":
            return "is empty", "give it a value"
        return f"is {len(value)} characters long", f"use {_BOUNDS[m[1]]} {m[2]} characters"
    if m := re.fullmatch(r"Expected `(array|object)` of length (>=|<=) (\d+)", text):
        return f"has {len(value)} entries", f"give {_BOUNDS[m[2]]} {m[3]}"
    if m := re.fullmatch(r"Expected `array` of length (\d+), got (\d+)", text):
        return f"has {m[2]} values", f"give exactly {m[1]}, e.g. [low, high]" if m[
            1
        ] == "2" else f"give {m[1]}"
    if m := re.fullmatch(r"Expected `str` matching regex '(.+)'", text):
        return f"is {shown(value)}", _PATTERNS.get(m[1], f"it must match the pattern {m[1]}")
    return f"is {shown(value)}", text[:1].lower() + text[1:]


def _range(tp: Any, kind: str, op: str, bound: str) -> str:
    """ "a whole number from 1 to 65535" when both bounds are known, else "a number at least 0"."""
    what = _NOUNS["int" if kind == "int" else "float"]
    lo = hi = None
    for meta in _metas(tp):
        lo = _first(meta.ge, lo, ">=") or _first(meta.gt, lo, ">")
        hi = _first(meta.le, hi, "<=") or _first(meta.lt, hi, "<")
    if lo and hi and lo[1] == ">=" and hi[1] == "<=":
        return f"{what} from {_num(lo[0])} to {_num(hi[0])}"
    parts = [f"{_BOUNDS[b[1]]} {_num(b[0])}" for b in (lo, hi) if b]
    return f"{what} " + " and ".join(parts) if parts else f"{what} {_BOUNDS[op]} {bound}"


def _first(value: Any, current: tuple[Any, str] | None, op: str) -> tuple[Any, str] | None:
    return current if value is None else (value, op)


def _num(value: float) -> str:
    return f"{value:g}"


def _plain(value: Any) -> str:
    return str(value)


def _subpath(where: str) -> str:
    """msgspec's `$.a[0].b` as `a[0].b`; a dict's `$[...]` stays as it is (the caller names keys)."""
    if where.startswith("$"):
        return where[1:].lstrip(".")
    return ""


def _value_at(value: Any, sub: str) -> Any:
    for part in re.findall(r"\[(\d+)\]|([^.\[\]]+)", sub):
        index, name = part
        try:
            value = value[int(index)] if index else value[name]
        except (IndexError, KeyError, TypeError):
            return value
    return value


def _type_at(tp: Any, sub: str) -> Any:
    """The type expected at `sub` inside `tp` (list items, tuple members), as far as it goes."""
    for part in re.findall(r"\[(\d+)\]|([^.\[\]]+)", sub):
        base = _strip(tp)
        args = get_args(base)
        if part[0] and get_origin(base) is list and args:
            tp = args[0]
        elif part[0] and get_origin(base) is tuple and args:
            tp = args[0] if args[-1] is Ellipsis else args[min(int(part[0]), len(args) - 1)]
        else:
            return tp
    return tp


def _strip(tp: Any) -> Any:
    """`tp` without Annotated and without `| None`."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
            continue
        if get_origin(tp) in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _metas(tp: Any) -> list[msgspec.Meta]:
    out: list[msgspec.Meta] = []
    while get_origin(tp) is Annotated:
        args = get_args(tp)
        out.extend(a for a in args[1:] if isinstance(a, msgspec.Meta))
        tp = args[0]
    return out


def _literal_args(tp: Any) -> tuple[Any, ...]:
    base = _strip(tp)
    if get_origin(base) is Literal:
        return get_args(base)
    if get_origin(base) in (list, tuple) and get_args(base):
        return _literal_args(get_args(base)[0])
    return ()
