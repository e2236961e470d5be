"""Every predictive-maintenance validation figure, and how long the vectorised kernels take.

    .venv/bin/python bench/pdm_validation.py --data tests/data      # the copies in the repository
    .venv/bin/python bench/pdm_validation.py --data ../shared/data  # the shared originals

Prints the Markdown report of `validation.pdm` (the figures quoted in
docs/pdm-validation.md), then times the kernels a running plant calls on every round:
envelope diagnosis of a burst batch (fixed band and automatic band) for many machines,
the drift charts, and RUL for many machines at once. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.drift import feature_drift  # noqa: E402
from analytics.rul import rul_from_health  # noqa: E402
from tonle.kernels.bearing import BEARINGS, defect_frequencies  # noqa: E402
from tonle.kernels.diagnosis import bearing_evidence, fault_hint  # noqa: E402
from validation.files import DataNotFound  # noqa: E402
from validation.pdm import report  # noqa: E402


def _time(label: str, fn: object, repeat: int = 3) -> None:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    print(f"- {label}: {best * 1e3:.1f} ms (best of {repeat})")


def kernels(machines: int) -> None:
    rng = np.random.default_rng(0)
    bursts = rng.normal(size=(machines, 4096))  # one 0.5 s burst per machine at 8192 Hz
    orders = defect_frequencies(BEARINGS["6203"]).orders
    shaft = np.full(machines, 4000 / 60)
    print(f"\n## Kernels, {machines} machines\n")
    _time(
        "envelope diagnosis, configured band",
        lambda: fault_hint(bearing_evidence(bursts, 8192.0, shaft, orders, band=(2300.0, 3700.0))),
    )
    _time(
        "envelope diagnosis, automatic band",
        lambda: fault_hint(bearing_evidence(bursts, 8192.0, shaft, orders)),
    )
    z = rng.normal(size=(machines, 360, 5))  # an hour of 10 s bursts, five features
    _time("drift charts (CUSUM + EWMA), 360 samples x 5 features", lambda: feature_drift(z))
    t = np.arange(360.0)
    h = 1 - 0.01 * np.exp(0.01 * t) + rng.normal(0, 0.02, size=(machines, 360))
    _time("RUL with band, 360 samples", lambda: rul_from_health(t, h, noise=0.02))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder holding cwru_bearing/, ims_bearing/, cmapss_fd001/, ai4i2020/ (e.g. tests/data)",
    )
    ap.add_argument("--machines", type=int, default=500)
    args = ap.parse_args()
    t0 = time.perf_counter()
    try:
        text = report(args.data)
    except DataNotFound as exc:
        print(f"{ap.prog}: {exc}", file=sys.stderr)
        return 2
    print(text, end="")
    print(f"\n(all figures computed in {time.perf_counter() - t0:.1f} s)")
    kernels(args.machines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
