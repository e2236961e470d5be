"""Input checks shared by the analytics kernels.

Every public kernel validates its arguments here, before any arithmetic, so a bad
array fails with a message that names the argument, the offending position and the
fix, instead of a numpy broadcasting error or a silently wrong figure.
"""

from __future__ import annotations

import numpy as np

_NUMERIC_KINDS = "iuf"


def first_index(mask: np.ndarray) -> tuple[int, ...]:
    """Position of the first True in `mask`, as an index tuple for error messages."""
    flat = int(np.flatnonzero(mask.ravel())[0])
    return tuple(int(i) for i in np.unravel_index(flat, mask.shape))


def located(mask: np.ndarray) -> str:
    """' at index (i, j)' for the first True in `mask`, or '' for a 0-d mask."""
    return f" at index {first_index(mask)}" if mask.ndim else ""


def as_float(name: str, x: object, *, allow_nan: bool = False) -> np.ndarray:
    """`x` as a float64 array; rejects non-numeric dtypes, infinities and (optionally) NaN."""
    a = np.asarray(x)
    if a.dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    bad = np.isinf(a) if allow_nan else ~np.isfinite(a)
    if bad.any():
        what = "infinite" if allow_nan else "NaN or infinite"
        hint = "mark missing values as NaN" if allow_nan else "drop or fill missing samples first"
        raise ValueError(f"{name} has a {what} value{located(bad)}: {hint}")
    return a


def non_negative(name: str, a: np.ndarray) -> np.ndarray:
    """Raise if a float array (NaN allowed) has a negative value."""
    bad = a < 0
    if bad.any():
        raise ValueError(
            f"{name} must not be negative, got {a[bad].flat[0]!r}{located(bad)}: "
            "check the unit and the sign of the source field"
        )
    return a


def as_int(name: str, x: object, *, ndim: int = 1) -> np.ndarray:
    """`x` as an int64 array with `ndim` dimensions; floats are refused, not truncated."""
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    return a.astype(np.int64, copy=False)


def as_timestamps(name: str, x: object) -> np.ndarray:
    """1-D int64 nanoseconds since the epoch; datetime64 is accepted and converted."""
    a = np.asarray(x)
    if a.dtype.kind == "M":
        a = a.astype("datetime64[ns]").view(np.int64)
    if a.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must hold integer nanoseconds since the epoch (or datetime64), "
            f"got dtype {a.dtype}: query InfluxDB with epoch=ns"
        )
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    return a.astype(np.int64, copy=False)


def check_count(name: str, n: int, *, minimum: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def check_in_range(name: str, a: np.ndarray, n: int, table: str) -> None:
    """Raise unless every value of the int array `a` is in 0..n-1."""
    bad = (a < 0) | (a >= n)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}[{i}] = {int(a[i])} is outside 0..{n - 1}: add it to the {table} or pass a larger n"
        )


def same_length(**arrays: np.ndarray) -> int:
    lengths = {k: v.shape[0] for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"event arrays must have the same length, got {lengths}")
    return next(iter(lengths.values()))


def check_window(start_ns: int, end_ns: int) -> tuple[int, int]:
    """A window of integer ns, start before end; why: float seconds would silently round."""
    for name, value in (("start_ns", start_ns), ("end_ns", end_ns)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be integer nanoseconds since the epoch, got {value!r}")
    if not start_ns < end_ns:
        raise ValueError(f"the window is empty or reversed: start_ns={start_ns} >= end_ns={end_ns}")
    return int(start_ns), int(end_ns)
