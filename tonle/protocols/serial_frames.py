"""The bytes of the sensor-node serial protocol (docs/serial-protocol.md): frames, host lines, CRC.

Both ends import this one module, so the simulated node and the gateway cannot
drift apart; it is pure (no I/O) so property tests can hammer it. The node's
frames are here; the gateway's lines (`serial_host`), the receiver's seq window
(`serial_window`) and the CRC and field encoding (`serial_text`) have their own
modules, re-exported here so each end needs only this one.

A node frame is `$TN,<boot>,<seq>,<kind>,<fields...>*<CRC>\\r\\n`; a gateway line
is `<WORD> <args...>*<CRC>\\r\\n`. The CRC is CRC-16/CCITT-FALSE over every byte
before the `*`, as four upper-case hex digits: it catches every error burst of
16 bits or less, so any single corrupted byte is detected. Text fields are
percent-encoded (UTF-8), so `,` `*` `$` and non-ASCII never appear raw: `$`
only ever starts a frame, which lets a reader resynchronise after garbage.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tonle.protocols.serial_host import (
    MAX_HOST_LINE_BYTES,
    Ack,
    Cmd,
    HostLine,
    Sync,
    decode_host,
    encode_host,
)
from tonle.protocols.serial_text import FrameError, check_boot, crc16, num, seal, text, uint, unseal, untext
from tonle.protocols.serial_window import SeqWindow

__all__ = [
    "MAX_BURST_SAMPLES",
    "MAX_HOST_LINE_BYTES",
    "MAX_LINE_BYTES",
    "Ack",
    "Body",
    "Cmd",
    "Count",
    "Frame",
    "FrameError",
    "Hello",
    "HostLine",
    "Result",
    "SeqWindow",
    "State",
    "Sync",
    "Telemetry",
    "Vibration",
    "crc16",
    "decode_frame",
    "decode_host",
    "encode_frame",
    "encode_host",
]

MAX_LINE_BYTES = 12_288  # a 4096-sample burst is ~11,000 bytes; anything longer is garbage
MAX_BURST_SAMPLES = 4096
_PREFIX = "$TN"


# ---------------------------------------------------------------- frame bodies


@dataclass(frozen=True, slots=True)
class Telemetry:
    KIND: ClassVar[str] = "T"
    ts_ns: int
    speed_spm: float
    current_a: float
    temp_c: float
    andon: int

    def fields(self) -> list[str]:
        return [str(self.ts_ns), *map(num, (self.speed_spm, self.current_a, self.temp_c)), str(self.andon)]

    @classmethod
    def parse(cls, f: list[str]) -> Telemetry:
        ts, speed, cur, temp, andon = f
        return cls(uint(ts), float(speed), float(cur), float(temp), uint(andon))


@dataclass(frozen=True, slots=True)
class State:
    KIND: ClassVar[str] = "S"
    ts_ns: int
    state: str
    reason: str

    def fields(self) -> list[str]:
        return [str(self.ts_ns), text(self.state), text(self.reason)]

    @classmethod
    def parse(cls, f: list[str]) -> State:
        ts, state, reason = f
        return cls(uint(ts), untext(state), untext(reason))


@dataclass(frozen=True, slots=True)
class Count:
    """Cumulative piece counters: a lost frame costs no pieces, the next one carries the totals."""

    KIND: ClassVar[str] = "C"
    ts_ns: int
    total: int
    good: int

    def fields(self) -> list[str]:
        return [str(self.ts_ns), str(self.total), str(self.good)]

    @classmethod
    def parse(cls, f: list[str]) -> Count:
        ts, total, good = f
        return cls(uint(ts), uint(total), uint(good))


@dataclass(frozen=True, slots=True)
class Vibration:
    """An accelerometer burst as little-endian int16 counts; g = count × scale."""

    KIND: ClassVar[str] = "V"
    ts_ns: int
    fs_hz: float
    scale: float
    samples: bytes

    @property
    def n(self) -> int:
        return len(self.samples) // 2

    def waveform(self) -> np.ndarray:
        return np.frombuffer(self.samples, dtype="<i2").astype(np.float64) * self.scale

    @classmethod
    def from_waveform(cls, ts_ns: int, fs_hz: float, waveform: np.ndarray) -> Vibration:
        """Quantise to int16 with a per-burst scale: full resolution, error at most scale / 2."""
        w = np.asarray(waveform, dtype=np.float64)
        if w.ndim != 1 or not 0 < w.size <= MAX_BURST_SAMPLES or not np.isfinite(w).all():
            raise ValueError(f"a burst must be 1..{MAX_BURST_SAMPLES} finite samples, got shape {w.shape}")
        peak = float(np.abs(w).max())
        scale = peak / 32767.0 if peak > 0 else 1.0
        counts = np.clip(np.rint(w / scale), -32767, 32767).astype("<i2")
        return cls(int(ts_ns), float(fs_hz), scale, counts.tobytes())

    def fields(self) -> list[str]:
        return [
            str(self.ts_ns),
            num(self.fs_hz),
            str(self.n),
            num(self.scale),
            base64.b64encode(self.samples).decode("ascii"),
        ]

    @classmethod
    def parse(cls, f: list[str]) -> Vibration:
        ts, fs, n, scale, data = f
        try:
            samples = base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise FrameError(f"vibration samples are not base64: {exc}") from exc
        if len(samples) != 2 * uint(n) or len(samples) > 2 * MAX_BURST_SAMPLES:
            raise FrameError(f"vibration frame says n={n} but carries {len(samples) // 2} samples")
        return cls(uint(ts), float(fs), float(scale), samples)


@dataclass(frozen=True, slots=True)
class Hello:
    """Who the node is, what it lost to a full ring, and the oldest frame it can still resend."""

    KIND: ClassVar[str] = "H"
    node_id: str
    firmware: str
    machine: str
    machine_type: str
    dropped: int
    first: int

    def fields(self) -> list[str]:
        texts = (self.node_id, self.firmware, self.machine, self.machine_type)
        return [*map(text, texts), str(self.dropped), str(self.first)]

    @classmethod
    def parse(cls, f: list[str]) -> Hello:
        node_id, fw, machine, mtype, dropped, first = f
        return cls(untext(node_id), untext(fw), untext(machine), untext(mtype), uint(dropped), uint(first))


@dataclass(frozen=True, slots=True)
class Result:
    """The node's answer to one CMD."""

    KIND: ClassVar[str] = "R"
    cmd_id: str
    ok: bool
    detail: str

    def fields(self) -> list[str]:
        return [text(self.cmd_id), "ok" if self.ok else "err", text(self.detail)]

    @classmethod
    def parse(cls, f: list[str]) -> Result:
        cmd_id, status, detail = f
        if status not in ("ok", "err"):
            raise FrameError(f"command result status {status!r} is neither ok nor err")
        return cls(untext(cmd_id), status == "ok", untext(detail))


Body = Telemetry | State | Count | Vibration | Hello | Result
_BODIES: dict[str, type[Body]] = {b.KIND: b for b in (Telemetry, State, Count, Vibration, Hello, Result)}


@dataclass(frozen=True, slots=True)
class Frame:
    """One node frame: `boot` names the node's power-on session, `seq` counts frames within it."""

    boot: str
    seq: int
    body: Body


def encode_frame(frame: Frame) -> bytes:
    check_boot(frame.boot)
    payload = ",".join([_PREFIX, frame.boot, str(frame.seq), frame.body.KIND, *frame.body.fields()])
    line = seal(payload)
    if len(line) > MAX_LINE_BYTES:
        raise ValueError(f"a {frame.body.KIND} frame of {len(line)} bytes exceeds {MAX_LINE_BYTES}")
    return line


def decode_frame(line: bytes) -> Frame:
    """Parse one line (terminator optional); raise FrameError for anything but a valid frame."""
    parts = unseal(line, MAX_LINE_BYTES).split(",")
    if len(parts) < 4 or parts[0] != _PREFIX:
        raise FrameError("not a $TN frame")
    _, boot, seq, kind, *fields = parts
    body_type = _BODIES.get(kind)
    if body_type is None:
        raise FrameError(f"unknown frame type {kind!r}")
    try:
        check_boot(boot)
        return Frame(boot, uint(seq), body_type.parse(fields))
    except FrameError:
        raise
    except ValueError as exc:  # wrong field count, bad number, bad percent-encoding
        raise FrameError(f"malformed {kind} frame: {exc}") from exc
