"""The Grafana dashboards in every language, made from the English ones and the catalogue.

`dashboards/en/*.json` are the only dashboards anyone edits. Each other language's set
(`dashboards/km/*.json`) is written from them by `make dashboards` (`python -m
tonle.app.dashboards`), every text a person reads looked up in that language's catalogue
under the context `CONTEXT`, so two hand-kept copies can never drift apart. The queries
stay the same, except the names the columns are given (`AS "Availability"`): Grafana shows
a column's name in legends and table headers, so the name is translated too, and every
place that names that column (overrides, sorting, table layout) follows it.

`pybabel extract` finds the texts through `extract_babel` (babel.cfg names it by its
dotted path); a text with no translation stops the generator, naming every one missing.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from tonle.app.dashboard_look import apply_look
from tonle.errors import TonleError
from tonle.look import SEVERITY, STATES
from tonle.messages import DOMAIN, LOCALE_DIR, N_, _

__all__ = [
    "CONTEXT",
    "SOURCE",
    "MissingTranslations",
    "dashboard_texts",
    "extract_babel",
    "generate",
    "localise",
    "main",
    "stamp_source",
    "translations",
]

CONTEXT = "grafana dashboard"  # msgctxt of every dashboard text: "Line" here is not "Line" there
ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
SOURCE = DASHBOARDS / "en"
TRANSLATED = ("km",)  # the languages written from SOURCE

LOOK_WORDS = frozenset(STATES.values()) | frozenset(SEVERITY.values())
Translate = Callable[[str], str]
_VARIABLE = re.compile(r"\$\{?\w+\}?")  # $tag_machine, ${line}: Grafana fills these in
_ALIAS = re.compile(r'\bAS\s+"([^"]+)"')
_NAME_REGEX = re.compile(r"/(\^\()?(.*?)(\)\$)?/")  # /^(OEE|Quality)$/ or /Bottleneck/


class MissingTranslations(TonleError):
    """A dashboard text has no entry in a language's catalogue."""


def is_text(value: object) -> bool:
    """A string a person reads: it has a letter once Grafana's $variables are taken out."""
    return isinstance(value, str) and any(c.isalpha() for c in _VARIABLE.sub("", value))


# -- which names a query gives its columns -----------------------------------------------------


def shown_names(query: str) -> list[str]:
    """The column names a query gives (`AS "..."`) that nothing else in it refers to.

    An inner query's name read by the outer one (`sum("n") ... AS "n"`) or a name equal to
    a field it reads (`last("missing") AS "missing"`) is part of the query, not a label, and
    is never renamed.
    """
    names = []
    for name in dict.fromkeys(_ALIAS.findall(query)):
        as_count = len(re.findall(rf'\bAS\s+"{re.escape(name)}"', query))
        if query.count(f'"{name}"') == as_count:
            names.append(name)
    return names


def rename_columns(query: str, names: dict[str, str]) -> str:
    """The query with the shown column names replaced, nothing else touched."""
    shown = set(shown_names(query))

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        return f'AS "{names[name]}"' if name in shown and name in names else m.group(0)

    return _ALIAS.sub(sub, query)


def _name_regex(pattern: str, names: dict[str, str]) -> str:
    """A field-name regex (`/^(OEE|Quality)$/`) naming the renamed columns."""
    m = _NAME_REGEX.fullmatch(pattern)
    if not m:
        return names.get(pattern, pattern)
    parts = [re.escape(names[p]) if p in names else p for p in m.group(2).split("|")]
    return f"/{m.group(1) or ''}{'|'.join(parts)}{m.group(3) or ''}/"


# -- the walk over a dashboard: one place says which strings are text ---------------------------


def localise(dashboard: dict[str, Any], tr: Translate, language: str) -> dict[str, Any]:
    """`dashboard` with every text a person reads passed through `tr`, as its `language` copy.

    The copy has its own uid and tag (`-km`), so both sets live in one Grafana and the
    dashboard links stay within a language.
    """
    out = copy.deepcopy(dashboard)
    for key in ("title", "description"):
        out[key] = _tr(out.get(key), tr)
    out["uid"] = f"{dashboard['uid']}-{language}"
    out["tags"] = [f"{t}-{language}" for t in dashboard.get("tags", [])]
    for link in out.get("links", []):
        link["tags"] = [f"{t}-{language}" for t in link.get("tags", [])]
        for key in ("title", "tooltip"):
            link[key] = _tr(link.get(key), tr)
    for annotation in out.get("annotations", {}).get("list", []):
        annotation["name"] = _tr(annotation.get("name"), tr)
    for var in out.get("templating", {}).get("list", []):
        var["label"] = _tr(var.get("label"), tr)
    for panel in out.get("panels", []):
        _panel(panel, tr)
    return out


def _tr(value: Any, tr: Translate) -> Any:
    return tr(value) if is_text(value) else value


def _panel(panel: dict[str, Any], tr: Translate) -> None:
    names = _panel_names(panel, tr)
    for key in ("title", "description"):
        panel[key] = _tr(panel.get(key), tr)
    for target in panel.get("targets", []):
        target["query"] = rename_columns(target["query"], names)
        if "alias" in target:
            target["alias"] = _tr(target["alias"], tr)
    fields = panel.get("fieldConfig", {})
    _field_config(fields.get("defaults", {}), tr)
    for override in fields.get("overrides", []):
        matcher = override.get("matcher", {})
        if matcher.get("id") in ("byName", "byRegexp") and isinstance(matcher.get("options"), str):
            matcher["options"] = _name_regex(matcher["options"], names)
        for prop in override.get("properties", []):
            if prop.get("id") in ("displayName", "custom.axisLabel"):
                prop["value"] = _tr(prop.get("value"), tr)
            elif prop.get("id") == "mappings":
                _mappings(prop.get("value", []), tr)
    _options(panel.get("options", {}), names)
    for step in panel.get("transformations", []):
        _transformation(step.get("options", {}), names, tr)
    if panel.get("type") == "table":
        # InfluxDB names the time column "Time"; a table shows it as a header. Last, so the
        # overrides above still find the column by the name the query gave it.
        header = {"id": "displayName", "value": tr("Time")}
        fields.setdefault("overrides", []).append(
            {"matcher": {"id": "byName", "options": "Time"}, "properties": [header]}
        )


def _panel_names(panel: dict[str, Any], tr: Translate) -> dict[str, str]:
    """Column name -> its translation: the names the queries give and the tables rename to."""
    names = {n: tr(n) for t in panel.get("targets", []) for n in shown_names(t["query"]) if is_text(n)}
    for step in panel.get("transformations", []):
        renamed = step.get("options", {}).get("renameByName", {})
        names.update({v: tr(v) for v in renamed.values() if is_text(v)})
    for name, translated in names.items():
        if '"' in translated or "\\" in translated:
            raise MissingTranslations(
                N_('the translation of the column name "{name}" holds a quote or a backslash'),
                fix=N_("write it without them: it is a column name in an InfluxQL query"),
                name=name,
            )
    return names


def _field_config(config: dict[str, Any], tr: Translate) -> None:
    custom = config.get("custom", {})
    if "axisLabel" in custom:
        custom["axisLabel"] = _tr(custom["axisLabel"], tr)
    if "displayName" in config:
        config["displayName"] = _tr(config["displayName"], tr)
    _mappings(config.get("mappings", []), tr)


def _mappings(mappings: list[dict[str, Any]], tr: Translate) -> None:
    """Value mappings: the text shown instead of a value (a state code, a status)."""
    for mapping in mappings:
        options = mapping.get("options", {})
        results = options.values() if mapping.get("type") == "value" else [options.get("result", {})]
        for result in results:
            if "text" in result:
                result["text"] = _tr(result["text"], tr)


def _options(options: dict[str, Any], names: dict[str, str]) -> None:
    for sort in options.get("sortBy", []):
        sort["displayName"] = names.get(sort.get("displayName"), sort.get("displayName"))
    reduce = options.get("reduceOptions", {})
    if reduce.get("fields"):
        reduce["fields"] = _name_regex(reduce["fields"], names)
    if "xField" in options:
        options["xField"] = names.get(options["xField"], options["xField"])


def _transformation(options: dict[str, Any], names: dict[str, str], tr: Translate) -> None:
    for key in ("indexByName", "excludeByName"):
        if key in options:
            options[key] = {names.get(k, k): v for k, v in options[key].items()}
    if "renameByName" in options:
        options["renameByName"] = {k: _tr(v, tr) for k, v in options["renameByName"].items()}
    for sort in options.get("sort", []):
        sort["field"] = names.get(sort.get("field"), sort.get("field"))


# -- texts, catalogue, files -------------------------------------------------------------------


def dashboard_texts(dashboard: dict[str, Any]) -> list[str]:
    """Every text of a dashboard a person reads, in order, each once (the catalogue's msgids)."""
    seen: dict[str, None] = {}

    def record(text: str) -> str:
        seen.setdefault(text)
        return text

    localise(dashboard, record, "en")
    return list(seen)


def source_dashboards(source: Path = SOURCE) -> dict[str, dict[str, Any]]:
    """The English dashboards by file name."""
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(source.glob("*.json"))}


def translations(language: str, localedir: Path = LOCALE_DIR) -> dict[str, str]:
    """The language's dashboard texts: msgid -> msgstr, under `CONTEXT`, fuzzy ones left out;
    the words of `tonle.look` (machine states, alert levels) without a context, as everywhere."""
    from babel.messages.pofile import read_po

    po = localedir / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    found = {
        (m.context, str(m.id)): str(m.string)
        for m in catalog
        if m.id and m.string and not m.fuzzy and isinstance(m.id, str)
    }
    table = {msgid: text for (context, msgid), text in found.items() if context == CONTEXT}
    # State and alert-level words are tonle.look's: the same entries the report and live view show.
    table.update({w: found[(None, w)] for w in LOOK_WORDS if (None, w) in found})
    return table


def generate(language: str, source: Path = SOURCE, localedir: Path = LOCALE_DIR) -> dict[str, str]:
    """File name -> the JSON text of the language's dashboards (as written to disk)."""
    table = translations(language, localedir)
    dashboards = source_dashboards(source)
    missing = sorted({t for d in dashboards.values() for t in dashboard_texts(apply_look(d))} - set(table))
    if missing:
        raise MissingTranslations(
            N_("{count} dashboard texts have no {language} translation: {texts}"),
            fix=N_('add them to tonle/locale/{language}/LC_MESSAGES/tonle.po with msgctxt "{context}"'),
            count=len(missing),
            language=language,
            texts="; ".join(missing),
            context=CONTEXT,
        )
    return {
        name: _dump(localise(apply_look(dash), table.__getitem__, language))
        for name, dash in dashboards.items()
    }


def _dump(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def stamp_source(source: Path = SOURCE, write: bool = True) -> list[Path]:
    """The English dashboards with `tonle.look` stamped in (`apply_look`): the files that were not."""
    stale = []
    for path in sorted(source.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        wanted = _dump(apply_look(json.loads(text)))
        if text != wanted:
            stale.append(path)
            if write:
                path.write_text(wanted, encoding="utf-8")
    return stale


def extract_babel(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, tuple[str, str], list[str]]]:
    """A Babel extractor for the English dashboards (babel.cfg names it)."""
    dashboard = json.loads(fileobj.read().decode("utf-8"))
    for text in dashboard_texts(apply_look(dashboard)):
        if text in LOOK_WORDS:  # extracted from tonle/look.py, without a context
            continue
        yield 1, "pgettext", (CONTEXT, text), [f"dashboard {dashboard['uid']}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tonle.app.dashboards", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="only say whether the files are up to date")
    args = parser.parse_args(argv)
    if not SOURCE.is_dir():
        raise MissingTranslations(
            N_("no English dashboards in {path}"),
            fix=N_("run it from a clone of the Tonle repository"),
            path=str(SOURCE),
        )
    stale = [str(p.relative_to(ROOT)) for p in stamp_source(write=not args.check)]
    for language in TRANSLATED:
        out = DASHBOARDS / language
        wanted = generate(language)
        present = {p.name for p in out.glob("*.json")}
        for name, text in wanted.items():
            path = out / name
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                continue
            stale.append(str(path.relative_to(ROOT)))
            if not args.check:
                out.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        for name in sorted(present - set(wanted)):  # an English dashboard was removed
            stale.append(str((out / name).relative_to(ROOT)))
            if not args.check:
                (out / name).unlink()
    if args.check and stale:
        print(
            _("out of date (run `make dashboards`): {files}").format(files=", ".join(stale)), file=sys.stderr
        )
        return 1
    for path in stale:
        print(_("wrote {path}").format(path=path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
