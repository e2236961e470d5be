"""The bytes of the sensor-node serial protocol (docs/serial-protocol.md): frames, host lines, CRC.

Both ends import this one module, so the simulated node and the gateway cannot
drift apart; it is pure (no I/O) so property tests can hammer it.

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
import re
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import quote, unquote

import numpy as np

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
MAX_HOST_LINE_BYTES = 1024  # a CMD with a 64-character id, percent-encoded, fits
MAX_BURST_SAMPLES = 4096
WINDOW_LIMIT = 8192  # out-of-order seqs a receiver remembers (4x the node's default ring)
_PREFIX = "$TN"
_TEXT_SAFE = " !#&'()+-./:;<=>?@[]^_`{|}~"  # printable ASCII kept readable; never , * $ %
_HEX = frozenset("0123456789ABCDEF")
_BAD_PERCENT = re.compile(r"%(?![0-9A-F]{2})")


class FrameError(ValueError):
    """A line that is not a valid frame: bad CRC, truncated, garbled or malformed."""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); binascii does it in C."""
    return binascii.crc_hqx(data, 0xFFFF)


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
        return [str(self.ts_ns), *map(_num, (self.speed_spm, self.current_a, self.temp_c)), str(self.andon)]

    @classmethod
    def parse(cls, f: list[str]) -> Telemetry:
        ts, speed, cur, temp, andon = f
        return cls(_uint(ts), float(speed), float(cur), float(temp), _uint(andon))


@dataclass(frozen=True, slots=True)
class State:
    KIND: ClassVar[str] = "S"
    ts_ns: int
    state: str
    reason: str

    def fields(self) -> list[str]:
        return [str(self.ts_ns), _text(self.state), _text(self.reason)]

    @classmethod
    def parse(cls, f: list[str]) -> State:
        ts, state, reason = f
        return cls(_uint(ts), _untext(state), _untext(reason))


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
        return cls(_uint(ts), _uint(total), _uint(good))


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
            _num(self.fs_hz),
            str(self.n),
            _num(self.scale),
            base64.b64encode(self.samples).decode("ascii"),
        ]

    @classmethod
    def parse(cls, f: list[str]) -> Vibration:
        ts, fs, n, scale, data = f
        try:
            samples = base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise FrameError(f"vibration samples are not base64: {exc}") from exc
        if len(samples) != 2 * _uint(n) or len(samples) > 2 * MAX_BURST_SAMPLES:
            raise FrameError(f"vibration frame says n={n} but carries {len(samples) // 2} samples")
        return cls(_uint(ts), float(fs), float(scale), samples)


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
        return [*map(_text, texts), str(self.dropped), str(self.first)]

    @classmethod
    def parse(cls, f: list[str]) -> Hello:
        node_id, fw, machine, mtype, dropped, first = f
        texts = map(_untext, (node_id, fw, machine, mtype))
        return cls(*texts, dropped=_uint(dropped), first=_uint(first))


@dataclass(frozen=True, slots=True)
class Result:
    """The node's answer to one CMD."""

    KIND: ClassVar[str] = "R"
    cmd_id: str
    ok: bool
    detail: str

    def fields(self) -> list[str]:
        return [_text(self.cmd_id), "ok" if self.ok else "err", _text(self.detail)]

    @classmethod
    def parse(cls, f: list[str]) -> Result:
        cmd_id, status, detail = f
        if status not in ("ok", "err"):
            raise FrameError(f"command result status {status!r} is neither ok nor err")
        return cls(_untext(cmd_id), status == "ok", _untext(detail))


Body = Telemetry | State | Count | Vibration | Hello | Result
_BODIES: dict[str, type[Body]] = {b.KIND: b for b in (Telemetry, State, Count, Vibration, Hello, Result)}


@dataclass(frozen=True, slots=True)
class Frame:
    """One node frame: `boot` names the node's power-on session, `seq` counts frames within it."""

    boot: str
    seq: int
    body: Body


def encode_frame(frame: Frame) -> bytes:
    _check_boot(frame.boot)
    payload = ",".join([_PREFIX, frame.boot, str(frame.seq), frame.body.KIND, *frame.body.fields()])
    line = _seal(payload)
    if len(line) > MAX_LINE_BYTES:
        raise ValueError(f"a {frame.body.KIND} frame of {len(line)} bytes exceeds {MAX_LINE_BYTES}")
    return line


def decode_frame(line: bytes) -> Frame:
    """Parse one line (terminator optional); raise FrameError for anything but a valid frame."""
    parts = _unseal(line, MAX_LINE_BYTES).split(",")
    if len(parts) < 4 or parts[0] != _PREFIX:
        raise FrameError("not a $TN frame")
    _, boot, seq, kind, *fields = parts
    body_type = _BODIES.get(kind)
    if body_type is None:
        raise FrameError(f"unknown frame type {kind!r}")
    try:
        _check_boot(boot)
        return Frame(boot, _uint(seq), body_type.parse(fields))
    except FrameError:
        raise
    except ValueError as exc:  # wrong field count, bad number, bad percent-encoding
        raise FrameError(f"malformed {kind} frame: {exc}") from exc


class SeqWindow:
    """What a receiver knows of one boot's seqs: all handled up to `low`, plus a bounded set above.

    `low` stays None until the node's H frame says the oldest seq it can still
    resend (`anchor`); until then duplicates are recognised by the set alone.
    More than `limit` out-of-order seqs give up the oldest hole as lost, so a
    limit above the node's ring size never gives up a frame the node still has.
    """

    def __init__(self, limit: int = WINDOW_LIMIT) -> None:
        self.low: int | None = None
        self.above: set[int] = set()
        self.limit = limit

    def seen(self, seq: int) -> bool:
        return (self.low is not None and seq <= self.low) or seq in self.above

    def add(self, seq: int) -> int:
        """Mark `seq` handled; return how many seqs were given up as lost to keep the set bounded."""
        self.above.add(seq)
        self._compact()
        return self.anchor(min(self.above)) if len(self.above) > self.limit else 0

    def anchor(self, first: int) -> int:
        """Nothing below `first` will come any more; return how many of those seqs were never seen."""
        if self.low is not None and first - 1 <= self.low:
            return 0
        lost = 0 if self.low is None else first - 1 - self.low - sum(1 for s in self.above if s < first)
        self.low = first - 1
        self.above = {s for s in self.above if s > self.low}
        self._compact()
        return lost

    def hole(self) -> int | None:
        """The first missing seq, if frames after it have arrived."""
        return self.low + 1 if self.low is not None and self.above else None

    def _compact(self) -> None:
        if self.low is None:
            return
        while self.low + 1 in self.above:
            self.above.remove(self.low + 1)
            self.low += 1


# ------------------------------------------------------------ gateway -> node


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
        _check_boot(msg.boot)
        words = ["ACK", str(msg.seq), msg.boot]
    elif isinstance(msg, Sync):
        if (msg.from_seq is None) != (msg.boot is None):
            raise ValueError("SYNC takes both from_seq and boot, or neither")
        words = ["SYNC"] if msg.boot is None else ["SYNC", str(msg.from_seq), msg.boot]
    else:
        value = "-" if msg.value is None else _num(msg.value)
        words = ["CMD", quote(msg.cmd_id, safe=""), quote(msg.action, safe=""), value]
    line = _seal(" ".join(words))
    if len(line) > MAX_HOST_LINE_BYTES:
        raise ValueError(f"gateway line of {len(line)} bytes exceeds {MAX_HOST_LINE_BYTES}")
    return line


def decode_host(line: bytes) -> HostLine:
    words = _unseal(line, MAX_HOST_LINE_BYTES).split(" ")
    try:
        match words:
            case ["ACK", seq, boot]:
                _check_boot(boot)
                return Ack(_uint(seq), boot)
            case ["SYNC"]:
                return Sync()
            case ["SYNC", seq, boot]:
                _check_boot(boot)
                return Sync(_uint(seq), boot)
            case ["CMD", cmd_id, action, value]:
                number = None if value == "-" else float(value)
                return Cmd(unquote(cmd_id, errors="strict"), unquote(action, errors="strict"), number)
    except ValueError as exc:
        raise FrameError(f"malformed gateway line: {exc}") from exc
    raise FrameError(f"unknown gateway line {words[0][:16]!r} with {len(words) - 1} arguments")


# ----------------------------------------------------------------- plumbing


def _seal(payload: str) -> bytes:
    data = payload.encode("ascii")
    return data + b"*%04X\r\n" % crc16(data)


def _unseal(line: bytes, limit: int) -> str:
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
    text = crc.decode("latin-1")
    if len(text) != 4 or not _HEX.issuperset(text):
        raise FrameError(f"checksum field {text[:8]!r} is not four upper-case hex digits")
    if int(text, 16) != crc16(data):
        raise FrameError(f"checksum mismatch: line says {text}, content gives {crc16(data):04X}")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FrameError("non-ASCII byte in a line") from exc


def _num(value: float) -> str:
    """Shortest text that parses back to the same float (numpy scalars included)."""
    return repr(float(value))


def _text(value: str) -> str:
    return quote(value, safe=_TEXT_SAFE)


def _untext(value: str) -> str:
    if _BAD_PERCENT.search(value):
        raise FrameError(f"bad percent-escape in text field {value[:24]!r}")
    return unquote(value, errors="strict")


def _uint(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise FrameError(f"{value[:24]!r} is not a non-negative integer")
    return int(value)


def _check_boot(boot: str) -> None:
    if len(boot) != 8 or not _HEX.issuperset(boot):
        raise FrameError(f"boot id {boot[:12]!r} is not eight upper-case hex digits")
