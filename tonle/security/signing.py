"""Signed commands: only a trusted key can move a machine, and what it signed cannot be changed.

A command moves a physical machine, and the broker's ACL only says who may *publish* on a
command topic: a leaked password, a misconfigured broker or a replayed capture would still
move the line. So the analytics and operator tools sign every command with Ed25519 over what
matters (its id, time, expiry, target machine, action and value), and the gateway verifies it
against the public keys it trusts before anything moves. `issued_by` is the name of the key
that verified, never a field the sender fills in.

The signed bytes are a JSON array in a fixed order, prefixed with a domain tag so a signature
made for anything else can never pass as a command's. The target is the topic the command
arrived on: a signed command copied to another machine's topic fails.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "SignatureRefused",
    "Signer",
    "TrustedKeys",
    "command_bytes",
    "public_key_text",
]

DOMAIN = "tonle-command/1"
_ENCODER = msgspec.json.Encoder()


class SignatureRefused(ValueError):
    """Why a command's signature does not let it through (the reason goes on cmd/ack)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code  # unsigned | unknown_key | revoked_key | bad_signature


def command_bytes(
    *,
    cmd_id: str,
    ts: int,
    expires: int,
    target: str,
    action: str,
    value: float | None,
    key: str,
) -> bytes:
    """What is signed: everything that decides what a machine does, and who says so."""
    return _ENCODER.encode([DOMAIN, cmd_id, ts, expires, target, action, value, key])


def public_key_text(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 key that signs commands (the analytics service, an operator)."""

    name: str
    _key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def load_or_create(cls, path: Path, name: str) -> Signer:
        """The key in `path` (PEM), made and written 0600 the first time."""
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 key; move it aside and run again")
            return cls(name, key)
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return cls(name, key)

    @property
    def public_text(self) -> str:
        return public_key_text(self._key.public_key())

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message)).decode("ascii")


@dataclass
class TrustedKeys:
    """The public keys a gateway trusts, by name, and the ones taken back."""

    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, trusted: dict[str, str], revoked: list[str] | tuple[str, ...] = ()) -> TrustedKeys:
        keys = {}
        for name, text in trusted.items():
            try:
                keys[name] = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"trusted key {name!r} is not a base64 Ed25519 public key ({exc})") from exc
        return cls(keys, set(revoked))

    def verify(self, key: str, signature: str, message: bytes) -> str:
        """The signer's name if `signature` by `key` covers `message`; else SignatureRefused."""
        if not key or not signature:
            raise SignatureRefused(
                "unsigned", "the command is not signed; only signed commands move machines"
            )
        if key in self.revoked:
            raise SignatureRefused("revoked_key", f"key {key!r} was revoked; commands it signs are refused")
        public = self.keys.get(key)
        if public is None:
            raise SignatureRefused("unknown_key", f"key {key!r} is not one this gateway trusts")
        try:
            public.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, binascii.Error, ValueError) as exc:
            raise SignatureRefused(
                "bad_signature", "the signature does not match the command: altered, or signed by another key"
            ) from exc
        return key
