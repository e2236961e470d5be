"""The plant's own small certificate authority: made on first use, kept in one folder.

Every MQTT connection runs over TLS, and every client shows a certificate of its own: the
broker takes the identity (the certificate's common name) as the user name and as the client
id, so a gateway cannot pose as another gateway or as a collector, and the ACL generated from
the namespace (`tonle.security.acl`) says what that identity may do. Revoking one identity
puts its serial in the CRL the broker reloads; the others keep working.

Keys are ECDSA P-256 (small, fast on a Raspberry Pi's TLS handshake); the CA key never leaves
`ca.key` (mode 0600). Layout of the folder:

    ca.crt, ca.key, crl.pem     the authority, and the list of revoked serials
    <name>.crt, <name>.key      one identity (the broker's server certificate is "broker")
    revoked.txt                 "<serial hex> <name>" lines: what the CRL is made from
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Authority", "Identity", "PkiError"]

CA_DAYS = 10 * 365
LEAF_DAYS = 825  # what browsers accept; a plant re-issues when it rotates (docs/security.md)
CRL_DAYS = 365
ORG = "Tonle plant"


class PkiError(ValueError):
    """A certificate cannot be made or found; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Where one identity's certificate and key are."""

    name: str
    cert: Path
    key: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret readable by its owner only (created 0600, never world-readable for a moment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class Authority:
    """The CA in `folder`: `Authority.open(folder)` makes it the first time, loads it after."""

    def __init__(self, folder: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self.folder = folder
        self._key = key
        self.cert = cert

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def crl_file(self) -> Path:
        return self.folder / "crl.pem"

    @classmethod
    def open(cls, folder: Path, name: str = "Tonle plant CA") -> Authority:
        folder.mkdir(parents=True, exist_ok=True)
        key_path, cert_path = folder / "ca.key", folder / "ca.crt"
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise PkiError(f"{key_path} is not an EC key; move the folder aside and run again")
            ca = cls(folder, key, x509.load_pem_x509_certificate(cert_path.read_bytes()))
        else:
            ca = cls._create(folder, name)
        if not ca.crl_file.exists():
            ca.write_crl()
        return ca

    @classmethod
    def _create(cls, folder: Path, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(folder / "ca.key", _key_pem(key))
        (folder / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(folder, key, cert)

    # -- identities ---------------------------------------------------------------------
    def identity(self, name: str) -> Identity:
        return Identity(name, self.folder / f"{name}.crt", self.folder / f"{name}.key")

    def issue(self, name: str, *, server_hosts: tuple[str, ...] = (), role: str = "") -> Identity:
        """A new key and certificate for `name` (a client; a server when `server_hosts` are given).

        Issuing a name again replaces its certificate; the old one keeps working until revoked.
        """
        if not name or "/" in name or name in ("ca", "crl"):
            raise PkiError(f"{name!r} cannot be an identity name; use letters, digits, - or _")
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
        if role:
            attrs.insert(1, x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_hosts else ExtendedKeyUsageOID.CLIENT_AUTH
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        )
        if server_hosts:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_san(h) for h in server_hosts]), critical=False
            )
        cert = builder.sign(self._key, hashes.SHA256())
        ident = self.identity(name)
        _write_private(ident.key, _key_pem(key))
        ident.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return ident

    def revoke(self, name: str) -> int:
        """Revoke `name`'s current certificate; returns its serial. The CRL is rewritten."""
        ident = self.identity(name)
        if not ident.cert.exists():
            raise PkiError(f"there is no certificate for {name!r} in {self.folder}")
        serial = x509.load_pem_x509_certificate(ident.cert.read_bytes()).serial_number
        with (self.folder / "revoked.txt").open("a", encoding="utf-8") as f:
            f.write(f"{serial:x} {name}\n")
        self.write_crl()
        return serial

    def revoked(self) -> dict[int, str]:
        path = self.folder / "revoked.txt"
        if not path.exists():
            return {}
        out = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            serial, _, name = line.partition(" ")
            if serial:
                out[int(serial, 16)] = name
        return out

    def write_crl(self) -> None:
        """The CRL of every revoked serial, signed by the CA (mosquitto reloads it on SIGHUP)."""
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + dt.timedelta(days=CRL_DAYS))
        )
        for serial in self.revoked():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
            )
        crl = builder.sign(self._key, hashes.SHA256())
        self.crl_file.write_bytes(crl.public_bytes(serialization.Encoding.PEM))


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
