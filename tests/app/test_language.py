"""Choosing the language: --lang, then [plant] language, then LANG/LANGUAGE, then English.

The sentence used to see the choice is the report's first check (`--out` must be .html
or .pdf), which `tonle report` says before it opens any database, so these run the real
command without services.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tonle.app.cli import _early_language
from tonle.config import ConfigError, parse_config
from tonle.formats import MISSING, clock, day, long_date, number, percent, stamp
from tonle.messages import _, current_language, language_from_env, set_language, using_language

ENGLISH = "must end in .html or .pdf"
KHMER = "ត្រូវតែបញ្ចប់ដោយ .html ឬ .pdf"
LOCALE_VARS = ("TONLE_LANGUAGE", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "TONLE_PLANT_LANGUAGE")


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    yield
    set_language("en")


def _tonle(
    tmp_path: Path,
    before: tuple[str, ...] = (),
    after: tuple[str, ...] = (),
    language: str | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """stderr of `tonle BEFORE report ... --out r.txt AFTER`, the config's [plant] language `language`."""
    config = tmp_path / "tonle.toml"
    config.write_text(f'[plant]\nlanguage = "{language}"\n' if language else "")
    clean = {k: v for k, v in os.environ.items() if k not in LOCALE_VARS}
    cmd = [sys.executable, "-m", "tonle.app.cli", *before, "report", "--config", str(config)]
    cmd += ["--line", "L1", "--from", "2026-05-29", "--to", "2026-05-29", "--out", "r.txt", *after]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**clean, **(env or {})}, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    return r.stderr


def test_without_any_choice_tonle_speaks_english(tmp_path: Path) -> None:
    assert ENGLISH in _tonle(tmp_path)


def test_lang_km_before_or_after_the_sub_command_chooses_khmer(tmp_path: Path) -> None:
    assert KHMER in _tonle(tmp_path, before=("--lang=km",))
    assert KHMER in _tonle(tmp_path, after=("--lang", "km"))


def test_lang_wins_over_the_config_which_wins_over_the_environment(tmp_path: Path) -> None:
    khmer_desktop = {"LANG": "km_KH.UTF-8"}
    assert KHMER in _tonle(tmp_path, env=khmer_desktop)  # environment alone
    assert ENGLISH in _tonle(tmp_path, language="en", env=khmer_desktop)  # config over environment
    assert KHMER in _tonle(tmp_path, language="km")  # config alone
    assert ENGLISH in _tonle(
        tmp_path, before=("--lang=en",), language="km", env=khmer_desktop
    )  # --lang over both
    assert KHMER in _tonle(tmp_path, env={"LANGUAGE": "fr:km", "LANG": "en_US.UTF-8"})


def test_a_wrong_plant_language_names_the_key_and_the_fix() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"plant": {"language": "khmer"}}, env={})
    assert str(err.value) == "config: 'plant.language' is 'khmer'; use one of: en, km"
    assert parse_config({}, env={"TONLE_PLANT_LANGUAGE": "km"}).plant.language == "km"
    assert parse_config({}, env={}).plant.language is None  # unset: the environment decides


def test_an_unknown_lang_is_refused_by_the_command_line(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "tonle.app.cli", "--lang", "fr", "report", "--help"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "invalid choice: 'fr'" in r.stderr
    assert _early_language(["report", "--lang", "fr"]) is None
    assert _early_language(["report", "--out", "x.pdf", "--lang", "km"]) == "km"


def test_the_environment_is_read_as_gettext_reads_it() -> None:
    assert language_from_env({"LANG": "km_KH.UTF-8"}) == "km"
    assert language_from_env({"LANGUAGE": "km", "LANG": "en_US.UTF-8"}) == "km"
    assert language_from_env({"LC_ALL": "C", "LANG": "km_KH.UTF-8"}) == "en"  # the first one set decides
    assert language_from_env({"LANGUAGE": "de:fr"}) == "en"
    assert language_from_env({"TONLE_LANGUAGE": "en", "LANG": "km_KH"}) == "en"
    assert language_from_env({}) == "en"


def test_the_khmer_catalogue_is_read_from_its_po_file() -> None:
    with using_language("km") as lang:
        assert lang == current_language() == "km"
        assert _("Maintenance alerts") == "ការជូនដំណឹងថែទាំ"
    assert current_language() == "en" and _("Maintenance alerts") == "Maintenance alerts"


def test_numbers_and_dates_follow_the_language_with_arabic_digits() -> None:
    t = dt.datetime(2026, 5, 29, 3, 30)
    with using_language("en"):
        assert (number(1234.5678, 3), percent(0.634), number(float("nan"))) == ("1,234.568", "63%", MISSING)
        assert (long_date(t), day(t), day(t, year=True)) == (
            "Friday 29 May 2026",
            "Fri 29 May",
            "Fri 29 May 2026",
        )
    with using_language("km"):
        assert (number(1234.5678, 3), percent(0.634)) == ("1,234.568", "63%")
        assert long_date(t) == "សុក្រ 29 ឧសភា 2026"
        assert day(t) == "សុក្រ 29 ឧសភា"
        assert (clock(t), stamp(t)) == ("03:30", "2026-05-29 03:30")  # 24-hour and ISO in both
    # Python rounds, so a figure never differs between the languages.
    for x in (0.125, 2.675, 0.5, 1.5):
        with using_language("en"):
            en = number(x, 2), number(x)
        with using_language("km"):
            assert (number(x, 2), number(x)) == en == (f"{x:.2f}", f"{x:.0f}")
