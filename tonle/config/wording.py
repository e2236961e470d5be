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
from tonle.messages import N_, _

__all__ = ["NAME_PATTERN", "explain", "kind_of", "noun", "shown"]

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
_PATTERNS = {
    NAME_PATTERN: N_("use letters, digits and _ only, starting with a letter or _ (no spaces or dashes)"),
}
_NOUNS = {
    "int": N_("a whole number"),
    "float": N_("a number"),
    "str": N_('text in quotes ("...")'),
    "bool": N_("true or false"),
    "array": N_("a list [...]"),
    "object": N_("a table { ... } or a [section]"),
    "null": N_("nothing"),
}
_KINDS = {
    "int": N_("a number"),
    "float": N_("a number"),
    "str": N_("text"),
    "bool": N_("true/false"),
    "array": N_("a list"),
    "object": N_("a table"),
    "null": N_("empty"),
}
_BOUNDS = {">=": N_("at least {n}"), ">": N_("above {n}"), "<=": N_("at most {n}"), "<": N_("below {n}")}


def _noun(name: str) -> str:
    return _(_NOUNS[name]) if name in _NOUNS else name


def _kind(name: str) -> str:
    return _(_KINDS[name]) if name in _KINDS else name


def _bound(op: str, n: object) -> str:
    return _(_BOUNDS[op]).format(n=n)


def _is(value: Any) -> str:
    return _("is {value}").format(value=shown(value))


def _is_kind(value: Any, kind: str) -> str:
    return _("is {value} ({kind})").format(value=shown(value), kind=_kind(kind))


def _must_be(what: str) -> str:
    return _("it must be {what}").format(what=what)


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
            return _kind(name)
    return _kind("object") if isinstance(value, dict) else _kind("null")


def noun(tp: Any) -> str:
    """What a key of type `tp` must hold, in plain words."""
    base = _strip(tp)
    if get_origin(base) is Literal:
        return _("one of: {values}").format(values=", ".join(_plain(a) for a in get_args(base)))
    if get_origin(base) in (Union, types.UnionType):
        return _(" or ").join(noun(a) for a in get_args(base) if a is not type(None))
    if get_origin(base) in (list, tuple):
        return _noun("array")
    if get_origin(base) is dict or (isinstance(base, type) and issubclass(base, msgspec.Struct | dict)):
        return _noun("object")
    return _noun(getattr(base, "__name__", str(base)))


def explain(exc: msgspec.ValidationError, value: Any, tp: Any, key: str, device: str = "") -> Problem:
    """The problem msgspec found in `value` (checked against `tp` at `key`), as a sentence."""
    text, _sep, where = str(exc).partition(" - at `")
    sub = _subpath(where.rstrip("`"))
    at = join_key(key, sub)
    here = _value_at(value, sub)
    inner = _type_at(tp, sub)
    return Problem(at, *_sentence(text, here, inner), device=device)


def _sentence(text: str, value: Any, tp: Any) -> tuple[str, str]:
    """(what is wrong, the fix) for one msgspec message."""
    if m := re.fullmatch(r"Invalid enum value (.+)", text):
        choices = ", ".join(_plain(a) for a in _literal_args(tp))
        return _is(value), _("use one of: {choices}").format(choices=choices)
    if m := re.fullmatch(r"Expected `(\w+)`, got `(\w+)`", text):
        want = noun(tp) if _literal_args(tp) else _noun(m[1])
        return _is_kind(value, m[2]), _must_be(want)
    if m := re.fullmatch(r"Expected `([\w |]+)`, got `(\w+)`", text):
        return _is_kind(value, m[2]), _must_be(noun(tp))
    if m := re.fullmatch(r"Expected `(int|float)` (>=|>|<=|<) (\S+)", text):
        return _is(value), _("use {what}").format(what=_range(tp, m[1], m[2], m[3]))
    if m := re.fullmatch(r"Expected `str` of length (>=|<=) (\d+)", text):
        if m[1] == ">=" and m[2] == "1":
            return _("is empty"), _("give it a value")
        long = _("is {n} characters long").format(n=len(value))
        return long, _("use {bound} characters").format(bound=_bound(m[1], m[2]))
    if m := re.fullmatch(r"Expected `(array|object)` of length (>=|<=) (\d+)", text):
        return _("has {n} entries").format(n=len(value)), _("give {bound}").format(bound=_bound(m[2], m[3]))
    if m := re.fullmatch(r"Expected `array` of length (\d+), got (\d+)", text):
        pair = _("give exactly {n}, e.g. [low, high]") if m[1] == "2" else _("give {n}")
        return _("has {n} values").format(n=m[2]), pair.format(n=m[1])
    if m := re.fullmatch(r"Expected `str` matching regex '(.+)'", text):
        rule = _(_PATTERNS[m[1]]) if m[1] in _PATTERNS else _("it must match the pattern {pattern}")
        return _is(value), rule.format(pattern=m[1]) if m[1] not in _PATTERNS else rule
    return _is(value), text[:1].lower() + text[1:]


def _range(tp: Any, kind: str, op: str, bound: str) -> str:
    """ "a whole number from 1 to 65535" when both bounds are known, else "a number at least 0"."""
    what = _noun("int" if kind == "int" else "float")
    lo = hi = None
    for meta in _metas(tp):
        lo = _first(meta.ge, lo, ">=") or _first(meta.gt, lo, ">")
        hi = _first(meta.le, hi, "<=") or _first(meta.lt, hi, "<")
    if lo and hi and lo[1] == ">=" and hi[1] == "<=":
        return _("{what} from {low} to {high}").format(what=what, low=_num(lo[0]), high=_num(hi[0]))
    parts = [_bound(b[1], _num(b[0])) for b in (lo, hi) if b]
    limits = _(" and ").join(parts) if parts else _bound(op, bound)
    return _("{what} {limits}").format(what=what, limits=limits)


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
