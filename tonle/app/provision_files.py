"""The files `tonle provision` leaves for others to read: the broker's folder, and who owns a key.

The broker needs five files of the security folder (its certificate and key, the CA
certificate, the CRL and the access rules, `dynsec.json`) and must never see the others (the
CA key, every client's key). `write_broker_folder` copies exactly those five into `broker/`
after every change, so docker-compose mounts that folder, and only it, into the broker: a
folder rather than single files because each file is replaced atomically (a new inode, which
a single-file bind mount would never see), and the broker reads them when it restarts.

Keys are private to one process. In compose the broker runs as uid 1883 (the
eclipse-mosquitto image) and the Tonle services as uid 10001 (Dockerfile); `tonle provision`
runs as root there and gives each key to the one user that reads it (`--owner`,
`--broker-owner`). A rewritten file keeps the owner of the file it replaces, so a later
`tonle provision gateway ...` run without those flags does not take the broker's key away.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # X.509 only when `tonle provision` runs: `tonle agent` loads this module's CLI
    from tonle.security.plant import PlantSecurity

__all__ = ["BROKER_DIR", "Owner", "broker_covers", "give", "parse_owner", "write_broker_folder"]

BROKER_DIR = "broker"


class Owner(NamedTuple):
    uid: int
    gid: int


def parse_owner(text: str) -> Owner:
    """`UID` or `UID:GID` (numbers: the users live in the images, not on this host)."""
    uid, _, gid = text.partition(":")
    try:
        return Owner(int(uid), int(gid or uid))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not UID or UID:GID, e.g. 1883:1883") from exc


def give(path: Path, owner: Owner | None) -> None:
    """Make `path` belong to `owner` (no change when None or already so); needs root otherwise."""
    if owner is None:
        return
    st = path.stat()
    if (st.st_uid, st.st_gid) != owner:
        os.chown(path, owner.uid, owner.gid)


def broker_covers(plant_folder: Path, hosts: tuple[str, ...]) -> bool:
    """True when the broker's certificate exists and names every host in `hosts` (and the defaults)."""
    from cryptography import x509

    from tonle.security.plant import DEFAULT_BROKER_HOSTS

    cert_path = plant_folder / "broker.crt"
    if not cert_path.exists():
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    names = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    names |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    return set(DEFAULT_BROKER_HOSTS) | set(hosts) <= names


def _install(data: bytes, dst: Path, mode: int, owner: Owner | None) -> None:
    """Replace `dst` atomically; the new file keeps `owner`, else the old file's owner."""
    tmp = dst.with_name(f".{dst.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    if owner is None and dst.exists():
        st = dst.stat()
        owner = Owner(st.st_uid, st.st_gid)
    give(tmp, owner)
    os.replace(tmp, dst)


def write_broker_folder(plant: PlantSecurity, owner: Owner | None = None) -> Path:
    """Copy what the broker reads into `<folder>/broker/`, readable by `owner` only (mode 0700/0600)."""
    folder = plant.folder / BROKER_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    give(folder, owner)
    broker, ca = plant.broker, plant.authority
    files = {
        "ca.crt": (ca.ca_file, 0o644),
        "broker.crt": (broker.cert, 0o644),
        "broker.key": (broker.key, 0o600),
        "crl.pem": (ca.crl_file, 0o644),
        "dynsec.json": (plant.rules_file, 0o644),
    }
    for name, (src, mode) in files.items():
        _install(src.read_bytes(), folder / name, mode, owner)
    return folder
