"""Finding and reading the public data files the studies run on.

The data directory is always the caller's: the tests pass their copies in `tests/data`,
`python -m validation.pdm --data DIR` and `bench/pdm_validation.py --data DIR` whatever
folder holds the originals or held-out files of the same families. Each file may sit
there as is or gzip-compressed (``name.gz``, how `tests/data` keeps them small).
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import IO

import numpy as np

from tonle.errors import TonleError

__all__ = ["FAMILIES", "DataNotFound", "data_dir", "open_data", "read_csv"]

FAMILIES = ("cwru_bearing", "ims_bearing", "cmapss_fd001", "ai4i2020")
"""The data-set folders a data directory holds (one per study)."""

_NO_FOLDER = "the data directory {path} does not exist"
_NO_FILE = "{path} (or {gz}) not found"
_FIX = (
    "pass --data pointing at the folder that holds " + ", ".join(f"{f}/" for f in FAMILIES) + " "
    "(the repository keeps copies in tests/data)"
)


class DataNotFound(TonleError):
    """A data directory or a data file is not where the caller said."""

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message, fix=_FIX, path=path)
        self.path = path


def data_dir(path: Path | str) -> Path:
    """`path` as a Path, refused at once (not on the first file read) if it is not a folder."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataNotFound(_NO_FOLDER.format(path=folder), path=folder)
    return folder


def open_data(path: Path) -> IO[bytes]:
    """The file or its gzip copy (``name.gz``), whichever exists."""
    if path.exists():
        return path.open("rb")
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return io.BytesIO(gzip.decompress(gz.read_bytes()))
    raise DataNotFound(_NO_FILE.format(path=path, gz=gz.name), path=path)


def read_csv(path: Path) -> dict[str, np.ndarray]:
    """Columns of a CSV as string arrays (convert where used)."""
    with io.TextIOWrapper(open_data(path), encoding="utf-8") as text:
        rows = list(csv.reader(text))
    header, body = rows[0], np.array(rows[1:], dtype=str)
    return {name: body[:, i] for i, name in enumerate(header)}
