"""The predictive-maintenance methods, run on the public data sets they are validated on.

    python -m validation.pdm --data tests/data        # the copies in the repository
    python -m validation.pdm --data ../shared/data    # the originals, or held-out files

One study module per data set (`validation.cwru`, `validation.ims`, `validation.cmapss`,
`validation.ai4i`), each with a loader that takes the data directory and evaluations that
take arrays and return the figures, so the tests assert them and `docs/pdm-validation.md`
quotes them from one implementation. This module prints them all as Markdown.

Nothing here is tuned on the windows it is scored on: the bearing thresholds come from
noise statistics and kinematics, the drift chart from the healthy stretch it must stay
quiet on (stated as such), the C-MAPSS health index and failure level are fitted on the
training units of each fold only, and the AI4I limits are the documented mechanisms (a
cross-validated re-fit is reported beside them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tonle.kernels.diagnosis import FAULT_HINTS
from validation.ai4i import evaluate_ai4i, load_ai4i
from validation.cmapss import MAX_RUL, evaluate_cmapss, load_cmapss
from validation.cwru import evaluate_cwru, load_cwru
from validation.files import DataNotFound, data_dir
from validation.ims import evaluate_ims, ims_detection_delay, load_ims
from validation.pdm_process import MODES

__all__ = ["main", "report"]

# Synthetic rises added to IMS bearing features from snapshot 300 (log units per snapshot).
_INJECTED = (
    ("RMS +1 %/snapshot", [np.log(1.01), 0, 0, 0, 0]),
    ("BPFO line +5 %/snapshot", [0, 0, np.log(1.05), 0, 0]),
    ("kurtosis +2 %/snapshot", [0, np.log(1.02), 0, 0, 0]),
)


def report(data: Path) -> str:
    """All figures as Markdown, in the order of docs/pdm-validation.md."""
    folder = data_dir(data)
    out = ["# PdM validation figures", ""]
    for section in (_cwru, _ims, _cmapss, _ai4i):
        out += section(folder)
    return "\n".join(out) + "\n"


def _cwru(folder: Path) -> list[str]:
    records = load_cwru(folder)
    shown = [FAULT_HINTS.index(c) for c in ("none", "inner_race", "outer_race", "ball")]
    out = []
    for band in ("auto", "pooled", (2000.0, 5000.0)):
        r = evaluate_cwru(records, band=band)
        out += [f"## CWRU, band {band}, windows of {r.window} samples", ""]
        out += ["| true \\ hint | none | inner_race | outer_race | ball |", "|---|---|---|---|---|"]
        out += [
            f"| {c} | " + " | ".join(str(r.confusion[i, j]) for j in shown) + " |"
            for i, c in enumerate(r.classes)
        ]
        out += ["", f"accuracy {r.accuracy():.3f}, median key-line frequency error {r.peak_error:.2%}", ""]
    return out


def _ims(folder: Path) -> list[str]:
    table = load_ims(folder)
    ims = evaluate_ims(table)
    out = ["## IMS test 2 (healthy part), baseline = first 30 snapshots", ""]
    for b in range(4):
        fa = int(ims.first_alarm[b])
        when = f"snapshot {fa} ({table.time[fa]}), {ims.alarm_feature[b]}" if fa >= 0 else "none"
        h = ims.health[b][np.isfinite(ims.health[b])]
        out.append(
            f"- bearing {b + 1}: first alarm {when}; health median {np.median(h):.3f}, "
            f"5th pct {np.percentile(h, 5):.3f}, min {h.min():.3f}; "
            f"highest CUSUM {ims.max_cusum[b].max():.1f} (h = 8)"
        )
    for label, rise in _INJECTED:
        delays = [
            ims_detection_delay(table, bearing=b, start=300, log_rise_per_snapshot=np.array(rise))
            for b in range(4)
        ]
        out.append(f"- injected {label} from snapshot 300: alarm after {delays} snapshots (bearings 1-4)")
    return [*out, ""]


def _cmapss(folder: Path) -> list[str]:
    cm = evaluate_cmapss(*load_cmapss(folder))
    return [
        "## C-MAPSS FD001, 5-fold unit-wise cross-validation",
        "",
        f"- every cut from cycle 31 ({cm.n_cuts} estimates), truth capped at {MAX_RUL:.0f}: "
        f"RMSE {cm.rmse:.1f}, mean PHM08 score {cm.phm_mean:.2f} per estimate",
        f"- test-like (5 random cuts per unit, true RUL 5-145, uncapped): RMSE {cm.rmse_test_like:.1f}, "
        f"PHM08 score per 100 trajectories {cm.phm_per_100_units:.0f}",
        f"- trend found in {cm.trend_share:.1%} of cuts; "
        f"the 80 % band holds the truth in {cm.coverage:.1%} of them",
        f"- estimate while no trend shows (median remaining life of training units then), per fold: "
        f"{', '.join(f'{q:.0f}' for q in cm.no_trend_rul)}",
        "",
    ]


def _ai4i(folder: Path) -> list[str]:
    ai = evaluate_ai4i(*load_ai4i(folder))
    out = [
        "## AI4I 2020 failure modes",
        "",
        "| mode | failures | documented limits P / R | re-learnt (5-fold) P / R |",
        "|---|---|---|---|",
    ]
    for m in MODES:
        d, c = ai.documented[m], ai.cross_validated[m]
        out.append(f"| {m} | {ai.counts[m]} | {d[0]:.3f} / {d[1]:.3f} | {c[0]:.3f} / {c[1]:.3f} |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m validation.pdm", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder holding cwru_bearing/, ims_bearing/, cmapss_fd001/, ai4i2020/ (e.g. tests/data)",
    )
    args = ap.parse_args(argv)
    try:
        print(report(args.data), end="")
    except DataNotFound as exc:
        print(f"{ap.prog}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
