"""`python -m analytics.pdm_validate DATA` scores the public API on the data folder it is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.pdm_validate import BEGIN, END, cwru_section, ims_section, main

DATA = Path(__file__).resolve().parents[1] / "data"


def test_cwru_tables_hold_every_protocol_and_every_record_present() -> None:
    text = "\n".join(cwru_section(DATA))
    assert "leave one fault class out" in text and "leave one severity out" in text
    assert "| normal DE | 0 | 0 | 0 | 0 | 0 | 7 | 7/7 |" in text  # healthy windows are never given a fault
    assert "| inner_race DE | 0 | 14 | 0 | 0 | 0 | 0 | 14/14 |" in text
    assert "| outer_race DE | 14 | 0 | 0 | 0 | 0 | 0 | 14/14 |" in text


def test_ims_shows_the_stop_and_restart_case() -> None:
    rows = [r.split("|")[1:-1] for r in ims_section(DATA) if r[:4] in ("| 1 ", "| 2 ", "| 3 ", "| 4 ")]
    assert len(rows) == 4 and rows[0][1].strip() == "0 of 500"
    for bearing, _plain, up, down, rise, rise_after in rows:
        assert up.strip().startswith("0 of ") and down.strip().startswith("0 of "), bearing  # restarts
        assert int(rise) > 0 and int(rise_after) > 0, bearing  # wear alarms, before and after a stop


def test_a_missing_folder_is_one_sentence_and_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err


def test_only_the_generated_section_is_rewritten(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(f"before\n{BEGIN}\nold\n{END}\nafter\n", encoding="utf-8")
    empty = tmp_path / "data"
    empty.mkdir()
    assert main([str(empty), "--doc", str(doc)]) == 2  # no CWRU data: refused, doc untouched
    assert doc.read_text(encoding="utf-8") == f"before\n{BEGIN}\nold\n{END}\nafter\n"
