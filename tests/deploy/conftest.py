"""`filled_influxdb`: a database holding a few minutes of two sewing lines, in Tonle's schema.

The dashboard tests run every panel query against it. Today the data is synthetic
(written here as line protocol with the contract's own encoder); the plan is to
fill it from the real simulator pipeline instead. Whatever fills it, the fixture
keeps its interface: `filled_influxdb -> (url, database, start_ns, end_ns)`, where
[start_ns, end_ns] covers every point written.

The window lies in the past on purpose (a Monday morning shift in Phnom Penh), so
a query that silently assumes "the last hour" finds nothing and fails.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import httpx
import numpy as np
import pytest

from tonle.contract import MACHINE_STATES, encode_block
from tonle.services import LocalInfluxDB

S = 1_000_000_000
START_NS = 1_740_963_600 * S  # 2025-03-03 01:00:00 UTC = 08:00 in Phnom Penh
DURATION_S = 600
SITE, AREA = "kandal", "sewing"

_counter = itertools.count()


class FilledInflux(NamedTuple):
    url: str
    database: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class Station:
    line: str
    machine: str
    machine_type: str
    # (second the state starts, state, reason); every station starts running at 0.
    events: tuple[tuple[int, str, str], ...] = ()
    wear: float = 0.0  # 0 = healthy all shift, 1 = worn out by the end of the window

    def tags(self) -> dict[str, str]:
        return {"site": SITE, "area": AREA, "line": self.line, "machine": self.machine}

    def state_at(self, t_s: np.ndarray) -> np.ndarray:
        """Machine-state code at each second."""
        codes = np.zeros(t_s.shape, dtype=np.int64)
        for start, state, _ in self.events:
            codes[t_s >= start] = MACHINE_STATES.index(state)
        return codes


STATIONS = (
    Station("line_3", "OL-01", "overlock", ((0, "setup", "style change"), (40, "running", ""))),
    Station("line_3", "LS-02", "lockstitch", ((120, "thread_break", "bobbin thread"), (165, "running", ""))),
    # A name with a space: dashboard regexes and line protocol escaping must cope.
    Station(
        "line_3", "LS 03", "lockstitch", ((350, "needle_break", "needle 2"), (410, "running", "")), wear=0.2
    ),
    Station(
        "line_3",
        "CS-04",
        "coverstitch",
        (
            (200, "starved", "waiting for LS 03"),
            (260, "running", ""),
            (400, "blocked", "buffer full"),
            (430, "running", ""),
        ),
    ),
    Station(
        "line_3",
        "BH-05",
        "buttonhole",
        ((300, "breakdown", "motor stalled"), (420, "maintenance", "bearing check"), (500, "running", "")),
        wear=0.85,
    ),
    Station("line_3", "LS-06", "lockstitch", ((500, "idle", "no work"), (540, "running", ""))),
    Station("line_4", "OL-11", "overlock"),
    Station("line_4", "LS-12", "lockstitch", ((250, "planned_stop", "meeting"), (310, "running", ""))),
    Station("line_4", "FL-13", "flatlock", ((580, "offline", "agent lost"),)),
)
TARGET_PPH = {"line_3": 120.0, "line_4": 90.0}
PIECES_BEFORE, SCRAP_BEFORE = 5000, 150  # the devices' counters before the window


def _ts(step_s: int, offset_s: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since the start and ns timestamps, every `step_s` over the window."""
    t = np.arange(offset_s, DURATION_S, step_s, dtype=np.int64)
    return t, START_NS + t * S


def _telemetry(st: Station, rng: np.random.Generator) -> bytes:
    t, ts = _ts(1)
    running = st.state_at(t) == 0
    n = t.size
    wear = st.wear * t / DURATION_S
    rms = 0.8 + 2.5 * wear + rng.normal(0, 0.05, n)
    rms = np.where(running, rms, 0.05 + rng.uniform(0, 0.02, n))
    crest = 3.0 + 2.0 * wear + rng.normal(0, 0.1, n)
    stopped = [MACHINE_STATES.index(s) for s in ("thread_break", "needle_break", "breakdown")]
    andon = np.isin(st.state_at(t), stopped).astype(np.float64)
    fields = {
        "speed_spm": np.where(running, 3500 + rng.normal(0, 150, n), 0.0),
        "current_a": np.where(running, 1.6 + rng.normal(0, 0.05, n), 0.2),
        "temp_c": 38 + 4 * wear + rng.normal(0, 0.3, n),
        "andon": andon,
        "vib_rms": rms,
        "vib_peak": rms * crest,
        "vib_crest": crest,
        "vib_kurtosis": 3.0 + 4.0 * wear**2 + rng.normal(0, 0.1, n),
    }
    tags = st.tags() | {"machine_type": st.machine_type}
    return encode_block("telemetry", tags, ts, fields, {"seq": np.arange(n) + 1000})


def _states(st: Station) -> bytes:
    events = ((0, "running", "shift start"), *st.events)
    ts = np.array([START_NS + s * S for s, _, _ in events], dtype=np.int64)
    tags = st.tags() | {"machine_type": st.machine_type}
    return encode_block(
        "state",
        tags,
        ts,
        int_fields={
            "code": np.array([MACHINE_STATES.index(s) for _, s, _ in events]),
            "seq": np.arange(len(events)) + 1,
        },
        str_fields={"state": [s for _, s, _ in events], "reason": [r for _, _, r in events]},
    )


def _pieces(st: Station, t: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Cumulative total and good pieces at the seconds `t` (about 2 pieces a minute)."""
    sec = np.arange(DURATION_S)
    made = (st.state_at(sec) == 0) & (rng.uniform(size=sec.size) < 1 / 30)
    bad = made & (rng.uniform(size=sec.size) < 0.04)
    total = np.cumsum(made)[t] + PIECES_BEFORE
    good = total - np.cumsum(bad)[t] - SCRAP_BEFORE
    return total, good


def _production_and_oee(st: Station, rng: np.random.Generator) -> bytes:
    t, ts = _ts(5, offset_s=4)
    total, good = _pieces(st, t, rng)
    tags_p = st.tags() | {"machine_type": st.machine_type}
    out = encode_block(
        "production", tags_p, ts, None, {"total": total, "good": good, "seq": np.arange(t.size)}
    )
    run = np.cumsum(st.state_at(np.arange(DURATION_S)) == 0)[t].astype(np.float64)
    planned = (t + 1).astype(np.float64)
    done_total = (total - PIECES_BEFORE).astype(np.float64)
    done_good = (good - PIECES_BEFORE + SCRAP_BEFORE).astype(np.float64)
    availability = run / planned
    quality = np.divide(done_good, done_total, out=np.ones(t.size), where=done_total > 0)
    performance = np.clip(0.82 + rng.normal(0, 0.02, t.size), 0, 1)
    oee = {
        "availability": availability,
        "performance": performance,
        "quality": quality,
        "oee": availability * performance * quality,
        "run_s": run,
        "planned_s": planned,
        "pieces_per_hour": done_total / planned * 3600,
    }
    ints = {"total": done_total.astype(np.int64), "good": done_good.astype(np.int64)}
    return out + encode_block("oee", st.tags(), ts, oee, ints)


def _pdm(st: Station, rng: np.random.Generator) -> bytes:
    t, ts = _ts(10, offset_s=9)
    wear = st.wear * t / DURATION_S
    health = np.clip(0.95 - wear + rng.normal(0, 0.01, t.size), 0, 1)
    drift = 2.0 * wear + np.abs(rng.normal(0, 0.1, t.size))
    fields = {
        "health": health,
        "vib_rms": 0.8 + 2.5 * wear,
        "vib_kurtosis": 3.0 + 4.0 * wear**2,
        "drift_stat": drift,
    }
    return encode_block("pdm", st.tags(), ts, fields, {"drift_alarm": (drift > 1.0) * 1})


def _line_kpi(line: str, rng: np.random.Generator) -> bytes:
    t, ts = _ts(5, offset_s=4)
    n = t.size
    avail = np.clip(0.85 + rng.normal(0, 0.03, n), 0, 1)
    perf = np.clip(0.8 + rng.normal(0, 0.03, n), 0, 1)
    qual = np.clip(0.96 + rng.normal(0, 0.01, n), 0, 1)
    pph = TARGET_PPH[line] * avail * perf
    total = np.floor(np.cumsum(pph * 5 / 3600)).astype(np.int64) + 1
    fields = {
        "oee": avail * perf * qual,
        "availability": avail,
        "performance": perf,
        "quality": qual,
        "pieces_per_hour": pph,
        "target_pph": np.full(n, TARGET_PPH[line]),
        "efficiency": np.clip(0.55 + rng.normal(0, 0.03, n), 0, 1),
    }
    ints = {"total": total, "good": np.floor(total * 0.96).astype(np.int64)}
    bottleneck = ["CS-04" if s < 300 else "BH-05" for s in t] if line == "line_3" else ["LS-12"] * n
    tags = {"site": SITE, "area": AREA, "line": line}
    return encode_block("line_kpi", tags, ts, fields, ints, {"bottleneck": bottleneck})


def _alerts() -> bytes:
    rows = (
        (330, "LS 03", "warning", "vibration_drift", "LS 03: kurtosis drifting up", 0.71, 120.0),
        (380, "BH-05", "warning", "health_low", "BH-05 health 0.58 < 0.60: derating", 0.58, 30.0),
        (540, "BH-05", "critical", "health_critical", "BH-05 health 0.33: maintenance", 0.33, None),
    )
    out = b""
    for s, machine, severity, code, message, health, rul in rows:
        tags = {"site": SITE, "area": AREA, "line": "line_3", "machine": machine, "severity": severity}
        floats = {"health": np.array([health])}
        if rul is not None:  # rul_h may be absent
            floats["rul_h"] = np.array([rul])
        out += encode_block(
            "alerts",
            tags,
            np.array([START_NS + s * S]),
            floats,
            str_fields={"code": [code], "message": [message]},
        )
    return out


def _commands() -> bytes:
    # (second, machine, direction, id, action, value, status, reason, detail)
    rows = (
        (381, "BH-05", "cmd", "c-0001", "set_speed", 0.8, "sent", "health 0.58 < 0.60", ""),
        (382, "BH-05", "ack", "c-0001", "set_speed", None, "applied", "", "speed limit 80%"),
        (541, "BH-05", "cmd", "c-0002", "maintenance", None, "sent", "health 0.33 < 0.35", ""),
        (542, "BH-05", "ack", "c-0002", "maintenance", None, "applied", "", "request logged"),
        (560, "CS-04", "cmd", "c-0003", "set_speed", 9.0, "sent", "operator test", ""),
        (561, "CS-04", "ack", "c-0003", "set_speed", None, "rejected", "", "9.0 above limit 1.0"),
        (590, "CS-04", "cmd", "c-0004", "andon", None, "sent", "starved twice in 10 min", ""),
    )
    out = b""
    for s, machine, direction, cid, action, value, status, reason, detail in rows:
        tags = {"site": SITE, "area": AREA, "line": "line_3", "machine": machine, "direction": direction}
        floats = {"value": np.array([value])} if value is not None else None
        strings = {
            "id": [cid],
            "action": [action],
            "status": [status],
            "reason": [reason],
            "detail": [detail],
        }
        out += encode_block("commands", tags, np.array([START_NS + s * S]), floats, str_fields=strings)
    return out


def _pipeline(rng: np.random.Generator) -> bytes:
    t, ts = _ts(5, offset_s=2)
    out = b""
    for component, instance, rate in (
        ("collector", "collector-1", 40.0),
        ("agent", "line_3-gw", 25.0),
        ("agent", "line_4-gw", 15.0),
        ("analytics", "analytics-1", 2.0),
    ):
        messages = np.cumsum(rng.poisson(rate * 5, t.size))
        counters = {
            "messages": messages,
            "points": messages * 50,
            "dead_letters": (t > 200) * 1 + (t > 450) * 1 if component == "collector" else t * 0,
            "seq_gaps": (t > 320) * 1 if instance == "line_3-gw" else t * 0,
            "write_errors": (t > 500) * 1 if component == "collector" else t * 0,
            "queue_depth": rng.integers(0, 50, t.size),
        }
        floats = {"batch_ms": 20 + rng.gamma(2.0, 5.0, t.size)}
        if component == "agent":
            floats = {}
        tags = {"component": component, "instance": instance}
        out += encode_block("pipeline", tags, ts, floats or None, counters)
    return out


def synthetic_line_protocol(seed: int = 7) -> bytes:
    """Everything the dashboards read, for two lines over DURATION_S seconds."""
    rng = np.random.default_rng(seed)
    parts = []
    for st in STATIONS:
        parts += [_telemetry(st, rng), _states(st), _production_and_oee(st, rng), _pdm(st, rng)]
    parts += [_line_kpi(line, rng) for line in TARGET_PPH]
    parts += [_alerts(), _commands(), _pipeline(rng)]
    return b"".join(parts)


@pytest.fixture(scope="session")
def filled_influxdb(influxdb: LocalInfluxDB) -> Iterator[FilledInflux]:
    database = f"dashboards_{os.getpid()}_{next(_counter)}"
    with httpx.Client(base_url=influxdb.url, timeout=60) as http:
        r = http.post("/query", data={"q": f'CREATE DATABASE "{database}"'})
        r.raise_for_status()
        r = http.post("/write", params={"db": database, "precision": "ns"}, content=synthetic_line_protocol())
        assert r.status_code == 204, f"InfluxDB refused the synthetic data: {r.text[:500]}"
    yield FilledInflux(influxdb.url, database, START_NS, START_NS + DURATION_S * S)
    with httpx.Client(base_url=influxdb.url, timeout=60) as http:
        http.post("/query", data={"q": f'DROP DATABASE "{database}"'})
