"""Validate the public PdM API (`analytics.pdm`) on public data; regenerate its section of the doc.

    python -m analytics.pdm_validate ../shared/data            # rewrite the generated section
    python -m analytics.pdm_validate tests/data --print        # print it only

Only `analytics.pdm` names are called (`diagnose`, `HealthMonitor`, `RulModel`,
`defect_orders`), with their documented defaults, so a held-out record dropped into the
data folder is scored exactly as an outside evaluator would score it. The one setting
learnt from data, a machine's resonance band (`band_hz`), is learnt on the training part of
each fold only: leave one fault class out, leave one severity out. The data directory holds
``cwru_bearing/``, ``ims_bearing/``, ``cmapss_fd001/`` (each file plain or ``.gz``).
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
from pathlib import Path

import numpy as np

from analytics.pdm import FAULTS, HealthMonitor, RulModel, defect_orders, diagnose
from tonle.errors import TonleError, file_error
from tonle.kernels.envelope import select_band

__all__ = ["main", "report"]

DOC = Path(__file__).resolve().parents[1] / "docs" / "pdm-validation.md"
BEGIN, END = "<!-- analytics.pdm_validate: begin -->", "<!-- analytics.pdm_validate: end -->"
CWRU_FS, CWRU_SHAFT_HZ = 12_000.0, 1797.0 / 60.0
TURNS = 20  # window length in shaft turns, the documented default of `diagnose`
# (record, condition, fault diameter in inches, channel, file, sampling rate)
CWRU = (
    ("normal", 0.0, "DE", "normal_0hp_DE_12k_decimated.npy", 12_000.0),
    ("normal", 0.0, "FE", "normal_0hp_FE_48k.npy", 48_000.0),
    ("inner_race", 0.007, "DE", "ir007_0hp_DE_12k.npy", 12_000.0),
    ("inner_race", 0.007, "FE", "ir007_0hp_FE_12k.npy", 12_000.0),
    ("outer_race", 0.007, "DE", "or007at6_0hp_DE_12k.npy", 12_000.0),
    ("outer_race", 0.007, "FE", "or007at6_0hp_FE_12k.npy", 12_000.0),
)
SHOWN = ("outer_race", "inner_race", "ball", "cage", "unknown", "none")


def _read(path: Path) -> bytes:
    """The file or its gzip copy (``name.gz``)."""
    gz = path.with_name(path.name + ".gz")
    try:
        return path.read_bytes() if path.exists() or not gz.exists() else gzip.decompress(gz.read_bytes())
    except OSError as exc:
        raise (file_error(exc) or exc) from exc


def _resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Band-limited resampling by truncating the spectrum (numpy only; 48 -> 12 kHz here)."""
    n_out = round(x.size * fs_out / fs_in)
    spec = np.fft.rfft(x)[: n_out // 2 + 1]
    return np.fft.irfft(spec, n_out) * (n_out / x.size)


def load_cwru(data: Path) -> list[tuple[str, float, str, np.ndarray]]:
    """(condition, fault diameter, channel, signal at 12 kHz) of every record present.

    The fan-end normal record is only published at 48 kHz; it is resampled here. Records
    missing from the folder are skipped (the repository's tests/data keeps only DE).
    """
    out = []
    for cond, size, chan, name, fs in CWRU:
        path = data / "cwru_bearing" / name
        if not path.exists() and not path.with_name(name + ".gz").exists():
            continue
        x = np.load(io.BytesIO(_read(path)))
        out.append((cond, size, chan, x if fs == CWRU_FS else _resample(x, fs, CWRU_FS)))
    if not any(c == "normal" for c, *_ in out):  # the first file every table needs
        _read(data / "cwru_bearing" / CWRU[0][3])
    return out


def _windows(x: np.ndarray) -> np.ndarray:
    n = 1 << int(np.ceil(np.log2(TURNS * CWRU_FS / CWRU_SHAFT_HZ)))
    return x[: x.size // n * n].reshape(-1, n)


def _confusion(records: list[tuple[str, float, str, np.ndarray]], band: dict[str, np.ndarray | None]) -> dict:
    """Counts of each `FAULTS` value per (condition, channel), with the band per channel."""
    table: dict[tuple[str, str], np.ndarray] = {}
    for cond, _size, chan, x in records:
        d = diagnose(_windows(x), CWRU_FS, CWRU_SHAFT_HZ, "6205", band_hz=band.get(chan))
        counts = np.array([(d.fault == f).sum() for f in FAULTS])
        table[(cond, chan)] = table.get((cond, chan), 0) + counts
    return table


def _pooled_band(records: list[tuple[str, float, str, np.ndarray]], chan: str) -> np.ndarray | None:
    """The resonance band a plant would configure: highest spectral kurtosis over the training windows."""
    w = [_windows(x) for _c, _s, ch, x in records if ch == chan]
    if not w:
        return None
    bpfi = defect_orders("6205")["BPFI"] * CWRU_SHAFT_HZ
    return select_band(
        np.vstack(w), CWRU_FS, min_hz=3 * bpfi, min_width_hz=2 * (bpfi + CWRU_SHAFT_HZ), pool=True
    )


def _rows(table: dict, title: str) -> list[str]:
    out = [f"| {title} | " + " | ".join(SHOWN) + " | right |", "|---" * (len(SHOWN) + 2) + "|"]
    for (cond, chan), counts in sorted(table.items()):
        by = dict(zip(FAULTS, counts.tolist(), strict=True))
        right = by["none" if cond == "normal" else cond]
        out.append(
            f"| {cond} {chan} | " + " | ".join(str(by[f]) for f in SHOWN) + f" | {right}/{sum(by.values())} |"
        )
    return [*out, ""]


def cwru_section(data: Path) -> list[str]:
    records = load_cwru(data)
    chans = sorted({ch for *_r, ch, _x in records})
    out = ["### CWRU: every window diagnosed on its own (band chosen per window, nothing learnt)", ""]
    out += _rows(_confusion(records, {}), "true \\ named")
    out += ["### CWRU: leave one fault class out (the band is learnt without the held-out class)", ""]
    loco: dict = {}
    for held in sorted({c for c, *_ in records}):
        train = [r for r in records if r[0] != held]
        band = {ch: _pooled_band(train, ch) for ch in chans}
        loco.update(_confusion([r for r in records if r[0] == held], band))
    out += _rows(loco, "held-out class")
    out += ["### CWRU: leave one severity out (the band is learnt without the held-out severity)", ""]
    loso: dict = {}
    for held in sorted({s for _c, s, *_ in records if s > 0}):
        train = [r for r in records if r[1] != held]
        band = {ch: _pooled_band(train, ch) for ch in chans}
        loso.update(_confusion([r for r in records if r[1] == held], band))
    out += _rows(loso, "held-out severity (in)")
    return out


def _ims_features(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """(time in s, features [4 bearings, n, 3]: RMS, kurtosis, peak) of IMS test 2."""
    text = _read(data / "ims_bearing" / "ims_test2_stats_part1.csv").decode()
    rows = [line.split(",") for line in text.strip().splitlines()]
    col = {name: i for i, name in enumerate(rows[0])}
    body = rows[1:]
    t = (
        np.array([np.datetime64(r[col["timestamp"]].replace(" ", "T")) for r in body])
        .astype("int64")
        .astype(float)
    )
    feats = np.stack(
        [
            np.array([[float(r[col[f"Bearing{b}_ch1_{k}"]]) for k in ("rms", "kurt", "max")] for r in body])
            for b in range(1, 5)
        ]
    )
    feats[..., 1] += 3.0  # excess -> Pearson kurtosis
    return t - t[0], feats


def _run(t: np.ndarray, x: np.ndarray) -> list[bool]:
    mon = HealthMonitor()
    return [mon.update(float(ti), xi).alarm for ti, xi in zip(t, x, strict=True)]


def _stop(t: np.ndarray, x: np.ndarray, cut: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The record with a 3-day stop before snapshot `cut`: an hour and more of stopped snapshots
    (RMS and peak at 2 %), days off, then the rest with RMS and peak times `scale`."""
    stop_t = t[cut - 1] + 600.0 * np.arange(1, 13)
    stopped = np.tile(x[cut] * [0.02, 1.0, 0.02], (stop_t.size, 1))
    t2 = np.r_[t[:cut], stop_t, t[cut:] + 3 * 86400.0 + 7200.0]
    return t2, np.vstack([x[:cut], stopped, x[cut:] * [scale, 1.0, scale]])


def _rise(x: np.ndarray, start: int) -> np.ndarray:
    """RMS and peak growing 1 % per snapshot from `start` on (wear)."""
    out = x.copy()
    grow = np.exp(np.log(1.01) * np.clip(np.arange(len(x)) - start, 0, None))
    out[:, 0] *= grow
    out[:, 2] *= grow
    return out


def _first_alarm(alarms: list[bool], start: int) -> int:
    return next((i - start for i, a in enumerate(alarms) if a and i >= start), -1)


def ims_section(data: Path) -> list[str]:
    t, f = _ims_features(data)
    cuts, n_after = (100, 250, 400), sum(len(t) - c for c in (100, 250, 400))
    out = [
        "### IMS test 2 (healthy stretch): HealthMonitor() with its defaults, features RMS, kurtosis, peak",
        "",
        "The shared part of test 2 (snapshots 0-499) has no stop: every gap is 10 minutes; the only "
        "stopped snapshots of the run come after the failure (PROVENANCE.md). The stop is simulated: before "
        "snapshot 100, 250 or 400 (each in turn), 12 stopped snapshots (RMS and peak at 2 %), "
        "3 days off, then the recorded snapshots with RMS and peak x 1.3 or x 0.8 "
        "(a restart that shifts the levels either way). Rise: RMS and peak grow 1 % per "
        "snapshot from snapshot 300 (after a stop at 250: from its 100th running snapshot).",
        "",
        "| bearing | alarms as recorded | after the stops, levels x 1.3 | after the stops, levels x 0.8 "
        "| rise: snapshots to alarm | rise after a stop (x 1.3): snapshots to alarm |",
        "|---|---|---|---|---|---|",
    ]
    for b in range(4):
        plain = sum(_run(t, f[b]))
        shifted = []
        for scale in (1.3, 0.8):
            shifted.append(sum(sum(_run(*_stop(t, f[b], c, scale))[c:]) for c in cuts))
        first = _first_alarm(_run(t, _rise(f[b], 300)), 300)
        t2, x2 = _stop(t, f[b], 250, 1.3)
        after = _first_alarm(_run(t2, _rise(x2, 250 + 12 + 100)), 250 + 12 + 100)
        out.append(
            f"| {b + 1} | {plain} of {len(t)} | {shifted[0]} of {n_after} | {shifted[1]} of {n_after} "
            f"| {first} | {after} |"
        )
    return [*out, ""]


def _cmapss(data: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    a = np.loadtxt(io.BytesIO(_read(data / "cmapss_fd001" / "train_FD001.txt")))
    sensors = [s + 4 for s in (2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21)]  # s2..s21 that move
    units = np.unique(a[:, 0])
    return units, [a[a[:, 0] == u][:, sensors] for u in units]


def _linear_baseline(train: list[np.ndarray], cap: float = 125.0) -> tuple[np.ndarray, np.ndarray]:
    """The literature's simple baseline: least squares on the last row, target min(life left, cap)."""
    x = np.vstack(train)
    y = np.concatenate([np.minimum(np.arange(len(r))[::-1], cap) for r in train])
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    d = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    coef = np.linalg.lstsq(d, y, rcond=None)[0]
    return np.r_[coef[:-1] / sd, coef[-1] - coef[:-1] @ (mu / sd)], mu


def _cv_cuts(data: Path, folds: int, seed: int) -> dict[str, np.ndarray]:
    """RulModel and the baselines on the same test-like cuts of held-out units."""
    units, runs = _cmapss(data)
    rng = np.random.default_rng(seed)
    order = np.array_split(rng.permutation(len(units)), folds)
    got: dict[str, list[float]] = {k: [] for k in ("est", "low", "high", "truth", "naive", "linear")}
    for test in order:
        train = [runs[i] for i in range(len(runs)) if i not in set(test.tolist())]
        model = RulModel().fit(train)
        lin, _ = _linear_baseline(train)
        mean_life = float(np.mean([len(r) for r in train]))
        for i in test:
            top = min(145, len(runs[i]) - 31)
            for left in rng.integers(5, max(top, 6) + 1, 5):
                seen = runs[i][: len(runs[i]) - left]
                for k, val in zip(("est", "low", "high"), model.predict(seen), strict=True):
                    got[k].append(val)
                got["truth"].append(float(left))
                got["naive"].append(max(mean_life - len(seen), 0.0))
                got["linear"].append(float(np.clip(seen[-1] @ lin[:-1] + lin[-1], 0.0, 125.0)))
    return {k: np.array(val, dtype=float) for k, val in got.items()}


def cmapss_section(data: Path, *, folds: int = 5, seed: int = 0) -> list[str]:
    c = _cv_cuts(data, folds, seed)
    tr = c["truth"]

    def rmse(p: np.ndarray) -> float:
        return float(np.sqrt(np.mean((p - tr) ** 2)))

    def phm(p: np.ndarray) -> float:
        d = p - tr
        return float(np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0)).sum() / len(d) * 100)

    cover = float(np.mean((c["low"] <= tr) & (tr <= c["high"])))
    both = float(np.mean(np.isfinite(c["low"]) & np.isfinite(c["high"])))
    width = float(np.median(c["high"] - c["low"]))
    near = tr <= 50
    cover_near = float(np.mean((c["low"][near] <= tr[near]) & (tr[near] <= c["high"][near])))
    const = np.full_like(tr, 125.0)
    return [
        f"### C-MAPSS FD001: RulModel() on {folds}-fold unit-wise cross-validation, "
        f"test-like cuts (seed {seed})",
        "",
        "| method | RMSE (cycles) | PHM08 score per 100 trajectories | band coverage (nominal 80 %) "
        "| band with both ends | median band width |",
        "|---|---|---|---|---|---|",
        f"| RulModel() | {rmse(c['est']):.1f} | {phm(c['est']):.0f} | {cover:.1%} (truth <= 50: "
        f"{cover_near:.1%}) | {both:.0%} | {width:.0f} cycles |",
        f"| baseline: linear regression on the last row, target capped at 125 | {rmse(c['linear']):.1f} | "
        f"{phm(c['linear']):.0f} | - | - | - |",
        f"| baseline: mean training life - age | {rmse(c['naive']):.1f} | {phm(c['naive']):.0f} "
        "| - | - | - |",
        f"| baseline: constant 125 cycles (the usual cap) | {rmse(const):.1f} | {phm(const):.0f} "
        "| - | - | - |",
        "",
        f"{len(tr)} cuts: 5 per unit, true remaining life drawn in 5..min(145, life - 31), uncapped truth. "
        "Every fit (normalisation, the smoothing chosen by inner CV, the band's calibration) sees only "
        "the training folds' units.",
        "",
    ]


def report(data: Path) -> str:
    """The generated section of docs/pdm-validation.md, in Markdown."""
    folder = Path(data)
    if not folder.is_dir():
        _read(folder)  # raises the catalogue's FileError naming the folder
    parts = [f"_Generated by `python -m analytics.pdm_validate {folder}`; do not edit by hand._", ""]
    parts += cwru_section(folder) + ims_section(folder) + cmapss_section(folder)
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analytics.pdm_validate", description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path, help="folder holding cwru_bearing/, ims_bearing/, cmapss_fd001/")
    ap.add_argument("--print", action="store_true", help="print the section instead of rewriting the doc")
    ap.add_argument("--doc", type=Path, default=DOC, help="the document whose generated section is rewritten")
    args = ap.parse_args(argv)
    try:
        text = report(args.data)
    except TonleError as exc:
        print(f"{ap.prog}: {exc}", file=sys.stderr)
        return 2
    if args.print:
        print(text)
        return 0
    doc = args.doc.read_text(encoding="utf-8")
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    args.doc.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
