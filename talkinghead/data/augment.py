"""Audio augmentation for synthetic training speech, deterministic for a seed.

Speaking rate and pitch are varied at synthesis (engine parameters, see :mod:`.synth`);
this module degrades the finished 16 kHz waveform the way recordings differ. Each step
is applied with its own probability, in this order:

1. reverb: convolution with a synthetic room response (an impulse for the direct path
   plus exponentially decaying Gaussian noise, RT60 0.15-0.8 s), mixed wet/dry;
2. telephone band: zero-phase 4th-order Butterworth band-pass 300-3400 Hz;
3. resampling round trip: down to 8 / 11.025 kHz (or up to 22.05 / 44.1 kHz) and back;
4. additive noise (white, pink, brown or speech-shaped, i.e. the clip's own spectrum with
   random phase) at an SNR drawn from ``snr_db``;
5. gain in dB, lowered when it would clip.

Every step keeps the sample count (reverb tails are cut, resampled audio trimmed or
padded), so phoneme times and motion frames stay aligned. The applied steps and their
parameters are returned as a JSON-safe list for the clip's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfiltfilt

TELEPHONE_BAND_HZ = (300.0, 3400.0)
PEAK_LIMIT = 0.99  # gain never pushes the peak above this


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation step."""

    reverb_probability: float = 0.3
    rt60_s: tuple[float, float] = (0.15, 0.8)
    reverb_wet: tuple[float, float] = (0.2, 0.7)
    telephone_probability: float = 0.12
    resample_probability: float = 0.2
    resample_rates: tuple[int, ...] = (8000, 11025, 22050, 44100)
    noise_probability: float = 0.5
    snr_db: tuple[float, ...] = (30.0, 20.0, 10.0, 5.0)
    noise_colours: tuple[str, ...] = ("white", "pink", "brown", "speech")
    gain_db: tuple[float, float] = (-12.0, 6.0)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)) + 1e-12)


def room_impulse_response(rng: np.random.Generator, sample_rate: int, rt60_s: float) -> np.ndarray:
    """Direct path + exponentially decaying noise reaching -60 dB at ``rt60_s``, (L,) unit energy."""
    length = int(1.2 * rt60_s * sample_rate)
    t = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-6.908 * t / rt60_s)  # ln(1000) = 6.908: -60 dB
    tail[0] = 0.0
    response = tail / np.sqrt(np.sum(tail ** 2))
    response[0] = 1.0  # direct sound
    return response / np.sqrt(np.sum(response ** 2))


def reverb(audio: np.ndarray, sample_rate: int, rng: np.random.Generator, rt60_s: float, wet: float) -> np.ndarray:
    """Reverberant ``audio`` of the same length and RMS."""
    wet_signal = fftconvolve(audio, room_impulse_response(rng, sample_rate, rt60_s))[: len(audio)]
    mixed = (1 - wet) * audio + wet * wet_signal
    return mixed * (_rms(audio) / _rms(mixed))


def telephone(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Band-limit to 300-3400 Hz without phase shift."""
    sos = butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=sample_rate, output="sos")
    return sosfiltfilt(sos, audio)


def resample_round_trip(audio: np.ndarray, sample_rate: int, via_rate: int) -> np.ndarray:
    """Resample to ``via_rate`` and back; the result has ``len(audio)`` samples."""
    g = np.gcd(sample_rate, via_rate)
    there = resample_poly(audio, via_rate // g, sample_rate // g)
    back = resample_poly(there, sample_rate // g, via_rate // g)
    out = np.zeros(len(audio))
    n = min(len(out), len(back))
    out[:n] = back[:n]
    return out


def coloured_noise(rng: np.random.Generator, num_samples: int, colour: str, reference: np.ndarray) -> np.ndarray:
    """Unit-RMS noise (N,): ``white``, ``pink`` (1/f power), ``brown`` (1/f^2) or ``speech``
    (the magnitude spectrum of ``reference`` with random phase)."""
    freqs = np.fft.rfftfreq(num_samples)
    if colour == "speech":
        magnitude = np.abs(np.fft.rfft(reference, n=num_samples))
        spectrum = magnitude * np.exp(2j * np.pi * rng.random(len(freqs)))
    else:
        exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[colour]
        spectrum = np.fft.rfft(rng.standard_normal(num_samples))
        spectrum[1:] /= freqs[1:] ** exponent
        spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n=num_samples)
    return noise / _rms(noise)


def add_noise(audio: np.ndarray, rng: np.random.Generator, snr_db: float, colour: str) -> np.ndarray:
    """``audio`` plus noise at ``snr_db`` relative to the RMS of its non-silent part."""
    active = audio[np.abs(audio) > 0.01 * (np.max(np.abs(audio)) + 1e-12)]
    level = _rms(active if len(active) else audio)
    noise = coloured_noise(rng, len(audio), colour, audio)
    return audio + noise * level * 10 ** (-snr_db / 20)


def augment(audio: np.ndarray, sample_rate: int, rng: np.random.Generator,
            config: AugmentConfig = AugmentConfig()) -> tuple[np.ndarray, list[dict]]:
    """Degrade ``audio`` (N,) with randomly chosen steps; returns (float32 (N,), applied steps)."""
    x = np.asarray(audio, dtype=np.float64)
    applied: list[dict] = []
    if rng.random() < config.reverb_probability:
        rt60, wet = float(rng.uniform(*config.rt60_s)), float(rng.uniform(*config.reverb_wet))
        x = reverb(x, sample_rate, rng, rt60, wet)
        applied.append({"type": "reverb", "rt60_s": rt60, "wet": wet})
    if rng.random() < config.telephone_probability:
        x = telephone(x, sample_rate)
        applied.append({"type": "telephone", "band_hz": list(TELEPHONE_BAND_HZ)})
    if rng.random() < config.resample_probability:
        via = int(config.resample_rates[int(rng.integers(len(config.resample_rates)))])
        x = resample_round_trip(x, sample_rate, via)
        applied.append({"type": "resample", "via_hz": via})
    if rng.random() < config.noise_probability:
        snr = float(config.snr_db[int(rng.integers(len(config.snr_db)))])
        colour = config.noise_colours[int(rng.integers(len(config.noise_colours)))]
        x = add_noise(x, rng, snr, colour)
        applied.append({"type": "noise", "snr_db": snr, "colour": colour})
    gain_db = float(rng.uniform(*config.gain_db))
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 0:
        gain_db = float(min(gain_db, 20 * np.log10(PEAK_LIMIT / peak)))
    x = x * 10 ** (gain_db / 20)
    applied.append({"type": "gain", "gain_db": gain_db})
    return x.astype(np.float32), applied
