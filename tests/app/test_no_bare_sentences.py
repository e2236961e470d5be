"""No sentence a person reads bypasses the catalogue: the source tree is read with `ast`.

A user-facing sentence is the message of a `TonleError` (or a subclass, found by reading
the class definitions) or of a config `Problem`, a `ValueError` raised by a config
section's own check (check-config shows its text), the message of a logging call at info
or above, or the text of a `print` in `tonle/app`. It must come from the catalogue:
wrapped in `_`, `N_`, `ngettext` or `render` (and `.format`ed after), or be a name holding
such a sentence. An f-string or a bare literal with words in it fails here, naming file
and line. (A sentence built into a variable first is not seen: review catches those.)

A literal with fewer than two words in it ("", "-" * 40, "%s", "machine": a kind, a key)
is not a sentence; debug logs are for developers and are not read. Anything else is
exempt only by the short list `EXEMPT` below, each entry with its reason (none today).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("tonle", "edge_agent", "collector", "analytics", "firmware_sim")
CATALOGUE_CALLS = {"_", "N_", "ngettext", "render"}
LOG_LEVELS = {"info", "warning", "warn", "error", "exception", "critical"}
SENTENCE_TYPES = {"Problem": (0, 1, 2)}  # the config checks: key, text, fix (the key is a name)
# A config section's own check raises ValueError from __post_init__; check-config shows its text.
CONFIG_ERRORS = {"ValueError"}
CONFIG_FILES = (
    "tonle/config/",
    "edge_agent/config.py",
    "edge_agent/sources/",
    "firmware_sim/source_config.py",
)
WORD = re.compile(r"[A-Za-z]{2,}\W+[A-Za-z]")  # two words: a sentence; one ("machine") is a name

# (file, the exempt call's first line as written, stripped): each with why it is not for a person.
EXEMPT: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Bare:
    path: str
    line: int
    what: str
    source: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}: {self.source}"


def _sources(root: Path) -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((root / package).rglob("*.py"))


def error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """The names of TonleError and every class that derives from it, read from the class statements."""
    bases: dict[str, set[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {_name(b) for b in node.bases} - {None}
                bases.setdefault(node.name, set()).update(n for n in names if n)
    found = {"TonleError"}
    while True:
        more = {cls for cls, parents in bases.items() if parents & found} - found
        if not more:
            return found
        found |= more


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _from_catalogue(node: ast.expr) -> bool:
    """`_("...")`, `N_(...)`, `ngettext(...)`, `render(...)`, or one of them `.format`ed."""
    if not isinstance(node, ast.Call):
        return False
    if isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _from_catalogue(node.func.value)
    return _name(node.func) in CATALOGUE_CALLS


def is_bare_sentence(node: ast.expr) -> bool:
    """An f-string or a literal with words, alone or as the start of `+` / `%` (not from the catalogue)."""
    if _from_catalogue(node):
        return False
    if isinstance(node, ast.JoinedStr):
        text = "".join(str(v.value) if isinstance(v, ast.Constant) else "x" for v in node.values)
        return bool(WORD.search(text))  # f"{a} is {b}" reads as "x is x": a sentence
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(WORD.search(node.value))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return is_bare_sentence(node.left) or (isinstance(node.op, ast.Add) and is_bare_sentence(node.right))
    return False


def _messages(call: ast.Call, errors: set[str], in_app: bool) -> Iterator[tuple[str, ast.expr]]:
    """The arguments of `call` that a person reads, with what kind of call it is."""
    name = _name(call.func)
    if name in errors:  # every argument: a subclass may take its message second (SpoolError(path, ...))
        yield from ((name, a) for a in call.args)
        for kw in call.keywords:
            if kw.arg in ("message", "fix"):
                yield f"{name}({kw.arg}=)", kw.value
    elif name in SENTENCE_TYPES:
        for i in SENTENCE_TYPES[name][1:]:
            if i < len(call.args):
                yield name, call.args[i]
        for kw in call.keywords:
            if kw.arg in ("text", "fix"):
                yield f"{name}({kw.arg}=)", kw.value
    elif (
        isinstance(call.func, ast.Attribute)
        and call.func.attr in LOG_LEVELS
        and "log" in ast.unparse(call.func.value).lower()
        and call.args
    ):
        yield f"log.{call.func.attr}", call.args[0]
    elif in_app and name == "print" and isinstance(call.func, ast.Name):
        yield from (("print", a) for a in call.args)


def bare_sentences(root: Path = ROOT, exempt: Mapping[tuple[str, str], str] = EXEMPT) -> list[Bare]:
    trees = {p: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in _sources(root)}
    errors = error_classes(trees)
    found = []
    for path, tree in trees.items():
        rel = path.relative_to(root).as_posix()
        in_app = rel.startswith("tonle/app/")
        kinds = errors | CONFIG_ERRORS if rel.startswith(CONFIG_FILES) else errors
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for what, arg in _messages(node, kinds, in_app):
                if arg is None or not is_bare_sentence(arg):
                    continue
                first = lines[node.lineno - 1].strip()
                if (rel, first) not in exempt:
                    found.append(Bare(rel, node.lineno, what, ast.unparse(arg)[:100]))
    return found


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _own(node: ast.AST, skip: tuple[type, ...]) -> Iterator[ast.AST]:
    """The nodes of a function's body, not those of the scopes nested in it (`skip`)."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, skip):
            yield from _own(child, skip)


def shadowed_catalogue(root: Path = ROOT) -> list[str]:
    """Functions that bind `_` as a local (`x, _ = ...`) and also call `_()`: the call would fail."""
    found = []
    for path in _sources(root):
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            binds = any(
                isinstance(n, ast.Name) and n.id == "_" and isinstance(n.ctx, ast.Store)
                for n in _own(fn, _SCOPES + _COMPREHENSIONS)
            )
            calls = any(isinstance(n, ast.Call) and _name(n.func) == "_" for n in _own(fn, _SCOPES))
            if binds and calls:
                found.append(f"{path.relative_to(root).as_posix()}:{fn.lineno} {fn.name}")
    return found


def test_no_function_hides_the_catalogue_behind_a_local_underscore(tmp_path: Path) -> None:
    assert shadowed_catalogue() == []
    (tmp_path / "tonle").mkdir()
    (tmp_path / "tonle" / "gauge.py").write_text(
        "def read(spool):\n    (first, *_) = spool.peek()\n    log.info(_('read {n}').format(n=first))\n"
        "def fine(rows):\n    return [_('row {r}').format(r=r) for r, _x in rows if [0 for _ in rows]]\n"
    )
    assert shadowed_catalogue(tmp_path) == ["tonle/gauge.py:1 read"]


def test_every_user_facing_sentence_comes_from_the_catalogue() -> None:
    found = bare_sentences()
    assert not found, (
        f"{len(found)} sentences bypass the catalogue (use _(), or N_() + render):\n"
        + "\n".join(str(b) for b in found)
    )


def stale_exemptions(root: Path = ROOT, exempt: Mapping[tuple[str, str], str] = EXEMPT) -> list[str]:
    """Exemptions without a reason, or whose line is no longer in the source."""
    stale = []
    for (rel, first), why in exempt.items():
        path = root / rel
        lines = (
            [line.strip() for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
        )
        if not why or first not in lines:
            stale.append(f"{rel}: {first!r}")
    return stale


def test_every_exemption_has_a_reason_and_still_names_a_line_of_the_source() -> None:
    assert stale_exemptions() == []


def test_an_exemption_lets_one_line_through_and_goes_stale_when_the_line_goes(tmp_path: Path) -> None:
    (tmp_path / "tonle" / "app").mkdir(parents=True)
    gauge = tmp_path / "tonle" / "app" / "gauge.py"
    gauge.write_text("print('gauge is late')\nprint('gauge is early')\n")
    exempt = {("tonle/app/gauge.py", "print('gauge is late')"): "a made-up reason"}
    assert [b.line for b in bare_sentences(tmp_path, exempt)] == [2]
    assert stale_exemptions(tmp_path, exempt) == []
    gauge.write_text("print('gauge is early')\n")
    assert stale_exemptions(tmp_path, exempt) == ["tonle/app/gauge.py: \"print('gauge is late')\""]
    assert stale_exemptions(tmp_path, {("tonle/app/gauge.py", "print('gauge is early')"): ""}) != []


# -- the walker can fail: each kind of bare sentence in a made-up package is named ---------------


@pytest.mark.parametrize(
    ("code", "what"),
    [
        ("class GaugeError(TonleError): ...\nraise GaugeError(f'gauge {n} is late')", "GaugeError"),
        ("class A(TonleError): ...\nclass B(A): ...\nraise B('gauge is late')", "B"),
        ("raise TonleError(_('gauge is late'), fix=f'wait {n} s')", "TonleError(fix=)"),
        ("Problem('port', _('is {p}').format(p=p), f'use port {p + 1}')", "Problem"),
        ("log.warning('gauge %s is late', name)", "log.warning"),
        ("self._log.error(f'gauge {n} is late')", "log.error"),
        ("logging.info('gauge ' + name + ' is late')", "log.info"),
        ("print(f'gauge {n}: late')", "print"),
    ],
)
def test_a_sentence_outside_the_catalogue_is_named(tmp_path: Path, code: str, what: str) -> None:
    (tmp_path / "tonle" / "app").mkdir(parents=True)
    (tmp_path / "tonle" / "app" / "gauge.py").write_text(code + "\n")
    found = bare_sentences(tmp_path)
    assert [(b.path, b.what) for b in found] == [("tonle/app/gauge.py", what)]


def test_a_config_sections_value_error_is_a_sentence_and_a_kernels_is_not(tmp_path: Path) -> None:
    for package in ("config", "kernels"):
        (tmp_path / "tonle" / package).mkdir(parents=True)
        (tmp_path / "tonle" / package / "gauge.py").write_text(
            "raise ValueError(f'gauge {n} must be above 0')\n"
        )
    found = bare_sentences(tmp_path)
    assert [(b.path, b.what) for b in found] == [("tonle/config/gauge.py", "ValueError")]


@pytest.mark.parametrize(
    "code",
    [
        "raise TonleError(N_('gauge {n} is late'), fix=N_('wait'), n=n)",
        "log.info(_('gauge {n} is late').format(n=n))",
        "log.debug(f'gauge {n} frame {raw!r}')",  # debug: for a developer
        "print(json.dumps(summary))",
        "print('-' * 40)",
        "print(ngettext('{n} gauge', '{n} gauges', n).format(n=n))",
        "Problem(f'devices[{i}].unit', _('is {unit}').format(unit=u), _('use another'))",
    ],
)
def test_a_sentence_from_the_catalogue_passes(tmp_path: Path, code: str) -> None:
    (tmp_path / "tonle" / "app").mkdir(parents=True)
    (tmp_path / "tonle" / "app" / "gauge.py").write_text(code + "\n")
    assert bare_sentences(tmp_path) == []
