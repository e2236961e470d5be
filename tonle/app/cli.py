"""The `tonle` command: demo, sim, agent, collector, analytics, report, command.

Every failure a technician can fix (a wrong key, a broker or database that does not
answer, a serial port that is missing, a folder it may not write, a full disk) is a
`tonle.errors.TonleError`, or an OS error of those kinds; here, at the boundary, it
becomes one plain sentence with the fix on stderr and exit code 2, without a
traceback. `--debug` adds the traceback, for a bug report. Anything else is a bug
and keeps its traceback. Every text of the command comes from the message catalogue
(`tonle.messages`).

The language: `--lang en|km`, given before or after the sub-command (`tonle --lang km
report ...` or `tonle report --lang km ...`), else `[plant] language` of the config the
command reads, else LANG/LANGUAGE, else English. `--lang` is looked for before the
parser is built, so the help itself is worded in it, argparse's own words too
(`tonle.app.argparse_words`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from tonle.app import demo_cli, provision
from tonle.app.argparse_words import speaking_tonle
from tonle.config import ConfigError, TonleConfig, load_config
from tonle.errors import TonleError, file_error
from tonle.messages import LANGUAGES, _, ngettext, set_language

__all__ = ["EXIT_EXPECTED", "main"]

EXIT_EXPECTED = 2  # a failure with a fix: the sentence says what to do


def _early_language(argv: list[str] | None) -> str | None:
    """The `--lang` of the command line wherever it stands (None when absent or not a language)."""
    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    early.add_argument("--lang")
    found, _rest = early.parse_known_args(sys.argv[1:] if argv is None else argv)
    return found.lang if found.lang in LANGUAGES else None


def _add_lang(p: argparse.ArgumentParser, top: bool = False) -> None:
    """`--lang` on the main parser and on every sub-command (where it keeps the main one's value)."""
    p.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=None if top else argparse.SUPPRESS,
        help=_(
            "the language to write in: en (English) or km (Khmer); default: [plant] language "
            "of the config, else LANG"
        ),
    )


def _with_lang(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Every parser below `parser` (sub-commands and theirs) also takes `--lang`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                _add_lang(sub)
                _with_lang(sub)
    return parser


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tonle",
        description=_(
            "Tonle: machine data from the sewing floor to the plant manager's screen, "
            "and commands back to the machines."
        ),
    )
    _add_lang(p, top=True)
    p.add_argument("-v", "--verbose", action="store_true", help=_("show debug messages"))
    p.add_argument(
        "--debug",
        action="store_true",
        help=_("when something fails, show the traceback too (for a bug report)"),
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo_cli.add_parser(sub)

    ag = sub.add_parser("agent", help=_("run the edge agent for the devices in a gateway config file"))
    ag.add_argument("--config", type=Path, required=False, help=_("path to gateway.toml"))
    ag_sub = ag.add_subparsers(dest="agent_command", metavar="ACTION")
    chk = ag_sub.add_parser(
        "check-config", help=_("check a gateway config and print every problem with its fix")
    )
    chk.add_argument("gateway_config", type=Path)
    sim = sub.add_parser(
        "sim", help=_("run an edge agent with a simulated sewing line inside (trainers, compose)")
    )
    sim.add_argument(
        "--config", type=Path, help=_("a gateway.toml; without [[devices]] a 12-station line is used")
    )

    for name, text in (
        ("collector", _("store MQTT machine data in InfluxDB")),
        ("analytics", _("compute OEE and machine health, and send commands back to the floor")),
    ):
        s = sub.add_parser(name, help=text)
        s.add_argument(
            "--config",
            type=Path,
            help=_("path to tonle.toml (default: built-in defaults plus TONLE_* environment variables)"),
        )
    r = sub.add_parser(
        "report",
        help=_("write a one-page shift report (HTML or PDF) of a line for a supervisor"),
        description=_(
            "A printable A4 report of one line: OEE and where the time went, downtime by cause, "
            "pieces per hour against target, station balance and the bottleneck, energy per piece and "
            "maintenance alerts. Times are the plant's local time ([analytics.shifts] tz)."
        ),
    )
    r.add_argument("--line", required=True, help=_("the line, as the gateways name it (e.g. L1)"))
    r.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="TIME",
        help=_("start, local: 2026-11-23T06:00 or 2026-11-23"),
    )
    r.add_argument(
        "--to",
        dest="end",
        required=True,
        metavar="TIME",
        help=_("end, local: 2026-11-23T14:00 (a date: its end)"),
    )
    r.add_argument(
        "--out",
        type=Path,
        default=Path("report.html"),
        help=_("report.html, or report.pdf (needs chromium)"),
    )
    r.add_argument(
        "--html", type=Path, help=_("with a .pdf --out: also keep the page it was printed from here")
    )
    r.add_argument(
        "--config", type=Path, help=_("path to tonle.toml (the database, shifts and line targets)")
    )
    r.add_argument("--site", help=_("the site, when the same line name exists at more than one"))
    r.add_argument("--area", help=_("the area, when the same line name exists at more than one"))
    provision.add_parser(sub)
    from tonle.app import command

    command.add_parser(sub)
    from tonle.app import grafana_push

    grafana_push.add_parser(sub)
    from tonle.app import floor_input

    floor_input.add_parsers(sub)
    from tonle.app import sparkplug_bridge

    sparkplug_bridge.add_parser(sub)
    c = sub.add_parser("check-config", help=_("check a config file and print every problem with its fix"))
    c.add_argument("config", type=Path)
    return _with_lang(p)


def _load(args: argparse.Namespace, path: Path | None) -> TonleConfig:
    """The config at `path`; its `[plant] language` applies unless `--lang` was given."""
    cfg = load_config(path)
    if args.lang is None and cfg.plant.language is not None:
        set_language(cfg.plant.language)
    return cfg


def _run(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run until Ctrl-C or SIGTERM, then shut down cleanly."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


def _check_config(load: Callable[[Path], object], path: Path) -> int:
    """`check-config`: every problem of the file, one a line with its fix, and how many; or OK."""
    try:
        load(path)
    except ConfigError as exc:
        print("\n".join(exc.lines()))
        n = len(exc.problems)
        again = ngettext(
            "{path}: {n} problem; fix it and check again", "{path}: {n} problems; fix them and check again", n
        )
        print(again.format(path=path, n=n))
        return 2
    print(_("{path}: OK").format(path=path))
    return 0


def _cmd_agent(args: argparse.Namespace) -> int:
    from edge_agent.config import load_gateway_config
    from tonle.app.runners import run_agent

    if args.agent_command == "check-config":
        return _check_config(load_gateway_config, args.gateway_config)
    if args.config is None:
        print(
            _(
                "tonle agent: give the gateway config with --config gateway.toml "
                "(see examples/gateway-small-plant.toml)"
            ),
            file=sys.stderr,
        )
        return EXIT_EXPECTED
    cfg = load_gateway_config(args.config)
    _run(lambda stop: run_agent(cfg, stop))
    return 0


def _cmd_sim(args: argparse.Namespace) -> int:
    from edge_agent.config import load_gateway_config
    from tonle.app.runners import run_agent

    cfg = load_gateway_config(args.config, default_devices=[{"type": "sim"}])
    _run(lambda stop: run_agent(cfg, stop))
    return 0


def _cmd_collector(cfg: TonleConfig) -> None:
    from tonle.app.runners import run_collector

    _run(lambda stop: run_collector(cfg, stop))


def _cmd_analytics(cfg: TonleConfig) -> None:
    from tonle.app.runners import run_analytics

    _run(lambda stop: run_analytics(cfg, stop))


def _cmd_report(args: argparse.Namespace) -> int:
    from tonle.app.report import make_report

    cfg = _load(args, args.config)
    rep = make_report(
        cfg, args.line, args.start, args.end, args.out, site=args.site, area=args.area, html=args.html
    )
    f = rep.data.figures
    oee = f"{float(f.line.oee):.0%}" if f.line.oee == f.line.oee else "-"
    wrote = _("wrote {path} (line {line}: OEE {oee}, {good:.0f} good pieces) in {seconds:.1f} s")
    print(wrote.format(path=rep.path, line=args.line, oee=oee, good=f.output_good, seconds=rep.seconds))
    return 0


def _cmd_sparkplug_bridge(args: argparse.Namespace) -> int:
    from tonle.app import sparkplug_bridge

    cfg = _load(args, args.config)
    scada = sparkplug_bridge.scada_broker(args)  # a missing file or variable: said before connecting
    _run(lambda stop: sparkplug_bridge.serve(cfg.mqtt, scada, args, stop))
    return 0


def _expected(exc: BaseException) -> list[Exception] | None:
    """The failures a person can fix behind `exc` (all of a group's), or None if any is a bug."""
    if isinstance(exc, BaseExceptionGroup):
        found: list[Exception] = []
        for inner in exc.exceptions:
            leaves = _expected(inner)
            if leaves is None:
                return None
            found += leaves
        return found
    if isinstance(exc, TonleError | ConfigError):  # ConfigError: a TonleError once tonle.config says so
        return [exc]
    if isinstance(exc, OSError) and (error := file_error(exc)) is not None:
        return [error]
    return None


def _fail(command: str, exc: BaseException, errors: list[Exception], debug: bool) -> int:
    """One plain sentence with the fix per failure (and the traceback with --debug); exit code 2."""
    if debug:
        traceback.print_exception(exc)
    for error in errors:
        print(_("tonle {command}: {error}").format(command=command, error=error), file=sys.stderr)
    return EXIT_EXPECTED


def main(argv: list[str] | None = None) -> int:
    set_language(_early_language(argv))  # None: the environment's choice, until a config says
    with speaking_tonle():  # argparse's "usage:", "options:" and errors in the chosen language too
        args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("httpx", "httpcore", "pymodbus", "asyncua"):  # their INFO is for their developers
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "demo":
            return demo_cli.run(args, _load(args, args.config))
        if args.command == "agent":
            return _cmd_agent(args)
        if args.command == "sim":
            return _cmd_sim(args)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "provision":
            return provision.run(args)
        if args.command == "command":
            from tonle.app import command

            return command.run(args)
        if args.command == "dashboards":
            from tonle.app import grafana_push

            return grafana_push.run(args)
        if args.command in ("defect", "andon"):
            from tonle.app import floor_input

            return floor_input.run_defect(args) if args.command == "defect" else floor_input.run_andon(args)
        if args.command == "sparkplug-bridge":
            return _cmd_sparkplug_bridge(args)
        if args.command == "check-config":
            return _check_config(lambda path: _load(args, path), args.config)
        cfg = _load(args, args.config)
        {"sim": _cmd_sim, "agent": _cmd_sim, "collector": _cmd_collector, "analytics": _cmd_analytics}[
            args.command
        ](cfg)
        return 0
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:
        errors = _expected(exc)
        if errors is None:
            raise
        return _fail(args.command, exc, errors, args.debug)


if __name__ == "__main__":
    sys.exit(main())
