"""Gateway -> node lines of the serial protocol: ACK, SYNC and CMD (docs/serial-protocol.md)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from tonle.protocols.serial_text import FrameError, check_boot, num, seal, uint, unseal

__all__ = ["MAX_HOST_LINE_BYTES", "Ack", "Cmd", "HostLine", "Sync", "decode_host", "encode_host"]

MAX_HOST_LINE_BYTES = 1024  # a CMD with a 64-character id, percent-encoded, fits


@dataclass(frozen=True, slots=True)
class Ack:
    """Frames up to `seq` of boot `boot` are durable at the gateway; the node may forget them."""

    seq: int
    boot: str


@dataclass(frozen=True, slots=True)
class Sync:
    """Resend unacked frames: all of them, or (same boot only) those from `from_seq` on."""

    from_seq: int | None = None
    boot: str | None = None


@dataclass(frozen=True, slots=True)
class Cmd:
    cmd_id: str
    action: str
    value: float | None


HostLine = Ack | Sync | Cmd


def encode_host(msg: HostLine) -> bytes:
    if isinstance(msg, Ack):
        check_boot(msg.boot)
        words = ["ACK", str(msg.seq), msg.boot]
    elif isinstance(msg, Sync):
        if (msg.from_seq is None) != (msg.boot is None):
            raise ValueError("SYNC takes both from_seq and boot, or neither")
        words = ["SYNC"] if msg.boot is None else ["SYNC", str(msg.from_seq), msg.boot]
    else:
        value = "-" if msg.value is None else num(msg.value)
        words = ["CMD", quote(msg.cmd_id, safe=""), quote(msg.action, safe=""), value]
    line = seal(" ".join(words))
    if len(line) > MAX_HOST_LINE_BYTES:
        raise ValueError(f"gateway line of {len(line)} bytes exceeds {MAX_HOST_LINE_BYTES}")
    return line


def decode_host(line: bytes) -> HostLine:
    words = unseal(line, MAX_HOST_LINE_BYTES).split(" ")
    try:
        match words:
            case ["ACK", seq, boot]:
                check_boot(boot)
                return Ack(uint(seq), boot)
            case ["SYNC"]:
                return Sync()
            case ["SYNC", seq, boot]:
                check_boot(boot)
                return Sync(uint(seq), boot)
            case ["CMD", cmd_id, action, value]:
                number = None if value == "-" else float(value)
                return Cmd(unquote(cmd_id, errors="strict"), unquote(action, errors="strict"), number)
    except ValueError as exc:
        raise FrameError(f"malformed gateway line: {exc}") from exc
    raise FrameError(f"unknown gateway line {words[0][:16]!r} with {len(words) - 1} arguments")
