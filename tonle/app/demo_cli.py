"""`tonle demo`: its options and its run (kept apart from `tonle.app.cli` so each stays small)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from tonle.app.drill_names import DRILLS
from tonle.config import TonleConfig
from tonle.messages import _

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """The `demo` sub-command and its options."""
    d = sub.add_parser("demo", help=_("run a simulated sewing line through the whole loop"))
    d.add_argument(
        "--duration",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help=_("how long to run the line (default 120)"),
    )
    d.add_argument(
        "--headless",
        action="store_true",
        help=_("no live table; print progress lines and a JSON summary at the end"),
    )
    d.add_argument(
        "--config",
        type=Path,
        help=_("a tonle.toml; without one the demo starts its own mosquitto and influxd"),
    )
    d.add_argument(
        "--drill",
        choices=DRILLS,
        help=_(
            "a fault drill for a class, its bad ordering forced; each ends with the summary still showing "
            "lost 0 and the re-sends that made it so. broker-outage: the broker stops and comes back while "
            "the collector is held, so the gateway reconnects first and is told nobody is subscribed; "
            "broker-crash: the broker is killed holding messages queued for a collector that is down; "
            "broker-disk-lost: the same broker comes back with an empty disk; power-cut: broker, database, "
            "collector, analytics and gateway die at once and come back in the worst order; agent-crash: "
            "the broker stops and the gateway loses power during the outage; db-outage: the database stops "
            "and the collector holds the data; collector-crash: the collector is killed in the middle of its "
            "work and restarted; opcua-restart: the pocket-setter's OPC UA server reboots mid-run and the "
            "gateway must notice and subscribe again by itself; intruder: a rogue client tries to connect, "
            "to speak for the line with a "
            "stolen gateway certificate and to move a machine with forged, altered and replayed commands "
            "(the summary's intruder object shows who refused each, and applied 0)"
        ),
    )
    d.add_argument(
        "--run-dir",
        type=Path,
        default=Path("run"),
        help=_("where the demo keeps its broker and database files (default ./run)"),
    )
    d.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help=_("at the end, write the shift report of the run (.pdf or .html)"),
    )
    d.add_argument(
        "--keep",
        action="store_true",
        help=_("keep the database up after the line stops, until Ctrl-C, and print the report command"),
    )


def run(args: argparse.Namespace, cfg: TonleConfig) -> int:
    """Run the demo (its config already loaded, so its language applies); 0 when nothing was lost."""
    from tonle.app.demo import DemoOptions, print_summary, run_demo
    from tonle.app.demo_report import check_report_path

    if args.report is not None:
        check_report_path(args.report)
    opts = DemoOptions(
        duration_s=args.duration,
        headless=args.headless,
        run_dir=args.run_dir,
        own_services=args.config is None,
        drill=args.drill,
        report=args.report,
        keep=args.keep,
    )
    try:
        summary = asyncio.run(run_demo(cfg, opts))
    except KeyboardInterrupt:
        print(_("demo stopped; its broker and database were shut down"), file=sys.stderr)
        return 130
    if not opts.keep:  # --keep printed it before holding the database
        print_summary(summary)
    return 0 if summary["lost"] == 0 else 1
