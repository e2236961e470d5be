"""The report's quality section, read back from the printed PDF: DHU and the defects found most,
from the defects the simulated line's QC table recorded during the run."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from analytics.dhu import top_types
from tests.report.conftest import ReportDB
from tonle.app.report import make_report
from tonle.io.influxql import InfluxQLClient

pytestmark = pytest.mark.services

FROM, TO = "2026-05-29T03:30", "2026-05-29T05:25"  # as tests/report/test_report.py


def _stored_defects(db: ReportDB, start_ns: int, end_ns: int) -> dict[str, int]:
    async def read() -> dict[str, int]:
        async with InfluxQLClient(db.url, db.database) as q:
            rows = await q.query(
                f'SELECT sum("count") FROM defects WHERE time >= {start_ns} AND time < {end_ns} '
                "GROUP BY defect_type"
            )
        return {s.tags["defect_type"]: int(s.values[0][1]) for s in rows}

    return asyncio.run(read())


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_the_pdf_shows_dhu_and_the_defects_found_most(report_db: ReportDB, tmp_path: Path) -> None:
    rep = make_report(report_db.cfg, "L1", FROM, TO, tmp_path / "report.pdf")
    text = subprocess.run(
        ["pdftotext", str(rep.path), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    q = rep.data.quality
    assert q is not None
    start_ns = int(rep.data.start.timestamp() * 1e9)
    end_ns = int(rep.data.end.timestamp() * 1e9)
    stored = _stored_defects(report_db, start_ns, end_ns)
    assert stored and q.by_type == stored, "the section counts every defect stored in the range"
    assert q.checked == rep.data.figures.output_total > 0
    assert "Quality at the end-of-line check:" in flat
    dhu = 100 * sum(stored.values()) / q.checked
    found = re.search(
        r"DHU (\d+(?:\.\d)?) \(defects per 100 pieces\): (\d+) defects? in (\d+) pieces made", flat
    )
    assert found, flat[-1500:]
    assert float(found[1]) == pytest.approx(dhu, abs=0.05)
    assert (int(found[2]), int(found[3])) == (sum(stored.values()), round(q.checked))
    (top_type, top_count), *_ = top_types(stored)
    assert f"Found most: {top_type} {top_count}" in flat
