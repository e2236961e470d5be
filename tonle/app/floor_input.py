"""`tonle defect add` and `tonle andon ack`: what a QC inspector or a supervisor enters by hand.

    tonle defect add --config plant.toml --line L1 --station QC --type "broken stitch" --count 2
    tonle andon ack --config plant.toml --line L1 --station S05 --by Sokha --note "belt replaced"

Each publishes one message (tonle.contract.floor) on the station's `defect` or `andon/ack`
topic, as a QC tablet or a button box does, with the identity of the config's `[mqtt]` (a
`qc` identity from `tonle provision service NAME --role qc` may publish only these two), and
returns once the broker has taken it (QoS 1). The defect type must be one of the plant's
`[plant] defect_types`: a typo is refused with the list, before anything is sent.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import time
import uuid
from pathlib import Path

from tonle.config import TonleConfig, load_config
from tonle.contract import AndonAck, Defect, MachineAddress, PayloadError, TopicError, decode, encode
from tonle.contract.floor import MAX_DEFECTS, FloorPayload
from tonle.errors import TonleError
from tonle.io.connect import mqtt_connection
from tonle.messages import N_, _

__all__ = ["FloorInputError", "add_parsers", "publish_floor", "run_andon", "run_defect"]


NO_SUBSCRIBERS = 16  # MQTT v5 PUBACK: taken, and dropped because nobody subscribed


class FloorInputError(TonleError):
    """A defect or an acknowledgement cannot be sent as typed; the message says what to fix."""


def _place(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help=_("tonle.toml with the [mqtt] broker and [plant] to use"))
    p.add_argument("--site", help=_("the site (default: [plant] site)"))
    p.add_argument("--area", help=_("the area (default: [plant] area)"))
    p.add_argument("--line", required=True, help=_("the line, e.g. L1"))
    p.add_argument("--station", required=True, help=_("the station, e.g. QC or S05"))


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `tonle defect add` and `tonle andon ack`."""
    d = sub.add_parser("defect", help=_("record defects found at a quality check"))
    dsub = d.add_subparsers(dest="defect", required=True, metavar="ACTION")
    add = dsub.add_parser("add", help=_("record defects of one type found at a check station"))
    _place(add)
    add.add_argument(
        "--type", dest="defect_type", required=True, help=_('the defect type, e.g. "broken stitch"')
    )
    add.add_argument("--count", type=int, default=1, help=_("how many of that defect (default 1)"))
    add.add_argument("--by", default="", help=_("who found them (default: your login name)"))
    a = sub.add_parser("andon", help=_("acknowledge a station's andon light"))
    asub = a.add_subparsers(dest="andon", required=True, metavar="ACTION")
    ack = asub.add_parser("ack", help=_("say that you have seen a station's andon and are on it"))
    _place(ack)
    ack.add_argument("--by", required=True, help=_("your name, as the andon board shows it"))
    ack.add_argument("--note", default="", help=_("what you found or did (optional)"))


def _address(cfg: TonleConfig, args: argparse.Namespace) -> MachineAddress:
    site, area = args.site or cfg.plant.site, args.area or cfg.plant.area
    try:
        return MachineAddress(site, area, args.line, args.station)
    except TopicError as exc:
        raise FloorInputError(
            N_("the station's address is not valid: {problem}"),
            fix=N_("use letters, digits, - or _ in --site, --area, --line and --station"),
            problem=str(exc),
        ) from exc


def check_defect(cfg: TonleConfig, defect_type: str, count: int) -> str:
    """The configured spelling of `defect_type` (case and spaces forgiven), or FloorInputError."""
    wanted = " ".join(defect_type.split()).casefold()
    for known in cfg.plant.defect_types:
        if known.casefold() == wanted:
            break
    else:
        raise FloorInputError(
            N_("{type!r} is not a defect type of this plant"),
            fix=N_("use one of: {types} (or add it to [plant] defect_types)"),
            type=defect_type,
            types=", ".join(cfg.plant.defect_types),
        )
    if not 1 <= count <= MAX_DEFECTS:
        raise FloorInputError(
            N_("--count {count} is not a number of defects"),
            fix=N_("give a count from 1 to {max}"),
            count=count,
            max=MAX_DEFECTS,
        )
    return known


def run_defect(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    addr = _address(cfg, args)
    known = check_defect(cfg, args.defect_type, args.count)
    by = args.by or getpass.getuser()
    msg = Defect(v=1, ts=time.time_ns(), defect_type=known, by=by, count=args.count)
    asyncio.run(publish_floor(cfg, addr, msg))
    print(_("{count} × {type} recorded at {station} of {line} by {by}").format(
        count=args.count, type=known, station=addr.machine, line=addr.line, by=by))  # fmt: skip
    return 0


def run_andon(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    addr = _address(cfg, args)
    msg = AndonAck(v=1, ts=time.time_ns(), by=args.by, note=args.note)
    asyncio.run(publish_floor(cfg, addr, msg))
    print(_("andon of {station} on {line} acknowledged by {by}").format(
        station=addr.machine, line=addr.line, by=args.by))  # fmt: skip
    return 0


async def publish_floor(cfg: TonleConfig, addr: MachineAddress, msg: FloorPayload) -> None:
    """Publish `msg` on its station's topic at QoS 1; returns once the broker holds it."""
    kind = "defect" if isinstance(msg, Defect) else "andon/ack"
    payload = encode(msg)
    try:
        decode(kind, payload)  # the collector's own check, before it leaves this machine
    except PayloadError as exc:
        raise FloorInputError(
            N_("the collector would refuse this: {problem}"),
            fix=N_("correct it and run the command again"),
            problem=exc.reason,
        ) from exc
    async with mqtt_connection(cfg, "qc", name=uuid.uuid4().hex[:8]) as mqtt:
        await mqtt.wait_connected()
        code = await mqtt.publish(addr.topic(kind), payload, qos=1)
    if code == NO_SUBSCRIBERS:
        raise FloorInputError(
            N_("the broker took it but no collector is listening, so it was not stored"),
            fix=N_("start the collector (`tonle collector`) and run the command again"),
        )
    if code != 0:
        raise FloorInputError(
            N_("the broker refused it (reason code {code}): this identity may not send it"),
            fix=N_(
                "use a qc identity for this line: "
                "`tonle provision service NAME --role qc --site SITE --area AREA --line LINE`"
            ),
            code=code,
        )
