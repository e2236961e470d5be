"""`tonle command`: an operator sends a signed command by hand and reads the gateway's answer.

    tonle command keygen --as alice --key alice.key
    tonle command --config plant.toml --key alice.key --as alice clear_andon kandal/sewing/line_3/sm01
    tonle command --config plant.toml --key alice.key --as alice set_speed kandal/sewing/line_3/sm01 0.8

`keygen` makes the operator's Ed25519 key (0600; an existing one is kept) and prints the line to
paste under `[agent.trusted_keys]` in each gateway that should accept that person's commands.
An action signs the command with the key for that machine (`tonle.security.commands`), sends
it on the machine's `cmd` topic, waits for the ack on `cmd/ack` and prints it in one sentence.
Exit code: 0 applied, 1 the gateway did not apply it (refused, rejected, expired), 3 no answer
in time; 2, as for every command, a failure with a fix (the broker cannot be reached, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path
from typing import get_args

from tonle.config import TonleConfig, load_config
from tonle.contract import Command, CommandAck, MachineAddress, PayloadError, TopicError, decode, encode
from tonle.contract.payloads import CommandAction
from tonle.errors import TonleError
from tonle.io.connect import mqtt_connection
from tonle.messages import N_, _
from tonle.security.commands import load_signer, sign_command
from tonle.security.signing import Signer

__all__ = ["EXIT_NOT_APPLIED", "EXIT_NO_ANSWER", "add_parser", "run", "send_command"]

EXIT_NOT_APPLIED = 1
EXIT_NO_ANSWER = 3
NS = 1_000_000_000
ACTIONS: tuple[str, ...] = get_args(CommandAction)


def _common(p: argparse.ArgumentParser, default: object) -> None:
    """The options every form takes, before or after the action (`default` SUPPRESS after it)."""
    p.add_argument("--key", type=Path, default=default, help=_("the signing key file (keygen makes it)"))
    p.add_argument("--as", dest="name", default=default, help=_("the key's name, as the gateways trust it"))
    p.add_argument("--config", type=Path, default=default, help=_("tonle.toml with the [mqtt] broker to use"))
    p.add_argument(
        "--expires-in", type=float, default=default, metavar="SECONDS", help=_("expiry (default 60)")
    )
    p.add_argument(
        "--wait", type=float, default=default, metavar="SECONDS", help=_("wait for the ack (default 15)")
    )
    p.add_argument("--reason", default=default, help=_("why, as the audit shows it"))


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `tonle command` (keygen, and one form per action)."""
    p = sub.add_parser(
        "command",
        help=_("send a signed command to one machine by hand and show the gateway's answer"),
        description=_(
            "Sign a command with your key, send it to one machine (site/area/line/machine) and "
            "print the gateway's answer. `keygen` makes a key and prints the line each gateway needs."
        ),
    )
    _common(p, None)
    forms = p.add_subparsers(dest="form", required=True, metavar="ACTION")
    keygen = forms.add_parser("keygen", help=_("make a signing key and print its public key line"))
    _common(keygen, argparse.SUPPRESS)
    for action in ACTIONS:
        a = forms.add_parser(action, help=_("send {action} to a machine").format(action=action))
        a.add_argument("machine", metavar="SITE/AREA/LINE/MACHINE")
        a.add_argument("value", type=float, nargs="?", help=_("the value (set_speed: fraction of nominal)"))
        _common(a, argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    if args.key is None or not args.name:
        raise TonleError(
            N_("tonle command needs a key file and its name"),
            fix=N_("add --key FILE --as NAME (tonle command keygen --as NAME --key FILE makes one)"),
        )
    signer = load_signer(args.key, args.name)
    if args.form == "keygen":
        line = _("{path} signs as {name}; add this line under [agent.trusted_keys] in each gateway that")
        print(line.format(path=args.key, name=signer.name))
        print(_("should accept {name}'s commands:").format(name=signer.name))
        print(f'{signer.name} = "{signer.public_text}"')
        return 0
    cfg = load_config(args.config)
    addr = machine_address(args.machine)
    cmd = Command(
        v=1,
        id=uuid.uuid4().hex[:16],
        ts=time.time_ns(),
        expires=time.time_ns() + int((args.expires_in or 60.0) * NS),
        action=args.form,
        reason=args.reason or f"sent by hand by {signer.name}",
        value=args.value,
        issued_by=signer.name,
    )
    wait_s = args.wait or 15.0
    ack = asyncio.run(send_command(cfg, signer, addr, cmd, wait_s))
    print(describe(addr, cmd, ack, wait_s))
    if ack is None:
        return EXIT_NO_ANSWER
    return 0 if ack.status == "applied" else EXIT_NOT_APPLIED


def machine_address(text: str) -> MachineAddress:
    parts = text.split("/")
    try:
        if len(parts) != 4:
            raise TopicError(text)
        return MachineAddress(*parts)
    except TopicError as exc:
        raise TonleError(
            N_("{address!r} is not a machine address"),
            fix=N_("write it as site/area/line/machine, e.g. kandal/sewing/line_3/sm01"),
            address=text,
        ) from exc


async def send_command(
    cfg: TonleConfig, signer: Signer, addr: MachineAddress, cmd: Command, wait_s: float
) -> CommandAck | None:
    """Sign `cmd` for `addr`, send it and return the gateway's ack (None: none within `wait_s`)."""
    signed = sign_command(cmd, addr, signer)
    async with mqtt_connection(cfg, "operator", name=f"{signer.name}-{cmd.id}") as mqtt:
        await mqtt.subscribe(addr.topic("cmd/ack"), qos=1)
        await mqtt.wait_subscribed()
        await mqtt.publish(addr.topic("cmd"), encode(signed), qos=1)
        deadline = asyncio.get_running_loop().time() + wait_s
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                msg = await asyncio.wait_for(mqtt.messages.get(), left)
            except TimeoutError:
                return None
            try:
                ack = decode("cmd/ack", bytes(msg.payload))
            except PayloadError:
                continue
            assert isinstance(ack, CommandAck)
            if ack.id == cmd.id and ack.code != "replayed":
                return ack
    return None


def describe(addr: MachineAddress, cmd: Command, ack: CommandAck | None, wait_s: float) -> str:
    """The answer in one plain sentence."""
    where = f"{addr.site}/{addr.area}/{addr.line}/{addr.machine}"
    if ack is None:
        return _(
            "no answer from the gateway of {machine} within {wait:g} s: check that its agent runs and is "
            "connected; the command ({action}, id {id}) may still be applied until it expires"
        ).format(machine=where, wait=wait_s, action=cmd.action, id=cmd.id)
    if ack.status == "applied":
        return _("{action} on {machine}: applied (signed by {signer}){detail}").format(
            action=cmd.action,
            machine=where,
            signer=ack.signer,
            detail=f": {ack.detail}" if ack.detail else "",
        )
    return _("{action} on {machine}: not applied, {status} ({code}): {detail}").format(
        action=cmd.action, machine=where, status=ack.status, code=ack.code or "-", detail=ack.detail
    )
