"""Every sentence the code marks for the catalogue has its Khmer, with the same {placeholders}.

The catalogue is extracted the way `pybabel extract -F babel.cfg` does (Babel's Python API,
in-process, the mapping read from babel.cfg), so a sentence added with `_()` or `N_()` and
no Khmer entry fails here, naming the msgids a translator has to add.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
KHMER_PO = ROOT / "tonle" / "locale" / "km" / "LC_MESSAGES" / "tonle.po"
SHOWN = 20  # msgids named in a failure: enough for a translator to start


def extracted(root: Path = ROOT) -> Catalog:
    """The template `pybabel extract -F babel.cfg -o tonle.pot .` would write, run from `root`."""
    with (root / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f, str(root / "babel.cfg"))
    catalog = Catalog(domain="tonle")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def khmer(po: Path = KHMER_PO) -> Catalog:
    with po.open("rb") as f:
        return read_po(f, locale="km", domain="tonle")


def fields(text: str) -> list[str]:
    """The `{placeholders}` of a sentence as str.format reads them, format spec and all."""
    found = []
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is not None:
            found.append(f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}")
    return sorted(found)


def _texts(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [v for v in value]


def untranslated(template: Catalog, translated: Catalog) -> list[str]:
    """The msgids of `template` that `translated` lacks, or holds with an empty msgstr."""
    missing = []
    for message in template:
        if not message.id:
            continue
        entry = translated.get(message.id, context=message.context)
        if entry is None or not all(_texts(entry.string)) or not _texts(entry.string):
            missing.append(_texts(message.id)[0])
    return missing


def mismatched(translated: Catalog) -> list[str]:
    """Entries whose msgstr has other `{placeholders}` than the English (each form, each plural)."""
    wrong = []
    for entry in translated:
        if not entry.id:
            continue
        english = fields(_texts(entry.id)[0])
        for text in _texts(entry.string):
            if text and fields(text) != english:
                wrong.append(f"{_texts(entry.id)[0]!r}: English {english}, Khmer {fields(text)}")
    return wrong


def _named(items: list[str], what: str) -> str:
    shown = "\n  ".join(repr(i) for i in items[:SHOWN])
    more = f"\n  ... and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return f"{len(items)} {what} in {KHMER_PO.relative_to(ROOT)}:\n  {shown}{more}"


def test_every_extracted_sentence_has_a_khmer_entry() -> None:
    missing = untranslated(extracted(), khmer())
    assert not missing, _named(missing, "msgids have no Khmer entry")


def test_every_khmer_entry_keeps_the_placeholders_of_the_english() -> None:
    wrong = mismatched(khmer())
    assert not wrong, _named(wrong, "entries change the {placeholders}")


def test_the_extraction_matches_what_pybabel_extract_writes(pybabel_template: Catalog) -> None:
    by_pybabel = {_texts(m.id)[0] for m in pybabel_template if m.id}
    assert {_texts(m.id)[0] for m in extracted() if m.id} == by_pybabel


# -- the checks can fail: a new sentence without Khmer, a translation that renames a field ----


def _po(tmp_path: Path, entries: dict[str, str]) -> Path:
    lines = ['msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=UTF-8\\n"', ""]
    for msgid, msgstr in entries.items():
        lines += [f'msgid "{msgid}"', f'msgstr "{msgstr}"', ""]
    po = tmp_path / "tonle.po"
    po.write_text("\n".join(lines), encoding="utf-8")
    return po


def test_a_sentence_marked_in_the_code_without_khmer_is_named(tmp_path: Path) -> None:
    (tmp_path / "babel.cfg").write_text("[python: tonle/**.py]\n")
    (tmp_path / "tonle").mkdir()
    (tmp_path / "tonle" / "gauge.py").write_text(
        "from tonle.messages import N_, _\n"
        "HELP = _('show the gauge')\n"
        "LATE = N_('gauge {name} is late by {seconds:.0f} s')\n"
        "EMPTY = _('the gauge is empty')\n"
    )
    po = _po(tmp_path, {"show the gauge": "បង្ហាញរង្វាស់", "the gauge is empty": ""})
    assert untranslated(extracted(tmp_path), khmer(po)) == [
        "gauge {name} is late by {seconds:.0f} s",
        "the gauge is empty",
    ]
    with pytest.raises(AssertionError, match="2 msgids have no Khmer entry"):
        missing = untranslated(extracted(tmp_path), khmer(po))
        assert not missing, _named(missing, "msgids have no Khmer entry")


def test_a_translation_that_renames_or_drops_a_placeholder_is_named(tmp_path: Path) -> None:
    po = _po(
        tmp_path,
        {
            "gauge {name} is late by {seconds:.0f} s": "រង្វាស់ {nom} យឺត {seconds:.0f} វិនាទី",
            "spool {path}: is closed": "ឃ្លាំងទិន្នន័យបណ្ដោះអាសន្ន បានបិទ",
            "wrote {path}": "បានសរសេរ {path}",
        },
    )
    wrong = mismatched(khmer(po))
    assert [w.split(":")[0] for w in wrong] == ["'gauge {name} is late by {seconds", "'spool {path}"]
