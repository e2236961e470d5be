"""Register decoding: every type in every word/byte order, against hand-made register values."""

from __future__ import annotations

import math
import struct

import pytest
from pymodbus.client import ModbusTcpClient

from tonle.protocols.modbus_registers import decode, encode, raw_range

ORDERS = {  # name -> (word_order, byte_order)
    "ABCD": ("big", "big"),
    "CDAB": ("little", "big"),
    "BADC": ("big", "little"),
    "DCBA": ("little", "little"),
}

# (type, value, {order: registers as a device sends them}) written out by hand from the bytes.
TABLE = [
    ("float32", 1.5, {"ABCD": [0x3FC0, 0x0000], "CDAB": [0x0000, 0x3FC0],
                      "BADC": [0xC03F, 0x0000], "DCBA": [0x0000, 0xC03F]}),
    ("float32", struct.unpack(">f", bytes.fromhex("40490FDB"))[0],  # pi: four different bytes
     {"ABCD": [0x4049, 0x0FDB], "CDAB": [0x0FDB, 0x4049],
      "BADC": [0x4940, 0xDB0F], "DCBA": [0xDB0F, 0x4940]}),
    ("uint32", 0x12345678, {"ABCD": [0x1234, 0x5678], "CDAB": [0x5678, 0x1234],
                            "BADC": [0x3412, 0x7856], "DCBA": [0x7856, 0x3412]}),
    ("int32", -2, {"ABCD": [0xFFFF, 0xFFFE], "CDAB": [0xFFFE, 0xFFFF],
                   "BADC": [0xFFFF, 0xFEFF], "DCBA": [0xFEFF, 0xFFFF]}),
    ("int32", -(2**31), {"ABCD": [0x8000, 0x0000], "CDAB": [0x0000, 0x8000],
                         "BADC": [0x0080, 0x0000], "DCBA": [0x0000, 0x0080]}),
    ("uint16", 0x1234, {"ABCD": [0x1234], "CDAB": [0x1234], "BADC": [0x3412], "DCBA": [0x3412]}),
    ("int16", -2, {"ABCD": [0xFFFE], "CDAB": [0xFFFE], "BADC": [0xFEFF], "DCBA": [0xFEFF]}),
    ("int16", 300, {"ABCD": [0x012C], "CDAB": [0x012C], "BADC": [0x2C01], "DCBA": [0x2C01]}),
]  # fmt: skip
CASES = [(t, v, name, regs) for t, v, by_order in TABLE for name, regs in by_order.items()]


@pytest.mark.parametrize(("type_", "value", "order", "registers"), CASES)
def test_decode_matches_the_hand_made_registers(type_: str, value: float, order: str, registers: list[int]):
    word_order, byte_order = ORDERS[order]
    assert decode(registers, type_, word_order, byte_order) == value


@pytest.mark.parametrize(("type_", "value", "order", "registers"), CASES)
def test_encode_is_the_inverse_of_decode(type_: str, value: float, order: str, registers: list[int]):
    word_order, byte_order = ORDERS[order]
    assert encode(value, type_, word_order, byte_order) == registers


@pytest.mark.parametrize(
    ("type_", "value", "order", "registers"), [c for c in CASES if c[2] in ("ABCD", "CDAB")]
)
def test_agrees_with_pymodbus_where_pymodbus_can_decode(
    type_: str, value: float, order: str, registers: list[int]
):
    """pymodbus's own converter handles word order only; where it applies, both must agree."""
    word_order, _ = ORDERS[order]
    dtype = getattr(ModbusTcpClient.DATATYPE, type_.upper())
    assert ModbusTcpClient.convert_from_registers(registers, dtype, word_order=word_order) == value


def test_float32_nan_and_infinity_decode_as_such():
    assert math.isnan(decode([0x7FC0, 0x0000], "float32"))
    assert decode([0x0000, 0x7F80], "float32", "little") == math.inf


def test_decode_refuses_the_wrong_number_of_registers():
    with pytest.raises(ValueError, match="float32 needs 2 register"):
        decode([1], "float32")


@pytest.mark.parametrize(
    ("type_", "value"), [("uint16", 65536), ("uint16", -1), ("int16", 40000), ("uint32", 1.5)]
)
def test_encode_refuses_values_the_type_cannot_hold(type_: str, value: float):
    with pytest.raises(ValueError, match=type_):
        encode(value, type_)


def test_raw_ranges():
    assert raw_range("uint16") == (0, 65535)
    assert raw_range("int16") == (-32768, 32767)
    assert raw_range("uint32") == (0, 2**32 - 1)
    assert raw_range("int32") == (-(2**31), 2**31 - 1)
