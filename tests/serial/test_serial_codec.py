"""The frame codec: every frame survives a round trip, and any single corrupted byte is caught."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tonle.protocols import serial_frames as sc

boots = st.text(alphabet="0123456789ABCDEF", min_size=8, max_size=8)
seqs = st.integers(0, 2**63)
ts = st.integers(0, 2**63)
floats = st.floats(allow_nan=False)
counts = st.integers(0, 10**12)
texts = st.text(max_size=80)


@st.composite
def vibrations(draw: st.DrawFn) -> sc.Vibration:
    n = draw(st.integers(0, sc.MAX_BURST_SAMPLES))
    seed = draw(st.integers(0, 2**32))
    samples = np.random.default_rng(seed).integers(-32768, 32768, n, dtype=np.int64).astype("<i2").tobytes()
    return sc.Vibration(draw(ts), draw(floats), draw(floats), samples)


bodies = st.one_of(
    st.builds(sc.Telemetry, ts, floats, floats, floats, st.integers(0, 1)),
    st.builds(sc.State, ts, texts, texts),
    st.builds(sc.Count, ts, counts, counts),
    vibrations(),
    st.builds(sc.Hello, texts, texts, texts, texts, counts, seqs),
    st.builds(sc.Result, texts, st.booleans(), texts),
)
frames = st.builds(sc.Frame, boots, seqs, bodies)
host_lines = st.one_of(
    st.builds(sc.Ack, seqs, boots),
    st.just(sc.Sync()),
    st.builds(sc.Sync, seqs, boots),
    st.builds(sc.Cmd, st.text(max_size=64), st.text(max_size=16), st.none() | floats),
)


def corrupt(line: bytes, where: int, value: int) -> bytes:
    i = where % len(line)
    new = value if value != line[i] else (value + 1) % 256
    return line[:i] + bytes([new]) + line[i + 1 :]


def pieces(data: bytes, original: bytes) -> list[bytes]:
    """What a reader splitting on newlines would see, less the original line itself.

    A `\r` corrupted into `\n` leaves the line intact (readers accept a bare
    `\n`) plus a blank line: nothing wrong can be read from that, so only the
    other pieces must be refused.
    """
    parts = data.split(b"\n")
    seen = [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return [p for p in seen if p != original[:-2] + b"\n"]


@given(frames)
def test_frames_round_trip(frame: sc.Frame) -> None:
    line = sc.encode_frame(frame)
    assert line.endswith(b"\r\n") and line.count(b"$") == 1 and line.count(b"*") == 1
    assert line.isascii() and len(line) <= sc.MAX_LINE_BYTES
    assert sc.decode_frame(line) == frame


@given(frames, st.integers(0, 2**20), st.integers(0, 255))
def test_any_single_corrupted_byte_of_a_frame_is_detected(frame: sc.Frame, where: int, value: int) -> None:
    line = sc.encode_frame(frame)
    for piece in pieces(corrupt(line, where, value), line):
        with pytest.raises(sc.FrameError):
            sc.decode_frame(piece)


@given(host_lines)
def test_gateway_lines_round_trip(msg: sc.HostLine) -> None:
    assert sc.decode_host(sc.encode_host(msg)) == msg


@given(host_lines, st.integers(0, 2**20), st.integers(0, 255))
def test_any_single_corrupted_byte_of_a_gateway_line_is_detected(
    msg: sc.HostLine, where: int, value: int
) -> None:
    line = sc.encode_host(msg)
    for piece in pieces(corrupt(line, where, value), line):
        with pytest.raises(sc.FrameError):
            sc.decode_host(piece)


@given(st.integers(1, sc.MAX_BURST_SAMPLES), st.integers(0, 2**32), st.floats(1e-6, 1e3))
def test_bursts_are_quantised_within_half_a_step(n: int, seed: int, amplitude: float) -> None:
    wave = np.random.default_rng(seed).standard_normal(n) * amplitude
    frame = sc.Frame("0000CAFE", 1, sc.Vibration.from_waveform(7, 8192.0, wave))
    vib = sc.decode_frame(sc.encode_frame(frame))
    assert isinstance(vib.body, sc.Vibration) and vib.body.n == n
    step = np.abs(wave).max() / 32767
    assert np.abs(vib.body.waveform() - wave).max() <= step / 2 * (1 + 1e-9)


def test_a_full_burst_fits_in_one_line_and_a_longer_one_is_refused() -> None:
    wave = np.random.default_rng(1).standard_normal(sc.MAX_BURST_SAMPLES)
    line = sc.encode_frame(sc.Frame("0000CAFE", 2**40, sc.Vibration.from_waveform(2**62, 8192.0, wave)))
    assert len(line) < sc.MAX_LINE_BYTES
    with pytest.raises(ValueError, match=r"1\.\.4096 finite samples"):
        sc.Vibration.from_waveform(0, 8192.0, np.zeros(sc.MAX_BURST_SAMPLES + 1))


def test_text_fields_keep_commas_stars_dollars_and_khmer() -> None:
    state = sc.State(1, "thread_break", "ខ្សែដាច់, *stop* $5 100%")
    line = sc.encode_frame(sc.Frame("00000001", 3, state))
    assert line.count(b",") == 6 and line.count(b"$") == 1
    assert sc.decode_frame(line).body == state
    assert b"waiting for work from S02" in sc.encode_frame(
        sc.Frame("00000001", 4, sc.State(1, "starved", "waiting for work from S02"))
    )


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"$TN,0000CAFE,1,C,5,1,1*0000\r\n", "checksum mismatch"),
        (b"$TN,0000CAFE,1,C,5,1,1\r\n", "no '\\*'"),
        (b"$TN,0000CAFE,1,C,5,1,1*abcd\r\n", "four upper-case hex"),
        (b"hello\r\n", "no '\\*'"),
    ],
)
def test_bad_lines_say_why(line: bytes, why: str) -> None:
    with pytest.raises(sc.FrameError, match=why):
        sc.decode_frame(line)


def test_well_sealed_but_malformed_frames_are_frame_errors() -> None:
    def seal(text: str) -> bytes:
        return text.encode() + b"*%04X\r\n" % sc.crc16(text.encode())

    for text in (
        "$TN,0000CAFE,1,C,5,1",  # a field short
        "$TN,0000CAFE,1,Q,5",  # unknown type
        "$TN,cafe,1,C,5,1,1",  # boot id not upper-case hex
        "$TN,0000CAFE,-1,C,5,1,1",  # negative seq
        "$TN,0000CAFE,1,V,5,8192.0,3,1.0,AAAA",  # says 3 samples, carries 1.5
        "$TN,0000CAFE,1,R,x,maybe,y",  # neither ok nor err
        "$TN,0000CAFE,1,S,5,%ZZ,a",  # broken percent-escape
    ):
        with pytest.raises(sc.FrameError):
            sc.decode_frame(seal(text))


@given(st.lists(st.integers(1, 60), max_size=200), st.integers(1, 60))
def test_the_seq_window_handles_each_seq_once_whatever_the_order(arrivals: list[int], first: int) -> None:
    window = sc.SeqWindow()
    handled: list[int] = []
    window.anchor(first)
    for seq in arrivals:
        if not window.seen(seq):
            window.add(seq)
            handled.append(seq)
    assert sorted(handled) == sorted(set(s for s in arrivals if s >= first))
    assert window.low is not None
    assert window.low == max(
        [first - 1, *(s for s in range(first, 61) if all(k in handled for k in range(first, s + 1)))]
    )
    assert window.hole() == (window.low + 1 if window.above else None)


def test_the_seq_window_counts_what_a_later_anchor_gives_up() -> None:
    window = sc.SeqWindow(limit=3)
    window.anchor(1)
    for seq in (1, 2, 5, 7):
        window.add(seq)
    assert (window.low, window.hole()) == (2, 3)
    assert window.anchor(6) == 2  # 3 and 4 never came; 5 did
    assert (window.low, window.above) == (5, {7})
    assert window.add(9) == window.add(10) == 0
    assert window.low == 5 and window.add(11) == 1  # four above the limit of 3: 6 is given up
    assert window.low == 7 and window.above == {9, 10, 11}
