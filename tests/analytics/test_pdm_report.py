"""The validation report takes its data directory from the caller and says plainly when it is wrong.

The studies never fall back on the repository's test data: a missing folder or file is
a `DataNotFound` naming the path and the fix, and the command line prints that sentence
(no traceback) with exit status 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from validation.cwru import load_cwru
from validation.files import DataNotFound
from validation.pdm import main, report


def test_a_missing_data_directory_is_refused_before_any_file_is_read(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(
        DataNotFound, match=r"the data directory .*nowhere does not exist; pass --data"
    ) as err:
        report(missing)
    assert err.value.path == missing


def test_a_missing_file_names_both_forms_it_may_take(tmp_path: Path) -> None:
    with pytest.raises(
        DataNotFound, match=r"ir007_0hp_DE_12k\.npy \(or ir007_0hp_DE_12k\.npy\.gz\) not found"
    ):
        load_cwru(tmp_path, {"inner_race": "ir007_0hp_DE_12k.npy"})


def test_the_command_line_prints_the_sentence_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "does not exist; pass --data pointing at the folder that holds cwru_bearing/" in err
    assert "Traceback" not in err


def test_the_command_line_needs_the_data_directory(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "--data" in capsys.readouterr().err
