"""`tonle provision`: give a gateway or a service its own identity, or take it back.

The technician's whole job for security, in four commands run on the plant server:

    tonle provision init --broker-host 192.168.10.5            # once: the CA, the broker's cert
    tonle provision gateway gw-l1 --site pp --area sewing --line L1   # a folder to copy to it
    tonle provision service collector-1 --role collector        # the server's own processes
    tonle provision revoke gw-l1                                 # a stolen or retired gateway

Each writes the certificates, `identities.json` and the broker's access rules (`dynsec.json`)
and `crl.pem` in the security folder (`--dir`, default `./security`), copies what the broker
reads into its `broker/` subfolder (tonle.app.provision_files), then says in one sentence what
to do next (copy the folder, restart the broker). Nothing here talks to the network.

`--keep-existing` makes a command safe to run on every start (docker-compose's `provision`
service): what already exists is kept, never re-issued, and a revoked name stays revoked.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tonle.app.provision_files import BROKER_DIR, Owner, broker_covers, give, parse_owner, write_broker_folder
from tonle.errors import TonleError
from tonle.messages import N_, _

if TYPE_CHECKING:  # loaded by `tonle provision` only: `tonle agent` on a gateway needs no X.509
    from tonle.security.plant import PlantSecurity
    from tonle.security.registry import Member

ROLES = ("gateway", "collector", "analytics", "operator", "observer", "healthcheck", "qc")  # registry.ROLES

__all__ = ["ProvisionError", "add_parser", "run"]

DEFAULT_DIR = Path("security")
RELOAD = N_(
    "restart the broker so it loads the new access rules and CRL: `docker compose restart mosquitto` "
    "(or restart the mosquitto service); clients reconnect within seconds and nothing is lost"
)


KEEP_HELP = N_("keep what already exists (run on every start); a revoked name stays revoked")
OWNER_HELP = N_("give the key to this user, UID or UID:GID (the process that reads it; needs root)")
KEPT = N_("{name} already exists ({state}): kept as it is (--keep-existing)")

COPY_BUNDLE = N_(
    "gateway {name}: copy the folder {bundle} to the gateway, add its devices to gateway.toml, "
    "and run `tonle agent --config gateway.toml` there"
)


class ProvisionError(TonleError):
    """An identity cannot be made or taken back; the message names it and the fix."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("provision", help=_("give a gateway or a service its own identity, or take it back"))
    p.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=_("the security folder (default ./security)")
    )
    ps = p.add_subparsers(dest="provision", required=True, metavar="WHAT")
    init = ps.add_parser("init", help=_("make the plant's CA and the broker's certificate (once)"))
    init.add_argument(
        "--broker-host",
        action="append",
        default=[],
        metavar="NAME",
        help=_("a name or address gateways use to reach the broker (repeat for several)"),
    )
    init.add_argument("--keep-existing", action="store_true", help=_(KEEP_HELP))
    init.add_argument(
        "--broker-owner",
        type=_owner,
        default=None,
        metavar="UID[:GID]",
        help=_("give the broker's folder and key to this user (1883 in the eclipse-mosquitto image)"),
    )
    gw = ps.add_parser("gateway", help=_("a gateway: its certificate and a ready config, in one folder"))
    gw.add_argument("name", help=_("the gateway's name, e.g. gw-l1 (also its agent id)"))
    for level in ("site", "area", "line"):
        gw.add_argument(f"--{level}", required=True, help=_("the {level} it serves").format(level=level))
    gw.add_argument(
        "--machines",
        default="",
        help=_("the machines it may speak for, comma separated (default: every machine of the line)"),
    )
    gw.add_argument("--broker-host", default="", help=_("how the gateway reaches the broker"))
    gw.add_argument("--broker-port", type=int, default=8883)
    svc = ps.add_parser(
        "service", help=_("a collector, analytics, operator, observer, healthcheck or qc (a QC tablet)")
    )
    svc.add_argument("name")
    svc.add_argument("--role", required=True, choices=[r for r in ROLES if r != "gateway"])
    svc.add_argument("--site", default="", help=_("limit analytics, operator, observer or qc to one site"))
    svc.add_argument("--area", default="", help=_("limit a qc identity to one area (with --site)"))
    svc.add_argument("--line", default="", help=_("limit a qc identity to one line (with --site, --area)"))
    for p_ in (gw, svc):
        p_.add_argument("--keep-existing", action="store_true", help=_(KEEP_HELP))
        p_.add_argument("--owner", type=_owner, default=None, metavar="UID[:GID]", help=_(OWNER_HELP))
    rv = ps.add_parser("revoke", help=_("take an identity's certificate and topics back"))
    rv.add_argument("name")
    ps.add_parser("list", help=_("every identity, its role and what it may speak for"))


def _owner(text: str) -> Owner:
    try:
        return parse_owner(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    from tonle.security.names import Confusable
    from tonle.security.pki import PkiError
    from tonle.security.registry import RegistryError

    try:
        return _run(args)
    except (RegistryError, PkiError, Confusable) as exc:
        raise ProvisionError(str(exc), fix=_("see `tonle provision --help`")) from exc
    except PermissionError as exc:
        raise ProvisionError(
            _("cannot give {path} to its user: {reason}").format(path=exc.filename, reason=exc.strerror),
            fix=_("run `tonle provision` as root (docker compose's provision service does), or drop --owner"),
        ) from exc


def _run(args: argparse.Namespace) -> int:
    from tonle.security.plant import PlantSecurity

    folder: Path = args.dir
    what = args.provision
    if what == "init":
        return _init(folder, args)
    if not (folder / "ca.crt").exists():
        raise ProvisionError(
            _("there is no plant CA in {folder}").format(folder=folder),
            fix=_("run `tonle provision init --broker-host NAME` first, or pass --dir"),
        )
    plant = PlantSecurity.open(folder)
    if what == "list":
        _list(plant)
        return 0
    if what == "gateway":
        changed = _gateway(plant, args)
    elif what == "service":
        changed = _service(plant, args)
    else:
        changed = _revoke(plant, args.name)
    write_broker_folder(plant)
    if changed:
        print(_(RELOAD))
    return 0


def _revoke(plant: PlantSecurity, name: str) -> bool:
    member = plant.revoke(name)
    shutil.rmtree(plant.folder / "gateways" / name, ignore_errors=True)  # its key: gone
    print(_("{name} ({role}) is revoked: its certificate is in the CRL and it has no topics").format(
        name=member.name, role=member.role))  # fmt: skip
    return True


def _init(folder: Path, args: argparse.Namespace) -> int:
    from tonle.security.plant import PlantSecurity

    hosts = tuple(h for h in args.broker_host if h)
    if args.keep_existing and broker_covers(folder, hosts):
        plant = PlantSecurity.open(folder)  # the broker's certificate names every host: kept
    else:
        plant = PlantSecurity.open(folder, hosts)
    write_broker_folder(plant, args.broker_owner)
    print(_("the plant CA and the broker's certificate are in {folder}").format(folder=folder))
    print(_("the broker reads {broker} only: mount or point mosquitto at that folder").format(
        broker=folder / BROKER_DIR))  # fmt: skip
    print(_("next: `tonle provision service NAME --role collector` (and analytics), then each gateway"))
    return 0


def _kept(plant: PlantSecurity, args: argparse.Namespace) -> bool:
    """With --keep-existing, True when `args.name` already exists (said so, its owner applied)."""
    member = plant.registry.members.get(args.name)
    ident = plant.identity(args.name)
    if not args.keep_existing or member is None or not ident.cert.exists():
        return False
    state = _("revoked") if member.revoked else _("active")
    print(_(KEPT).format(name=args.name, state=state))
    _give_identity(plant, args.name, args.owner)
    return True


def _give_identity(plant: PlantSecurity, name: str, owner: Owner | None) -> None:
    ident = plant.identity(name)
    for path in (ident.key, ident.cert):
        if path.exists():
            give(path, owner)


def _service(plant: PlantSecurity, args: argparse.Namespace) -> bool:
    from tonle.security.registry import Member

    if _kept(plant, args):
        return False
    ident = plant.add(Member(args.name, args.role, site=args.site, area=args.area, line=args.line))
    _give_identity(plant, args.name, args.owner)
    print(_("{name} ({role}): {cert} and its key; trust {ca}").format(
        name=args.name, role=args.role, cert=ident.cert, ca=plant.authority.ca_file))  # fmt: skip
    return True


def _list(plant: PlantSecurity) -> None:
    for m in sorted(plant.registry.members.values(), key=lambda m: (m.role, m.name)):
        place = "/".join(p for p in m.place if p) or "-"
        machines = ",".join(m.machines) or "*"
        state = _("revoked") if m.revoked else _("active")
        print(f"{m.name:24} {m.role:12} {state:8} {place} {machines if m.role == 'gateway' else ''}")


def _gateway(plant: PlantSecurity, args: argparse.Namespace) -> bool:
    from tonle.security.registry import Member

    bundle = plant.folder / "gateways" / args.name
    if _kept(plant, args):
        return False
    machines = tuple(m.strip() for m in args.machines.split(",") if m.strip())
    member = Member(args.name, "gateway", args.site, args.area, args.line, machines)
    ident = plant.add(member)
    _give_identity(plant, args.name, args.owner)
    bundle.mkdir(parents=True, exist_ok=True)
    for src, dst in (
        (plant.authority.ca_file, "ca.crt"),
        (ident.cert, "gateway.crt"),
        (ident.key, "gateway.key"),
    ):
        shutil.copy2(src, bundle / dst)
    (bundle / "gateway.key").chmod(0o600)
    host = args.broker_host or "BROKER-ADDRESS"
    (bundle / "gateway.toml").write_text(gateway_stub(member, host, args.broker_port), encoding="utf-8")
    print(_(COPY_BUNDLE).format(name=args.name, bundle=bundle))
    return True


def gateway_stub(m: Member, host: str, port: int) -> str:
    """A gateway config that connects as `m` and speaks for its line; devices are the technician's."""
    owns = ", ".join(m.machines) if m.machines else "every machine of the line"

    def q(text: str) -> str:  # a TOML basic string (JSON's escapes are TOML's)
        return json.dumps(text, ensure_ascii=False)

    return f"""# Gateway {m.name}, made by `tonle provision gateway`. It may speak for: {owns}.
# Copy this whole folder to the gateway; the paths below are relative to this file.
# Add the devices (see examples/gateway-small-plant.toml), then: tonle agent --config gateway.toml

[mqtt]
host = {q(host)}
port = {port}
ca_file = "ca.crt"         # the plant CA: the gateway talks to no other broker
cert_file = "gateway.crt"  # who this gateway is; revoke with `tonle provision revoke {m.name}`
key_file = "gateway.key"   # keep secret (mode 0600)

[agent]
id = {q(m.name)}            # must stay the certificate's name: the broker checks it
site = {q(m.site)}
area = {q(m.area)}
line = {q(m.line)}

[spool]
path = "/var/lib/tonle/spool"
"""
