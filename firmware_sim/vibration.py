"""Accelerometer bursts from a sewing-machine head, synthesised from its mechanics.

What an accelerometer on the arm of an industrial sewing machine sees, in g:

- the arm shaft turns once per stitch, so shaft rate = spm / 60 Hz;
- a 1x sinusoid from residual imbalance and a 2x one from the reciprocating
  needle bar and take-up lever, both growing with speed squared (inertial force);
- the needle-bar mechanism knocks once per revolution: a short impact train at
  shaft rate ringing a lower structural mode (~1.2 kHz, quickly damped);
- broadband noise;
- an outer-race defect on the arm-shaft bearing: one impact each time a ball
  rolls over it, at BPFO (`analytics.bearing`) × shaft rate with 1-2 % jitter
  in the spacing (balls slip), each impact ringing a structural resonance
  (2.5-3.5 kHz) with an exponential decay. Impact amplitude grows with
  wear² (the spall grows) and speed² (impact energy).

This is the signal envelope analysis is built for: band-pass around the
resonance, take the envelope, and the defect shows up as a line at BPFO.

All stations that burst at the same instant are synthesised together, as rows
of one 2-D array; the ringing is one FFT convolution per burst block.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft

from analytics.bearing import BEARINGS, defect_frequencies
from firmware_sim.spec import StationSpec

__all__ = ["VibrationModel"]

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


class VibrationModel:
    """Synthesises bursts for a fixed set of stations at one sample rate and length."""

    def __init__(
        self,
        stations: Sequence[StationSpec],
        fs_hz: float,
        n: int,
        rng: np.random.Generator,
    ) -> None:
        self.fs = float(fs_hz)
        self.n = int(n)
        self._rng = rng
        self._t = np.arange(self.n) / self.fs
        self._nominal_hz = np.array([s.nominal_spm / 60.0 for s in stations])
        self._bpfo_order = np.array([defect_frequencies(BEARINGS[s.bearing]).bpfo for s in stations])
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
        out = self._harmonics(stations, sf, phase)
        noise_sd = NOISE_G + NOISE_WEAR_G * wear**2
        out += noise_sd * self._rng.standard_normal(out.shape)
        out += self._ringing(stations, shaft_hz, sf, wear, phase)
        return out

    def _harmonics(self, stations: np.ndarray, sf: np.ndarray, phase: np.ndarray) -> np.ndarray:
        """1x imbalance and 2x reciprocating motion, locked to the shaft angle."""
        tones = self._tones_for(stations, sf[:, 0])
        a1 = IMBALANCE_G * sf**2
        a2 = RECIPROCATING_G * sf**2
        phase2 = 2 * phase + RECIPROCATING_PHASE
        # sin(x + p) = sin x cos p + cos x sin p, with the sin/cos of x cached.
        out = tones[:, 0] * (a1 * np.cos(phase))
        out += tones[:, 1] * (a1 * np.sin(phase))
        out += tones[:, 2] * (a2 * np.cos(phase2))
        out += tones[:, 3] * (a2 * np.sin(phase2))
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
        bpfo_hz = self._bpfo_order[stations][:, None] * shaft_hz
        # Ball passes are not locked to the shaft (the cage slips); the needle bar is.
        first_ball = self._rng.uniform(0.0, 1.0, m)
        first_knock = ((NEEDLE_KNOCK_ANGLE - phase[:, 0]) / (2 * np.pi)) % 1.0
        self._place(imp[0], bpfo_hz, BPFO_JITTER, BEARING_IMPACT_G * wear**2 * sf**2, first_ball)
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
    ) -> None:
        """Write an impact train per row into `dest` (time origin at sample `lead`).

        `first` is where, as a fraction of one period after t = 0, the train
        has an impact; the train is extended backwards over the lead-in.
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
        rows = np.broadcast_to(np.arange(m)[:, None], (m, k))
        np.add.at(dest, (rows[ok], pos[ok]), size[ok])


def _ringing_kernels(freqs_hz: Sequence[float], tau_s: float, fs: float) -> np.ndarray:
    """Impulse responses of lightly damped modes: exp(-t/tau)·sin(2πft), one row per mode."""
    length = int(np.ceil(6 * tau_s * fs))
    t = np.arange(length) / fs
    f = np.asarray(freqs_hz, dtype=np.float64)[:, None]
    return np.exp(-t / tau_s) * np.sin(2 * np.pi * f * t)
