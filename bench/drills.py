"""Every fault drill of `tonle demo`, N times in a row: the worst `lost`, and what delivery cost.

Each run is the command a trainer types, `tonle demo --headless --drill NAME --duration S`,
in its own folder; the script reads the one-line JSON summary it ends with. Per drill it
prints the worst `lost` (it must be 0), how many runs failed (no summary) or lost data,
the re-send overhead (messages the gateway sent again / messages it spooled, mean and
worst) and the duplicates storage absorbed (messages stored more than once, mean and
worst; the collector's own per-process counter is in the JSON line), as a table and then
one JSON line. The folder of a run that lost data or failed is kept and named in the
output; the others are deleted.

    .venv/bin/python bench/drills.py --runs 10
    .venv/bin/python bench/drills.py --runs 3 --drills broker-outage,power-cut --duration 30
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tonle.app.demo_drills import DRILLS  # noqa: E402

RUN_TIMEOUT_S = 600


@dataclass
class Tally:
    """The runs of one drill."""

    drill: str
    summaries: list[dict[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # kept folders of runs with no summary
    lossy: list[str] = field(default_factory=list)  # kept folders of runs that lost data
    seconds: list[float] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        s = self.summaries
        overhead = [x["resend_overhead"] for x in s]
        dups = [x["stored_more_than_once"] for x in s]
        return {
            "drill": self.drill,
            "runs": len(self.seconds),
            "failed": len(self.failed),
            "runs_with_loss": len(self.lossy),
            "worst_lost": max((x["lost"] for x in s), default=None),
            "samples_mean": round(statistics.mean(x["samples_published"] for x in s)) if s else None,
            "messages_mean": round(statistics.mean(x["messages_spooled"] for x in s)) if s else None,
            "resent_mean": round(statistics.mean(x["resent"] for x in s), 1) if s else None,
            "overhead_mean": round(statistics.mean(overhead), 4) if s else None,
            "overhead_max": max(overhead, default=None),
            "stored_twice_mean": round(statistics.mean(dups), 1) if s else None,
            "stored_twice_max": max(dups, default=None),
            "collector_duplicates_mean": (
                round(statistics.mean(x["duplicates_absorbed"] for x in s), 1) if s else None
            ),
            "seconds_mean": round(statistics.mean(self.seconds), 1) if self.seconds else None,
            "kept": [*self.failed, *self.lossy],
        }


def run_once(drill: str, duration: float, folder: Path) -> tuple[dict[str, Any] | None, str]:
    """One `tonle demo` with the drill; its summary (None if it did not end with one) and its log tail."""
    cmd = [sys.executable, "-m", "tonle.app.cli", "demo", "--headless", "--drill", drill]
    cmd += ["--duration", str(duration), "--run-dir", str(folder)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        return None, f"timed out after {RUN_TIMEOUT_S}s: {exc.stderr!r}"[-2000:]
    (folder / "demo.log").write_text(r.stderr)
    lines = r.stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        summary = None
    if summary is not None and r.returncode not in (0, 1):  # 1: the demo's own verdict, lost > 0
        summary = None
    return summary, r.stderr[-2000:]


def bench(drills: list[str], runs: int, duration: float, keep_dir: Path) -> list[Tally]:
    tallies = [Tally(d) for d in drills]
    for i in range(runs):  # round-robin: a slow spell of the machine hits every drill alike
        for t in tallies:
            folder = Path(tempfile.mkdtemp(prefix=f"{t.drill}-{i + 1}-", dir=keep_dir))
            t0 = time.monotonic()
            summary, tail = run_once(t.drill, duration, folder)
            t.seconds.append(time.monotonic() - t0)
            if summary is None:
                t.failed.append(str(folder))
                print(f"{t.drill} run {i + 1}: FAILED, kept {folder}\n{tail}", file=sys.stderr, flush=True)
                continue
            t.summaries.append(summary)
            if summary["lost"]:
                t.lossy.append(str(folder))
                print(
                    f"{t.drill} run {i + 1}: LOST {summary['lost']}, kept {folder}",
                    file=sys.stderr,
                    flush=True,
                )
                continue
            shutil.rmtree(folder, ignore_errors=True)
            print(
                f"{t.drill} run {i + 1}: lost 0, {summary['resent']} re-sent of "
                f"{summary['messages_spooled']} messages, {summary['stored_more_than_once']} stored "
                f"more than once ({t.seconds[-1]:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    return tallies


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "drill",
        "runs",
        "failed",
        "with loss",
        "worst lost",
        "messages",
        "re-sent",
        "overhead",
        "max",
        "dups",
        "max",
    )
    keys = (
        "drill",
        "runs",
        "failed",
        "runs_with_loss",
        "worst_lost",
        "messages_mean",
        "resent_mean",
        "overhead_mean",
        "overhead_max",
        "stored_twice_mean",
        "stored_twice_max",
    )
    cells = [head, *[tuple("-" if r[k] is None else str(r[k]) for k in keys) for r in rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells[1:]]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="runs of each drill (default 10)")
    ap.add_argument("--drills", default=",".join(DRILLS), help="comma-separated (default: all)")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of each demo (default 30)")
    ap.add_argument("--keep-dir", type=Path, default=None, help="where runs live (default: a temp folder)")
    args = ap.parse_args()
    drills = [d.strip() for d in args.drills.split(",") if d.strip()]
    unknown = sorted(set(drills) - set(DRILLS))
    if unknown:
        ap.error(f"no such drill: {', '.join(unknown)} (choose from {', '.join(DRILLS)})")
    keep = args.keep_dir or Path(tempfile.mkdtemp(prefix="tonle-drills-"))
    keep.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    rows = [t.row() for t in bench(drills, args.runs, args.duration, keep)]
    print(
        f"\n{args.runs} runs of each drill, --duration {args.duration:g} s, "
        f"{time.monotonic() - t0:.0f} s in all; overhead = messages re-sent / messages spooled "
        "(mean, max); dups = messages stored more than once (mean, max)"
    )
    print(table(rows))
    worst = max((r["worst_lost"] or 0 for r in rows), default=0)
    failed = sum(r["failed"] for r in rows)
    print(
        json.dumps(
            {
                "runs": args.runs,
                "duration_s": args.duration,
                "worst_lost": worst,
                "failed": failed,
                "drills": rows,
            }
        )
    )
    return 0 if worst == 0 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
