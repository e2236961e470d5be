"""A shift report of a finished demo run, for a trainer (docs/trainer.md).

    .venv/bin/python examples/demo_report.py                      # the newest run in ./run
    .venv/bin/python examples/demo_report.py run/demo-20261207-091500 --out L1.pdf

The demo's database stops with the demo, and its password lived only in the demo's
memory. This starts that database again from the run folder, on a free loopback port
and without a password (nobody else can reach it), finds when the run's machines
reported, and runs `tonle report` over that range with examples/demo-report.toml (the
demo line's target and SAM, shifts round the clock). Anything after `--` goes to
`tonle report` as it is (e.g. `-- --lang km`). It prints the command it ran.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from tonle.app.cli import main as tonle
from tonle.app.services import LocalInfluxDB
from tonle.config import load_config

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "demo-report.toml"
NS = 1_000_000_000


def newest_run(parent: Path) -> Path:
    runs = sorted(p for p in parent.glob("demo-*") if (p / "influxdb").is_dir())
    if not runs:
        sys.exit(f"no demo run in {parent}/ (a folder demo-*/influxdb): run `make demo` first")
    return runs[-1]


def run_range(url: str, database: str) -> tuple[int, int]:
    """First and last time (ns) a machine of the run reported a state."""
    ends = []
    for fn in ("FIRST", "LAST"):
        q = f'SELECT {fn}("code") FROM "state"'
        r = httpx.get(f"{url}/query", params={"db": database, "q": q, "epoch": "ns"}, timeout=30)
        series = r.json()["results"][0].get("series")
        if not series:
            sys.exit(f"the run's database holds no machine state ({url}, {database!r})")
        ends.append(int(series[0]["values"][0][0]))
    return ends[0], ends[1]


def local_minute(ns: int, tz: str, up: bool) -> str:
    t = dt.datetime.fromtimestamp(ns / NS, ZoneInfo(tz)).replace(second=0, microsecond=0)
    return (t + dt.timedelta(minutes=1 if up else 0)).strftime("%Y-%m-%dT%H:%M")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="a shift report of a finished demo run")
    p.add_argument("run", type=Path, nargs="?", help="the run folder (default: the newest in ./run)")
    p.add_argument("--out", default="report.pdf", help="report.pdf or report.html (default report.pdf)")
    p.add_argument("--line", default="L1")
    return p


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """This script's arguments, and those after `--` for `tonle report`."""
    cut = argv.index("--") if "--" in argv else len(argv)
    return argv[:cut], argv[cut + 1 :]


def main(argv: list[str]) -> int:
    own, extra = split_args(argv)
    args = parser().parse_args(own)
    run = args.run or newest_run(Path("run"))
    cfg = load_config(CONFIG)
    db = LocalInfluxDB(folder=run.resolve() / "influxdb")  # no auth-enabled: loopback only, for this report
    db.start()
    try:
        os.environ["TONLE_INFLUXDB_URL"] = db.url
        first, last = run_range(db.url, cfg.influxdb.database)
        tz = cfg.analytics.shifts.tz
        cmd = ["report", "--config", str(CONFIG), "--line", args.line]
        cmd += ["--from", local_minute(first, tz, False), "--to", local_minute(last, tz, True)]
        cmd += ["--out", args.out, *extra]
        print(f"TONLE_INFLUXDB_URL={db.url} tonle {' '.join(cmd)}", flush=True)
        return tonle(cmd)
    finally:
        db.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
