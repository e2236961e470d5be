"""The Khmer dashboards are written from the English ones and the catalogue, never by hand.

dashboards/en/*.json is the one source; dashboards/km/*.json is what `make dashboards`
writes from it and the Khmer catalogue. These tests fail when the committed Khmer files are
stale, when an English text has no Khmer entry, and when the Khmer copy differs from the
English one in anything but its words (queries, layout, colours, thresholds).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tonle.app.dashboards import (
    CONTEXT,
    LOOK_WORDS,
    SOURCE,
    MissingTranslations,
    dashboard_texts,
    generate,
    source_dashboards,
    translations,
)
from tonle.messages import LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]
KHMER = ROOT / "dashboards" / "km"
GLOSSARY = ROOT / "docs" / "glossary.md"
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_KHMER_SCRIPT = re.compile(r"[\u1780-\u17ff]")

ENGLISH = source_dashboards()
KM = translations("km")
TEXTS = sorted({t for dash in ENGLISH.values() for t in dashboard_texts(dash)})


def test_the_committed_khmer_dashboards_are_the_generated_ones() -> None:
    wanted = generate("km")
    committed = {p.name: p.read_text(encoding="utf-8") for p in sorted(KHMER.glob("*.json"))}
    assert set(committed) == set(wanted), "dashboards/km holds other files than dashboards/en"
    stale = [name for name, text in wanted.items() if committed[name] != text]
    assert not stale, f"dashboards/km/{stale} are out of date: run `make dashboards` and commit"


def test_every_english_dashboard_text_has_a_khmer_entry() -> None:
    missing = [t for t in TEXTS if t not in KM]
    assert not missing, f'no msgctxt "{CONTEXT}" entry in the Khmer catalogue for {missing}'


def test_a_text_without_a_khmer_entry_stops_the_generator(tmp_path: Path) -> None:
    """Drop one entry from a copy of the catalogue: the generator names it and writes nothing."""
    po = LOCALE_DIR / "km" / "LC_MESSAGES" / "tonle.po"
    dropped = "Downtime by cause (Pareto)"
    text = po.read_text(encoding="utf-8")
    entry = f'msgctxt "{CONTEXT}"\nmsgid "{dropped}"\n'
    assert entry in text
    copy = tmp_path / "km" / "LC_MESSAGES" / "tonle.po"
    copy.parent.mkdir(parents=True)
    copy.write_text(text.replace(entry, f'msgctxt "{CONTEXT}"\nmsgid "{dropped} (gone)"\n'), encoding="utf-8")
    with pytest.raises(MissingTranslations) as caught:
        generate("km", localedir=tmp_path)
    assert dropped in str(caught.value) and caught.value.data["count"] == 1


@pytest.mark.parametrize("text", [t for t in TEXTS if _VARIABLE.search(t)])
def test_a_translation_keeps_the_grafana_variables_of_its_text(text: str) -> None:
    assert sorted(_VARIABLE.findall(KM[text])) == sorted(_VARIABLE.findall(text)), KM[text]


def test_the_khmer_texts_are_written_in_khmer() -> None:
    """Words, not copies of the English: only names, units and figure names stay as written."""
    english = [t for t in TEXTS if not _KHMER_SCRIPT.search(KM[t])]
    kept = {"Tonle", "OEE", "DHU", "g RMS", "kurtosis", "sigma", "p50 $tag_instance", "p99 $tag_instance"}
    assert set(english) <= kept, f"left in English: {sorted(set(english) - kept)}"


def _glossary() -> dict[str, str]:
    """English term -> the Khmer term (before any explanation in brackets) of docs/glossary.md."""
    terms = {}
    for row in re.findall(r"^\| ([^|]+) \| ([^|]+) \|", GLOSSARY.read_text(encoding="utf-8"), re.M):
        english, khmer = (cell.strip() for cell in row)
        terms[english.split(" (")[0].lower()] = khmer.split(" (")[0]
    return terms


def test_a_text_that_is_a_glossary_term_uses_the_glossary_khmer() -> None:
    glossary = _glossary()
    checked = [t for t in TEXTS if t.lower() in glossary]
    assert len(checked) >= 8, checked  # availability, performance, quality, bottleneck, ...
    wrong = {t: KM[t] for t in checked if glossary[t.lower()] not in KM[t]}
    assert not wrong, f"not the glossary's term: {wrong}"


def _columns_unnamed(query: str) -> str:
    """The query with the names it gives its columns taken out: all a translation may change."""
    return re.sub(r'\bAS\s+"[^"]+"', "AS _", query)


@pytest.mark.parametrize("name", sorted(ENGLISH))
def test_the_khmer_dashboard_differs_from_the_english_only_in_its_words(name: str) -> None:
    english = ENGLISH[name]
    khmer = json.loads((KHMER / name).read_text(encoding="utf-8"))
    assert khmer["uid"] == english["uid"] + "-km" and khmer["tags"] == ["tonle-km"]
    for en_panel, km_panel in zip(english["panels"], khmer["panels"], strict=True):
        where = f"{name}: panel {en_panel['id']}"
        for key in ("id", "type", "gridPos", "datasource", "interval"):
            assert en_panel.get(key) == km_panel.get(key), f"{where}: {key}"
        en_queries = [_columns_unnamed(t["query"]) for t in en_panel["targets"]]
        assert en_queries == [_columns_unnamed(t["query"]) for t in km_panel["targets"]], where
        en_defaults = en_panel.get("fieldConfig", {}).get("defaults", {})
        km_defaults = km_panel.get("fieldConfig", {}).get("defaults", {})
        for key in ("thresholds", "unit", "min", "max", "decimals", "color"):
            assert en_defaults.get(key) == km_defaults.get(key), f"{where}: {key}"
    en_vars, km_vars = english["templating"]["list"], khmer["templating"]["list"]
    assert [{**v, "label": ""} for v in en_vars] == [{**v, "label": ""} for v in km_vars]


def test_pybabel_extract_finds_the_dashboard_texts_with_their_context(tmp_path: Path) -> None:
    """`pybabel extract -F babel.cfg` (the catalogue's tool) reads the English dashboards."""
    work = tmp_path / "repo"
    shutil.copytree(SOURCE, work / "dashboards" / "en")
    shutil.copy(ROOT / "babel.cfg", work / "babel.cfg")
    pot = tmp_path / "tonle.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-o", str(pot), "."],
        cwd=work,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as f:
        found = {m.id for m in read_po(f) if m.id and m.context == CONTEXT}
    assert found == set(TEXTS) - LOOK_WORDS  # those come from tonle/look.py, without a context
