"""The text layer of the serial protocol: CRC seal, number and text fields, boot ids.

Shared by the node frames (`serial_frames`) and the gateway lines (`serial_host`): a
line is its payload, `*`, the CRC-16/CCITT-FALSE of the payload as four upper-case hex
digits, and CR LF. Text fields are percent-encoded so `,` `*` `$` never appear raw.
"""

from __future__ import annotations

import binascii
import re
from urllib.parse import quote, unquote

__all__ = [
    "FrameError",
    "check_boot",
    "crc16",
    "num",
    "seal",
    "text",
    "uint",
    "unseal",
    "untext",
]

_TEXT_SAFE = " !#&'()+-./:;<=>?@[]^_`{|}~"  # printable ASCII kept readable; never , * $ %
_HEX = frozenset("0123456789ABCDEF")
_BAD_PERCENT = re.compile(r"%(?![0-9A-F]{2})")


class FrameError(ValueError):
    """A line that is not a valid frame: bad CRC, truncated, garbled or malformed."""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); binascii does it in C."""
    return binascii.crc_hqx(data, 0xFFFF)


def seal(payload: str) -> bytes:
    data = payload.encode("ascii")
    return data + b"*%04X\r\n" % crc16(data)


def unseal(line: bytes, limit: int) -> str:
    """Strip the terminator, check length and CRC; return the payload text."""
    if line.endswith(b"\r\n"):
        line = line[:-2]
    elif line.endswith(b"\n"):
        line = line[:-1]
    if len(line) > limit:
        raise FrameError(f"line of {len(line)} bytes is longer than {limit}")
    data, star, crc = line.rpartition(b"*")
    if not star:
        raise FrameError("no '*' before the checksum: truncated or garbled line")
    digits = crc.decode("latin-1")
    if len(digits) != 4 or not _HEX.issuperset(digits):
        raise FrameError(f"checksum field {digits[:8]!r} is not four upper-case hex digits")
    if int(digits, 16) != crc16(data):
        raise FrameError(f"checksum mismatch: line says {digits}, content gives {crc16(data):04X}")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FrameError("non-ASCII byte in a line") from exc


def num(value: float) -> str:
    """Shortest text that parses back to the same float (numpy scalars included)."""
    return repr(float(value))


def text(value: str) -> str:
    return quote(value, safe=_TEXT_SAFE)


def untext(value: str) -> str:
    if _BAD_PERCENT.search(value):
        raise FrameError(f"bad percent-escape in text field {value[:24]!r}")
    return unquote(value, errors="strict")


def uint(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise FrameError(f"{value[:24]!r} is not a non-negative integer")
    return int(value)


def check_boot(boot: str) -> None:
    if len(boot) != 8 or not _HEX.issuperset(boot):
        raise FrameError(f"boot id {boot[:12]!r} is not eight upper-case hex digits")
