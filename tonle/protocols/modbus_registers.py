"""Registers to numbers and back: the word and byte orders field devices really use.

A 32-bit value spans two 16-bit registers, and vendors disagree on both orders:
`word_order` says which register holds the high half ("big": the first), and
`byte_order` which byte of each register comes first on the wire ("big": the high
byte, as the Modbus standard says). With the four bytes of the big-endian value
named A B C D:

    word big,    byte big    -> ABCD   (Eastron SDM, Siemens S7, most meters)
    word little, byte big    -> CDAB   (Modicon convention, many small PLCs)
    word big,    byte little -> BADC
    word little, byte little -> DCBA

Why not pymodbus's `convert_from_registers`: it handles the word order but not a
byte swap inside each register (BADC, DCBA), its signature changed across 3.x
releases, and a gateway decodes a few dozen registers per poll, so `struct` on
four bytes is all the speed needed (numpy would only add conversions). The tests
check this module against `convert_from_registers` wherever both apply.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Literal

__all__ = ["FORMATS", "Order", "RegisterType", "decode", "encode", "raw_range", "width"]

RegisterType = Literal["int16", "uint16", "int32", "uint32", "float32"]
Order = Literal["big", "little"]

# struct format and register count per type
FORMATS: dict[str, tuple[str, int]] = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "float32": ("f", 2),
}


def width(type_: str) -> int:
    """Registers a value of `type_` occupies."""
    return FORMATS[type_][1]


def raw_range(type_: str) -> tuple[float, float]:
    """The smallest and largest raw value a register type can carry."""
    if type_ == "float32":
        return (-3.4028234663852886e38, 3.4028234663852886e38)
    bits = 16 * width(type_)
    if type_.startswith("u"):
        return (0, 2**bits - 1)
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def decode(
    words: Sequence[int], type_: str, word_order: Order = "big", byte_order: Order = "big"
) -> int | float:
    """The raw value held by `words` (exactly `width(type_)` registers, each 0..65535)."""
    fmt, n = FORMATS[type_]
    if len(words) != n:
        raise ValueError(f"{type_} needs {n} register(s), got {len(words)}")
    ordered = words if word_order == "big" else list(reversed(words))
    data = b"".join(int(w).to_bytes(2, byte_order) for w in ordered)
    return struct.unpack(f">{fmt}", data)[0]


def encode(value: int | float, type_: str, word_order: Order = "big", byte_order: Order = "big") -> list[int]:
    """The registers that carry raw `value`; the inverse of `decode`.

    Raises ValueError for a value the type cannot hold (an int type given a
    fraction or a number out of range).
    """
    fmt, _ = FORMATS[type_]
    if type_ != "float32":
        if value != int(value):
            raise ValueError(f"{type_} holds whole numbers only, not {value!r}")
        value = int(value)
    try:
        data = struct.pack(f">{fmt}", value)
    except (struct.error, OverflowError) as exc:
        lo, hi = raw_range(type_)
        raise ValueError(f"{value!r} does not fit {type_} ({lo:g}..{hi:g})") from exc
    words = [int.from_bytes(data[i : i + 2], byte_order) for i in range(0, len(data), 2)]
    return words if word_order == "big" else list(reversed(words))
