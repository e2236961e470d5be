"""Check a config document against its structs, collecting every problem instead of the first.

msgspec stops at the first error of a document. This walks the document section by
section and key by key, so one run reports them all: unknown keys (with the keys
allowed there), wrong types and bad values (reworded by `wording`), missing keys,
each section's own checks (`__post_init__`), and the relations a section checks
between its keys (a `problems()` method that returns `Problem`s with keys relative
to the section).

Two conventions let a struct steer the walk:
- `config_variants()` (a classmethod on a tagged base struct) maps each `type` tag to
  its struct, so a list of device sections is checked against whatever types are
  registered (`tonle.sources.registry`).
- `config_label` (a class variable) names the items of a list by their `name` key
  (`device 'press-1'`, not `devices[4]`); two items with one name are a problem.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import msgspec

from tonle.config.problems import ConfigError, Problem, join_key
from tonle.config.wording import explain, noun, shown
from tonle.messages import _

__all__ = ["check_document", "check_value"]

S = TypeVar("S", bound=msgspec.Struct)


class _Bad:
    """What a key that failed its check turns into: its section cannot be built."""


_BAD = _Bad()


def check_document(
    data: Any, cls: type[S], key: str = "", device: str = ""
) -> tuple[S | None, list[Problem]]:
    """The struct `data` describes, or None, and every problem found on the way.

    A section whose keys are all there and of the right type is built, so its own
    checks and those of the sections around it run even when a neighbour is wrong.
    """
    walk = _Walk()
    built = walk.struct(data, cls, key, device)
    if isinstance(built, _Bad) or walk.problems:
        return None, walk.problems
    assert isinstance(built, cls)
    return built, []


def check_value(data: Any, tp: Any, key: str = "", device: str = "") -> tuple[Any, list[Problem]]:
    """Like `check_document` for any type (a union of tagged sections, a list of them)."""
    walk = _Walk()
    built = walk.value(data, tp, key, device)
    if isinstance(built, _Bad) or walk.problems:
        return None, walk.problems
    return built, []


class _Walk:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, key: str, text: str, fix: str = "", device: str = "", about: bool = True) -> None:
        self.problems.append(Problem(key, text, fix, device, about))

    # -- sections ------------------------------------------------------------------------------
    def struct(self, data: Any, cls: type[msgspec.Struct], key: str, device: str) -> Any:
        if not isinstance(data, Mapping):
            where = _("a [{key}] section").format(key=key) if key else _("a section")
            self.add(key, _is(data), _("it must be {where} with keys").format(where=where), device)
            return _BAD
        variant = self._variant(data, cls, key, device)
        if variant is None:
            return _BAD
        cls = variant
        whole = True  # every key there and of the right type: the section can be built
        tag_field, tag = cls.__struct_config__.tag_field, cls.__struct_config__.tag
        if tag_field and tag_field in data and data[tag_field] != tag:
            self.add(
                join_key(key, tag_field),
                _is(data[tag_field]),
                _("this section is type '{tag}'").format(tag=tag),
                device,
            )
            whole = False
        fields = {f.name: f for f in msgspec.structs.fields(cls)}
        self._unknown_keys(data, cls, fields, key, device)
        values: dict[str, Any] = {}
        for name, info in fields.items():
            sub = join_key(key, name)
            if name in data:
                values[name] = self.value(data[name], info.type, sub, device)
                whole = whole and not isinstance(values[name], _Bad)
            elif info.required:
                self.add(
                    sub, _("is missing"), _("add it; it takes {what}").format(what=noun(info.type)), device
                )
                whole = False
        return self._build(cls, values, key, device) if whole else _BAD

    def _variant(
        self, data: Mapping[str, Any], cls: type[msgspec.Struct], key: str, device: str
    ) -> type[msgspec.Struct] | None:
        """The struct a tagged section's `type` picks (`config_variants`), or `cls` itself."""
        variants = getattr(cls, "config_variants", None)
        if variants is None:
            return cls
        known: Mapping[str, type[msgspec.Struct]] = variants()
        if cls in known.values():  # a variant itself (a serial section checked as one): no dispatch
            return cls
        tag_field = cls.__struct_config__.tag_field or "type"
        tag = data.get(tag_field)
        choices = _("use one of: {choices}").format(choices=", ".join(sorted(known)))
        if not known:  # entry points are read from the installed package's metadata
            choices = _("no types are registered: install the package (pip install -e .) so they are")
        if tag is None:
            self.add(join_key(key, tag_field), _("is missing"), choices, device)
        elif not isinstance(tag, str) or tag not in known:
            self.add(join_key(key, tag_field), _is(tag), choices, device)
        else:
            return known[tag]
        return None

    def _unknown_keys(
        self,
        data: Mapping[str, Any],
        cls: type[msgspec.Struct],
        fields: Mapping[str, Any],
        key: str,
        device: str,
    ) -> None:
        tag_field = cls.__struct_config__.tag_field
        allowed = sorted([*fields, *([tag_field] if tag_field else [])])
        for name in data:
            if name in allowed:
                continue
            close = difflib.get_close_matches(str(name), allowed, n=1)
            known = ", ".join(allowed)
            fix = (
                _("did you mean '{close}'? allowed here: {allowed}").format(close=close[0], allowed=known)
                if close
                else _("allowed here: {allowed}").format(allowed=known)
            )
            self.add(join_key(key, str(name)), _("is not a known key"), fix, device)

    def _build(self, cls: type[msgspec.Struct], values: dict[str, Any], key: str, device: str) -> Any:
        """The section itself, with its own checks (`__post_init__`, then `problems()`)."""
        try:
            built = cls(**values)
        except ConfigError as exc:
            self.problems.extend(p.under(key, device) for p in exc.problems)
            return _BAD
        except (ValueError, TypeError) as exc:
            self.add(key, str(exc), device=device, about=False)
            return _BAD
        relations = getattr(built, "problems", None)
        if callable(relations):  # a relation gone wrong is a problem, but the section is whole
            self.problems.extend(p.under(key, device) for p in relations())
        return built

    # -- values --------------------------------------------------------------------------------
    def value(self, data: Any, tp: Any, key: str, device: str) -> Any:
        base = _unannotated(tp)
        origin = get_origin(base)
        if _is_struct(base):
            return self.struct(data, base, key, device)
        if origin in (Union, types.UnionType):
            structs = [a for a in get_args(base) if _is_struct(a)]
            if structs and isinstance(data, Mapping):
                chosen = self._one_of(structs, data, key, device)
                return _BAD if chosen is None else self.struct(data, chosen, key, device)
        if origin is list and _holds_struct(get_args(base)[0]) and isinstance(data, list):
            return self._items(data, get_args(base)[0], key, device)
        if origin is dict and isinstance(data, Mapping):
            return self._entries(data, base, key, device)
        return self._leaf(data, tp, key, device)

    def _one_of(
        self, structs: list[type[msgspec.Struct]], data: Mapping[str, Any], key: str, device: str
    ) -> type[msgspec.Struct] | None:
        """The struct of a union a section is meant as: the one its tag names, or the only one."""
        tagged = {c.__struct_config__.tag: c for c in structs if c.__struct_config__.tag_field}
        if not tagged:
            return structs[0]
        tag_field = structs[0].__struct_config__.tag_field or "type"
        tag = data.get(tag_field)
        if tag in tagged:
            return tagged[tag]
        choices = _("use one of: {choices}").format(choices=", ".join(str(t) for t in tagged))
        self.add(join_key(key, tag_field), _("is missing") if tag is None else _is(tag), choices, device)
        return None

    def _items(self, data: list[Any], item: Any, key: str, device: str) -> Any:
        """List items one by one; labelled ones (`config_label`) are named by their `name`."""
        label = getattr(_unannotated(item), "config_label", "")
        first: dict[str, int] = {}
        out: list[Any] = []
        for i, entry in enumerate(data):
            name = entry.get("name") if isinstance(entry, Mapping) else None
            if not (label and isinstance(name, str) and name):
                out.append(self.value(entry, item, f"{key}[{i}]", device))
                continue
            if name in first:
                self.add(
                    f"{key}[{i}].name",
                    _("is {name!r}, the name of {other} too").format(
                        name=name, other=f"{key}[{first[name]}]"
                    ),
                    _("give every {label} its own name").format(label=_(label)),
                )
                named = _("{label} {name!r}").format(label=_(label), name=name)
                out.append(self.value(entry, item, "", f"{named} ({key}[{i}])"))
                continue
            first[name] = i
            out.append(self.value(entry, item, "", _("{label} {name!r}").format(label=_(label), name=name)))
        return _BAD if any(isinstance(v, _Bad) for v in out) else out

    def _entries(self, data: Mapping[Any, Any], tp: Any, key: str, device: str) -> Any:
        """Dict entries one by one, so a problem names its entry (msgspec says only `$[...]`)."""
        key_type, value_type = get_args(tp) or (Any, Any)
        out: dict[Any, Any] = {}
        for name, entry in data.items():
            where = join_key(key, str(name))
            try:
                (k,) = msgspec.convert({name: None}, types.GenericAlias(dict, (key_type, Any)), str_keys=True)
            except msgspec.ValidationError:
                self.add(
                    where, _("is not a valid key here"), _("use {what}").format(what=noun(key_type)), device
                )
                continue
            value = self.value(entry, value_type, where, device)
            if not isinstance(value, _Bad):
                out[k] = value
        return _BAD if len(out) < len(data) else out

    def _leaf(self, data: Any, tp: Any, key: str, device: str) -> Any:
        try:
            return msgspec.convert(data, tp, str_keys=True)
        except msgspec.ValidationError as exc:
            self.problems.append(explain(exc, data, tp, key, device))
            return _BAD


def _is(value: Any) -> str:
    """ "is 'v3'": the value a key holds, as it reads in the file."""
    return _("is {value}").format(value=shown(value))


def _unannotated(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _holds_struct(tp: Any) -> bool:
    base = _unannotated(tp)
    return _is_struct(base) or any(_is_struct(a) for a in get_args(base))
