"""The shift report of a demo's own data: made at its end (`--report`), or later while it is kept (`--keep`).

The demo's database lives only as long as the demo, so the report is made before its
influxd stops: `tonle demo --report shift.pdf` writes it once the line has stopped and
every sample is stored. `tonle demo --keep` holds the database up after the line stops,
until Ctrl-C, and prints the `tonle report` command (with the config it wrote into the
run folder) that makes a report of the run from another terminal, for any time range in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import msgspec
import tomli_w

from firmware_sim.line import LineSpec
from tonle.app.report import Report, ReportError, make_report
from tonle.app.report.browser import find_chromium
from tonle.config import TonleConfig
from tonle.messages import N_, render

if TYPE_CHECKING:
    from tonle.app.demo import DemoOptions

__all__ = [
    "REPORT_CONFIG",
    "after_run",
    "check_report_path",
    "demo_report",
    "keep_database",
    "local_iso",
    "report_config",
]

NS = 1_000_000_000
REPORT_CONFIG = "report.toml"


async def after_run(
    cfg: TonleConfig,
    spec: LineSpec,
    span_ns: tuple[int, int],
    opts: DemoOptions,
    folder: Path,
    summary: dict[str, Any],
) -> None:
    """What the demo does once the line has stopped, its database still up: --report, then --keep."""
    if opts.report is not None:
        summary["report"] = str((await demo_report(cfg, spec, span_ns, opts.report)).path)
    if opts.keep:
        from tonle.app.demo_view import print_summary

        print_summary(summary)
        await keep_database(cfg, spec, span_ns, folder)


def check_report_path(out: Path) -> None:
    """Before the run, not after it: a name the report cannot be written as, or a PDF without Chromium."""
    if out.suffix.lower() not in (".html", ".htm", ".pdf"):
        raise ReportError(N_("--report {out} must end in .html or .pdf"), fix=N_("change its name"), out=out)
    if out.suffix.lower() == ".pdf":
        find_chromium()


def local_iso(ns: int, tz: str) -> str:
    """A moment as `tonle report --from/--to` reads it: local ISO time with its offset."""
    return dt.datetime.fromtimestamp(ns / NS, ZoneInfo(tz)).isoformat(timespec="seconds")


async def demo_report(cfg: TonleConfig, spec: LineSpec, span_ns: tuple[int, int], out: Path) -> Report:
    """The report of the run's line over the run (`span_ns`), from the demo's database while it is up."""
    tz = cfg.analytics.shifts.tz
    start, end = (local_iso(ns, tz) for ns in span_ns)
    return await asyncio.to_thread(
        make_report, cfg, spec.line, start, end, out, site=spec.site, area=spec.area
    )


def report_config(cfg: TonleConfig, folder: Path) -> Path:
    """A tonle.toml for `tonle report` on the demo's database: its address and user, the analytics as run.

    The password is not in it: `influxdb.password_env` names the variable that holds it.
    """
    a = cfg.analytics
    doc = {
        "influxdb": {
            k: v
            for k, v in msgspec.to_builtins(cfg.influxdb).items()
            if k in ("url", "database", "username", "password_env", "api") and v not in (None, "")
        },
        "analytics": _plain(msgspec.to_builtins(a)),
    }
    path = folder / REPORT_CONFIG
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def _plain(x: Any) -> Any:
    """Builtins TOML can write: no None (a key left out takes its default)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_plain(v) for v in x if v is not None]
    return x


async def keep_database(cfg: TonleConfig, spec: LineSpec, span_ns: tuple[int, int], folder: Path) -> None:
    """Hold the demo's database up until Ctrl-C or SIGTERM, saying how to make the run's report."""
    config = report_config(cfg, folder)
    tz = cfg.analytics.shifts.tz
    env = cfg.influxdb.password_env
    secret = f"{env}={os.environ.get(env, '')} " if env else ""
    command = (
        f"{secret}tonle report --config {config} --line {spec.line} "
        f"--from {local_iso(span_ns[0], tz)} --to {local_iso(span_ns[1], tz)} --out report.pdf"
    )
    text = render(
        N_(
            "the line has stopped; its database stays up until Ctrl-C. "
            "Make the shift report of this run from another terminal with:\n  {command}"
        ),
        {"command": command},
    )
    print(text, file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
