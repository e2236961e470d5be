"""Signing a command for one machine, and checking that signature where the machine is.

The target a command is signed for is the machine's address, `site/area/line/machine`
(`command_target`): the path of its `cmd` topic without the `tonle/` root and the kind. The
gateway rebuilds it from the topic the command *arrived on*, never from the payload, so a
signed command copied to another machine's topic, another line or another site fails as
`bad_signature`. The signer's name goes into the signed bytes too: a signature cannot be
passed off under another key's name.

The analytics outbox and the `tonle command` CLI sign (`sign_command`); the edge agent
verifies (`verify_command`) before its gate looks at anything else.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from tonle.contract import Command, MachineAddress
from tonle.errors import FileError, file_error
from tonle.messages import N_
from tonle.security.signing import Signer, TrustedKeys, command_bytes

__all__ = ["command_target", "load_signer", "sign_command", "signed_message", "verify_command"]


def load_signer(path: Path, name: str) -> Signer:
    """The signing key at `path` (made, 0600, the first time), or a FileError with the fix."""
    try:
        return Signer.load_or_create(path, name)
    except OSError as exc:
        raise (file_error(exc) or exc) from exc
    except ValueError as exc:
        raise FileError(
            N_("cannot use {path} as a command signing key: {reason}"),
            path=str(path),
            reason=str(exc),
            fix=N_("point the setting at the key `tonle command keygen` made, or move the file aside"),
        ) from exc


def command_target(addr: MachineAddress) -> str:
    """What a command's signature is bound to: `site/area/line/machine`."""
    return f"{addr.site}/{addr.area}/{addr.line}/{addr.machine}"


def signed_message(cmd: Command, addr: MachineAddress) -> bytes:
    """The bytes a signature over `cmd` sent to `addr` covers (key name included)."""
    return command_bytes(
        cmd_id=cmd.id,
        ts=cmd.ts,
        expires=cmd.expires,
        target=command_target(addr),
        action=cmd.action,
        value=cmd.value,
        key=cmd.key,
    )


def sign_command(cmd: Command, addr: MachineAddress, signer: Signer) -> Command:
    """`cmd` signed by `signer` for the machine at `addr` (`issued_by` stays the sender's label).

    Ed25519 signatures are deterministic: the same command signed again is the same bytes,
    so a re-send (or a command the analytics rebuilt from the database) is one message.
    """
    named = msgspec.structs.replace(cmd, key=signer.name, sig="")
    return msgspec.structs.replace(named, sig=signer.sign(signed_message(named, addr)))


def verify_command(keys: TrustedKeys, cmd: Command, addr: MachineAddress) -> str:
    """The name of the trusted key that signed `cmd` for `addr`; else `SignatureRefused`."""
    return keys.verify(cmd.key, cmd.sig, signed_message(cmd, addr))
