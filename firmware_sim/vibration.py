"""Accelerometer bursts from a sewing-machine head, synthesised from its mechanics.

What an accelerometer on the arm of an industrial sewing machine sees, in g:

- the arm shaft turns once per stitch, so shaft rate = spm / 60 Hz;
- a 1x sinusoid from residual imbalance and a 2x one from the reciprocating
  needle bar and take-up lever, both growing with speed squared (inertial force);
- the needle-bar mechanism knocks once per revolution: a short impact train at
  shaft rate ringing a lower structural mode (~1.2 kHz, quickly damped);
- broadband noise;
- a defect on the arm-shaft bearing, an outer-race spall unless told otherwise:
  one impact each time a ball rolls over it, at BPFO (`tonle.kernels.bearing`) ×
  shaft rate with 1-2 % jitter in the spacing (balls slip), each impact ringing
  a structural resonance (2.5-3.5 kHz) with an exponential decay. Impact
  amplitude grows with wear² (the spall grows) and speed² (impact energy).

The other fault kinds a station can be given (`FAULTS`) follow the textbook
kinematics (Randall & Antoni 2011):

- inner race: impacts at BPFI; the spall turns with the shaft through the load
  zone, so the impacts are amplitude-modulated at shaft rate (sidebands ±1x);
- ball: a spalled ball strikes both races once per spin, impacts at 2 × BSF,
  modulated by the cage carrying the ball through the load zone (sidebands ±FTF);
- imbalance: the 1x line grows with wear (mass lost or gained on the rotor);
- looseness: harmonics of shaft rate up to 6x and the half-orders 0.5x, 1.5x grow
  with wear (a loose part rattles, clipped at each turn).

This is the signal envelope analysis is built for: band-pass around the
resonance, take the envelope, and the defect shows up as a line at BPFO
(BPFI, 2 × BSF).

All stations that burst at the same instant are synthesised together, as rows
of one 2-D array; the ringing is one FFT convolution per burst block.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft

from firmware_sim.spec import StationSpec
from tonle.kernels.bearing import BEARINGS, defect_frequencies

__all__ = ["FAULTS", "VibrationModel"]

FAULTS = ("outer_race", "inner_race", "ball", "imbalance", "looseness")
"""Fault kinds a station's wear can drive; "outer_race" is the default."""

IMBALANCE_G = 0.12  # 1x amplitude at nominal speed
RECIPROCATING_G = 0.06  # 2x amplitude at nominal speed
NEEDLE_IMPACT_G = 0.6  # peak of one needle-bar knock at nominal speed
NEEDLE_RES_HZ = 1200.0
NEEDLE_TAU_S = 0.4e-3
NEEDLE_KNOCK_ANGLE = 0.5 * np.pi  # shaft angle of the knock, relative to the 1x peak
NEEDLE_JITTER = 0.002
RECIPROCATING_PHASE = 0.25 * np.pi
NOISE_G = 0.02
NOISE_WEAR_G = 0.05  # extra broadband noise at wear 1 (× wear²)
BEARING_IMPACT_G = 4.0  # peak of one defect impact at wear 1, nominal speed
BEARING_TAU_S = 0.6e-3
BPFO_JITTER = 0.015  # relative spread of the spacing between defect impacts
IMPACT_AMP_SPREAD = 0.1  # relative spread of impact amplitudes
IMBALANCE_GROWTH = 4.0  # 1x grows to (1 + 4 wear²) × IMBALANCE_G: 1.04x at wear 0.1, 3x at 0.7
LOOSENESS_G = 0.25  # amplitude of each looseness harmonic at wear 1, nominal speed
LOOSENESS_ORDERS = (0.5, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0)


class VibrationModel:
    """Synthesises bursts for a fixed set of stations at one sample rate and length."""

    def __init__(
        self,
        stations: Sequence[StationSpec],
        fs_hz: float,
        n: int,
        rng: np.random.Generator,
        faults: Sequence[str] | None = None,
    ) -> None:
        """`faults` gives each station's fault kind (see `FAULTS`); all outer race by default."""
        kinds = tuple(faults) if faults is not None else ("outer_race",) * len(stations)
        if len(kinds) != len(stations) or not set(kinds) <= set(FAULTS):
            raise ValueError(f"faults must name one of {FAULTS} per station, got {kinds!r}")
        self.faults = kinds
        self.fs = float(fs_hz)
        self.n = int(n)
        self._rng = rng
        self._t = np.arange(self.n) / self.fs
        self._nominal_hz = np.array([s.nominal_spm / 60.0 for s in stations])
        orders = np.array([defect_frequencies(BEARINGS[s.bearing]).orders for s in stations]).reshape(-1, 4)
        self._bpfo_order = orders[:, 0]
        # Impact rate (in shaft orders), load-zone modulation rate (orders) and depth per station.
        kind = np.array([FAULTS.index(k) for k in kinds], dtype=np.intp)
        self._impact_order = np.choose(
            kind, [orders[:, 0], orders[:, 1], 2 * orders[:, 2], orders[:, 0], orders[:, 0]]
        )
        self._mod_order = np.choose(
            kind, [orders[:, 0], np.ones(len(kinds)), orders[:, 3], orders[:, 0], orders[:, 0]]
        )
        self._mod_depth = np.isin(kind, (1, 2)).astype(np.float64)
        self._bearing_fault = kind <= 2
        self._imbalance = kind == FAULTS.index("imbalance")
        self._loose = kind == FAULTS.index("looseness")
        bearing_k = _ringing_kernels([s.resonance_hz for s in stations], BEARING_TAU_S, self.fs)
        needle_k = _ringing_kernels([NEEDLE_RES_HZ] * len(stations), NEEDLE_TAU_S, self.fs)
        # Impacts up to `lead` samples before the burst still ring into it.
        self._lead = max(bearing_k.shape[1], needle_k.shape[1])
        self._nfft = scipy.fft.next_fast_len(self.n + 2 * self._lead, real=True)
        self._h_bearing = scipy.fft.rfft(bearing_k, self._nfft, axis=1)
        self._h_needle = scipy.fft.rfft(needle_k, self._nfft, axis=1)
        self._impacts = np.zeros((2, len(stations), self._nfft))  # reused scratch
        # sin/cos of 1x and 2x shaft angle from 0 per station, recomputed only when
        # the station's speed changes: a burst then rotates them by its own phase.
        self._tones = np.empty((len(stations), 4, self.n))
        self._tone_sf = np.full(len(stations), np.nan)

    def bpfo_hz(self, station: int, speed_fraction: float = 1.0) -> float:
        """Outer-race defect frequency of a station's arm-shaft bearing at a given speed."""
        return float(self._bpfo_order[station] * self._nominal_hz[station] * speed_fraction)

    def defect_hz(self, station: int, speed_fraction: float = 1.0) -> float:
        """The line the station's fault puts in the envelope spectrum (BPFO, BPFI or 2 × BSF), Hz.

        For imbalance and looseness, which make no impacts, this is the shaft rate.
        """
        order = self._impact_order[station] if self._bearing_fault[station] else 1.0
        return float(order * self._nominal_hz[station] * speed_fraction)

    @staticmethod
    def bpfo_of(station: StationSpec, speed_fraction: float = 1.0) -> float:
        """BPFO in Hz of a station's bearing: defect order × shaft rate (one stitch per turn)."""
        order = defect_frequencies(BEARINGS[station.bearing]).bpfo
        return order * station.nominal_spm / 60.0 * speed_fraction

    def bursts(self, stations: np.ndarray, speed_fraction: np.ndarray, wear: np.ndarray) -> np.ndarray:
        """One burst per listed station, rows of a (len(stations), n) float64 array in g."""
        stations = np.asarray(stations, dtype=np.intp)
        sf = np.asarray(speed_fraction, dtype=np.float64)[:, None]
        wear = np.asarray(wear, dtype=np.float64)[:, None]
        shaft_hz = self._nominal_hz[stations][:, None] * sf
        # Shaft angle at the first sample: bursts start at a random point of a turn.
        phase = self._rng.uniform(0.0, 2 * np.pi, (stations.size, 1))
        out = self._harmonics(stations, sf, phase, wear)
        noise_sd = NOISE_G + NOISE_WEAR_G * wear**2
        out += noise_sd * self._rng.standard_normal(out.shape)
        out += self._ringing(stations, shaft_hz, sf, wear, phase)
        return out

    def _harmonics(
        self, stations: np.ndarray, sf: np.ndarray, phase: np.ndarray, wear: np.ndarray
    ) -> np.ndarray:
        """1x imbalance and 2x reciprocating motion, locked to the shaft angle; looseness orders."""
        tones = self._tones_for(stations, sf[:, 0])
        grow = np.where(self._imbalance[stations][:, None], 1.0 + IMBALANCE_GROWTH * wear**2, 1.0)
        a1 = IMBALANCE_G * sf**2 * grow
        a2 = RECIPROCATING_G * sf**2
        phase2 = 2 * phase + RECIPROCATING_PHASE
        # sin(x + p) = sin x cos p + cos x sin p, with the sin/cos of x cached.
        out = tones[:, 0] * (a1 * np.cos(phase))
        out += tones[:, 1] * (a1 * np.sin(phase))
        out += tones[:, 2] * (a2 * np.cos(phase2))
        out += tones[:, 3] * (a2 * np.sin(phase2))
        loose = np.flatnonzero(self._loose[stations])
        if loose.size:  # rare: computed directly rather than cached
            shaft_hz = self._nominal_hz[stations[loose]][:, None] * sf[loose]
            amp = LOOSENESS_G * wear[loose] ** 2 * sf[loose] ** 2
            for order in LOOSENESS_ORDERS:
                angle = 2 * np.pi * order * shaft_hz * self._t + order * phase[loose]
                out[loose] += amp * np.sin(angle + 0.3 * order)
        return out

    def _tones_for(self, stations: np.ndarray, sf: np.ndarray) -> np.ndarray:
        stale = self._tone_sf[stations] != sf
        if stale.any():
            for i, f in zip(stations[stale], sf[stale], strict=True):
                angle = 2 * np.pi * self._nominal_hz[i] * f * self._t
                self._tones[i] = (np.sin(angle), np.cos(angle), np.sin(2 * angle), np.cos(2 * angle))
                self._tone_sf[i] = f
        return self._tones[stations]

    def _ringing(
        self,
        stations: np.ndarray,
        shaft_hz: np.ndarray,
        sf: np.ndarray,
        wear: np.ndarray,
        phase: np.ndarray,
    ) -> np.ndarray:
        """Needle-bar knocks and bearing-defect impacts, each convolved with its mode."""
        m = stations.size
        if m > self._impacts.shape[1]:
            self._impacts = np.zeros((2, m, self._nfft))
        imp = self._impacts[:, :m]
        imp.fill(0.0)
        impact_hz = self._impact_order[stations][:, None] * shaft_hz
        # Ball passes are not locked to the shaft (the cage slips); the needle bar is.
        first_ball = self._rng.uniform(0.0, 1.0, m)
        first_knock = ((NEEDLE_KNOCK_ANGLE - phase[:, 0]) / (2 * np.pi)) % 1.0
        amp = BEARING_IMPACT_G * wear**2 * sf**2 * self._bearing_fault[stations][:, None]
        load_zone = None
        depth = self._mod_depth[stations][:, None]
        if depth.any():  # only inner-race and ball faults draw a phase: outer-race runs keep their stream
            mod_hz = self._mod_order[stations][:, None] * shaft_hz
            load_zone = (mod_hz, depth, self._rng.uniform(0.0, 2 * np.pi, (m, 1)))
        self._place(imp[0], impact_hz, BPFO_JITTER, amp, first_ball, load_zone)
        self._place(imp[1], shaft_hz, NEEDLE_JITTER, NEEDLE_IMPACT_G * sf, first_knock)
        spec = scipy.fft.rfft(imp[0], axis=1) * self._h_bearing[stations]
        spec += scipy.fft.rfft(imp[1], axis=1) * self._h_needle[stations]
        ring = scipy.fft.irfft(spec, self._nfft, axis=1)
        return ring[:, self._lead : self._lead + self.n]

    def _place(
        self,
        dest: np.ndarray,
        rate_hz: np.ndarray,
        jitter: float,
        amp: np.ndarray,
        first: np.ndarray,
        load_zone: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Write an impact train per row into `dest` (time origin at sample `lead`).

        `first` is where, as a fraction of one period after t = 0, the train
        has an impact; the train is extended backwards over the lead-in.
        `load_zone` = (rate Hz, depth 0..1, phase) scales each impact by
        ``1 - depth/2 + depth/2 · cos(2π rate t + phase)``: a defect carried
        through the loaded part of the bearing strikes hard there and softly
        outside it.
        """
        m = rate_hz.shape[0]
        span_s = (self.n + self._lead) / self.fs
        k = int(np.ceil(span_s * float(rate_hz.max()) * (1 + 5 * jitter))) + 2
        period = 1.0 / rate_hz
        gaps = period * (1.0 + jitter * self._rng.standard_normal((m, k)))
        back = np.ceil(self._lead / self.fs * rate_hz[:, 0]) + 1  # whole periods of lead-in
        start = (first - back) * period[:, 0]
        times = start[:, None] + np.cumsum(gaps, axis=1) - gaps[:, :1]
        pos = np.rint(times * self.fs).astype(np.intp) + self._lead
        ok = (pos >= 0) & (pos < self.n + self._lead)
        size = amp * (1.0 + IMPACT_AMP_SPREAD * self._rng.standard_normal((m, k)))
        if load_zone is not None:
            mod_hz, depth, mod_phase = load_zone
            size *= 1.0 - depth / 2 + depth / 2 * np.cos(2 * np.pi * mod_hz * times + mod_phase)
        rows = np.broadcast_to(np.arange(m)[:, None], (m, k))
        np.add.at(dest, (rows[ok], pos[ok]), size[ok])


def _ringing_kernels(freqs_hz: Sequence[float], tau_s: float, fs: float) -> np.ndarray:
    """Impulse responses of lightly damped modes: exp(-t/tau)·sin(2πft), one row per mode."""
    length = int(np.ceil(6 * tau_s * fs))
    t = np.arange(length) / fs
    f = np.asarray(freqs_hz, dtype=np.float64)[:, None]
    return np.exp(-t / tau_s) * np.sin(2 * np.pi * f * t)
