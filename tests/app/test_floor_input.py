"""`tonle defect add` and `tonle andon ack`, run as a QC inspector runs them: a process, a real
broker, a real collector and a real InfluxDB. What they send is stored; what a person mistypes
is refused with one plain sentence and the fix, and nothing is sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tonle.app.rig import config_for, running_collector, wait_for
from tonle.app.services import LocalBroker, LocalInfluxDB
from tonle.contract.floor import DEFAULT_DEFECT_TYPES
from tonle.io.influxql import InfluxQLClient

pytestmark = pytest.mark.services

TONLE = [sys.executable, "-m", "tonle.app.cli"]


def _toml(broker: LocalBroker, site: str, path: Path) -> Path:
    path.write_text(
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ntls = false\n\n'
        f'[plant]\nsite = "{site}"\narea = "sewing"\n'
        f"defect_types = {json.dumps(list(DEFAULT_DEFECT_TYPES))}\n",
        encoding="utf-8",
    )
    return path


async def _tonle(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONLE_")} | {"LANG": "C.UTF-8"}
    proc = await asyncio.create_subprocess_exec(
        *TONLE, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_a_defect_and_an_andon_ack_typed_at_the_command_line_are_stored(
    broker: LocalBroker, influxdb: LocalInfluxDB, unique_name: str, tmp_path: Path
) -> None:
    cfg = config_for(broker, influxdb, unique_name)
    toml = str(_toml(broker, unique_name, tmp_path / "tonle.toml"))
    where = ["--config", toml, "--line", "L1"]

    async def run() -> tuple[list, list, list[tuple[int, str, str]]]:
        async with running_collector(cfg), InfluxQLClient(influxdb.url, unique_name) as q:
            results = [
                await _tonle("defect", "add", *where, "--station", "QC", "--type", "Broken  Stitch",
                             "--count", "2", "--by", "Sokha"),
                await _tonle("andon", "ack", *where, "--station", "S05", "--by", "Dara", "--note", "belt"),
            ]  # fmt: skip

            async def stored() -> tuple[list, list]:
                return (
                    await q.query('SELECT "count", "by", defect_type, machine FROM defects'),
                    await q.query('SELECT "by", note, machine FROM andon_acks'),
                )

            defects, acks = await wait_for(stored, lambda got: all(got), "the collector to store both")
            return defects, acks, results

    defects, acks, results = asyncio.run(run())
    for code, _out, err in results:
        assert code == 0, err
    assert "recorded at QC of L1 by Sokha" in results[0][1]
    assert "acknowledged by Dara" in results[1][1]
    assert [row[1:] for row in defects[0].values] == [[2, "Sokha", "broken stitch", "QC"]]
    assert [row[1:] for row in acks[0].values] == [["Dara", "belt", "S05"]]


def test_a_defect_type_the_plant_does_not_use_is_refused_with_the_list(
    broker: LocalBroker, tmp_path: Path
) -> None:
    toml = str(_toml(broker, "nowhere", tmp_path / "tonle.toml"))
    code, _out, err = asyncio.run(
        _tonle("defect", "add", "--config", toml, "--line", "L1", "--station", "QC", "--type", "brokn stich")
    )
    assert code == 2 and "Traceback" not in err
    assert "'brokn stich' is not a defect type of this plant" in err
    assert "broken stitch, skipped stitch" in err  # the fix lists what to type


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--type", "stain", "--count", "0"], "--count 0 is not a number of defects"),
        (["--type", "stain", "--station", "S/1"], "the station's address is not valid"),
    ],
)
def test_a_mistyped_defect_is_refused_before_anything_is_sent(
    broker: LocalBroker, tmp_path: Path, args: list[str], says: str
) -> None:
    toml = str(_toml(broker, "nowhere", tmp_path / "tonle.toml"))
    station = [] if "--station" in args else ["--station", "QC"]
    code, _, err = asyncio.run(_tonle("defect", "add", "--config", toml, "--line", "L1", *station, *args))
    assert code == 2 and "Traceback" not in err
    assert says in err
