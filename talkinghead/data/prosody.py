"""Head pose, brows and gaze driven by the prosody (energy, pitch, pauses) of the audio.

Features per 25 fps frame (frame ``i`` = samples ``[640 i, 640 (i + 1))`` at 16 kHz):
RMS energy in dB relative to the clip's loud level, a speaking mask (energy above
``speech_floor_db``, gaps shorter than ``min_pause_s`` bridged), F0 in semitones from
``librosa.yin`` (100 Hz, unvoiced where quiet, noisy (high zero-crossing rate) or at the
search limits) and a prominence signal (energy z-score + rises of F0) whose peaks mark
stressed syllables.

Motion, all randomness from one seeded ``numpy.random.Generator``:

* pose: slow drift (Gaussian-filtered noise, ~1 s time scale) everywhere; a faster
  component (~0.25 s) gated by the speaking mask; nods on a random subset of prominence
  peaks (head pitches down and back, raised-cosine bump of 0.3-0.6 s, with a small yaw or
  roll companion); head lifts slightly with F0; a per-clip ``style`` amplitude (calm to
  animated) scales it all.
* brows: ``browInnerUp`` and ``browOuterUp*`` rise on prominence peaks where F0 is high
  (emphasis, question rises), ``browDown*`` occasionally on loud low-pitched peaks; fast
  attack, slower release, slight left/right asymmetry.
* gaze: a small slow drift (|gaze| ~ 0.05). No blinks: a scheduler adds them at inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
from scipy.ndimage import binary_closing, gaussian_filter1d
from scipy.signal import find_peaks

from ..motion.channels import CHANNEL_INDEX, CHANNEL_NAMES, MOTION_DIM, NEUTRAL, channel_range
from ..timing import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME

PITCH_HOP = 160  # 10 ms at 16 kHz: 4 pitch frames per video frame
PITCH_FRAME = 1024  # 64 ms, covers two periods of the lowest F0 searched
F0_RANGE_HZ = (60.0, 400.0)
VOICED_MAX_ZCR = 0.2  # zero crossings per sample; fricatives and noise lie above


@dataclass(frozen=True)
class ProsodyConfig:
    """Amplitudes (degrees for yaw/pitch/roll, face sizes for tx/ty, ratio for scale) and rates."""

    drift_deg: tuple[float, float, float] = (2.5, 1.5, 1.0)  # yaw, pitch, roll std of the slow drift
    drift_translation: float = 0.01  # tx, ty std
    drift_scale: float = 0.008  # scale std around 1
    drift_time_s: float = 1.2  # Gaussian sigma of the drift filter
    speech_deg: tuple[float, float, float] = (1.2, 0.8, 0.6)  # faster motion while speaking
    speech_time_s: float = 0.25
    nod_probability: float = 0.55  # chance that a prominence peak carries a nod
    nod_deg: tuple[float, float] = (1.5, 4.0)  # nod amplitude range (head pitch down)
    nod_duration_s: tuple[float, float] = (0.3, 0.6)
    nod_lag_s: tuple[float, float] = (-0.06, 0.1)  # nod peak relative to the acoustic peak
    pitch_follow_deg_per_st: float = 0.25  # head lifts this much per semitone above the median F0
    brow_probability: float = 0.45  # chance that a high-F0 prominence peak raises the brows
    brow_amount: tuple[float, float] = (0.15, 0.5)
    brow_down_probability: float = 0.12
    style_range: tuple[float, float] = (0.5, 1.6)  # per-clip amplitude multiplier (log-uniform)
    gaze_std: float = 0.04
    speech_floor_db: float = -35.0  # below the clip's loud level = silence
    min_pause_s: float = 0.2  # shorter gaps in speech are bridged
    min_peak_distance_s: float = 0.25
    peak_prominence: float = 0.6  # in z-score units of the prominence signal


@dataclass
class ProsodyFeatures:
    """Per-frame prosody of a clip, all (T,)."""

    energy_db: np.ndarray  # dB relative to the 95th percentile frame
    speaking: np.ndarray  # bool
    f0_semitones: np.ndarray  # relative to the clip's median voiced F0; NaN when unvoiced
    prominence: np.ndarray  # z-scored energy + positive F0 deviation


def _frame_rms_db(audio: np.ndarray, num_frames: int) -> np.ndarray:
    padded = np.zeros(num_frames * SAMPLES_PER_FRAME, dtype=np.float64)
    n = min(len(audio), len(padded))
    padded[:n] = audio[:n]
    rms = np.sqrt(np.mean(padded.reshape(num_frames, SAMPLES_PER_FRAME) ** 2, axis=1))  # (T,)
    db = 20 * np.log10(rms + 1e-6)
    return db - np.percentile(db, 95)


def _f0_per_frame(audio: np.ndarray, num_frames: int, energy_db: np.ndarray, floor_db: float) -> np.ndarray:
    """F0 (Hz) per video frame, NaN where unvoiced: median of the voiced 10 ms pitch frames inside it."""
    f0 = librosa.yin(audio.astype(np.float32), fmin=F0_RANGE_HZ[0], fmax=F0_RANGE_HZ[1], sr=SAMPLE_RATE,
                     frame_length=PITCH_FRAME, hop_length=PITCH_HOP, center=True)  # (P,)
    zcr = librosa.feature.zero_crossing_rate(audio, frame_length=PITCH_FRAME, hop_length=PITCH_HOP)[0]  # (P,)
    voiced = (zcr[: len(f0)] < VOICED_MAX_ZCR) & (f0 > F0_RANGE_HZ[0] * 1.05) & (f0 < F0_RANGE_HZ[1] * 0.95)
    f0 = np.where(voiced, f0, np.nan)
    per = SAMPLES_PER_FRAME // PITCH_HOP
    padded = np.full(num_frames * per, np.nan)
    padded[: min(len(f0), len(padded))] = f0[: len(padded)]
    frames = padded.reshape(num_frames, per)
    counts = np.sum(~np.isnan(frames), axis=1)
    out = np.full(num_frames, np.nan)
    has = (counts >= 2) & (energy_db > floor_db)
    out[has] = np.nanmedian(frames[has], axis=1)
    return out


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-6)


def prosody_features(audio: np.ndarray, num_frames: int, config: ProsodyConfig = ProsodyConfig()) -> ProsodyFeatures:
    """Prosody of ``audio`` (N,) float32 at 16 kHz over ``num_frames`` video frames."""
    energy_db = _frame_rms_db(audio, num_frames)
    speaking = energy_db > config.speech_floor_db
    bridge = max(1, int(round(config.min_pause_s * FPS)))
    speaking = binary_closing(np.pad(speaking, bridge), structure=np.ones(bridge))[bridge:-bridge]
    f0 = _f0_per_frame(audio, num_frames, energy_db, config.speech_floor_db)
    voiced = ~np.isnan(f0)
    semitones = np.full(num_frames, np.nan)
    if voiced.any():
        semitones[voiced] = 12 * np.log2(f0[voiced] / np.median(f0[voiced]))
    smooth_energy = gaussian_filter1d(np.clip(energy_db, config.speech_floor_db, 0.0), 1.5)
    rise = np.clip(np.nan_to_num(semitones, nan=0.0), 0.0, None)
    prominence = _zscore(smooth_energy) + 0.3 * gaussian_filter1d(rise, 1.0)
    return ProsodyFeatures(energy_db, speaking, semitones, prominence)


def _filtered_noise(rng: np.random.Generator, num_frames: int, sigma_s: float) -> np.ndarray:
    """Zero-mean, unit-std smooth noise (T,) with time scale ``sigma_s`` (a clip's pose centres on the source's)."""
    margin = int(4 * sigma_s * FPS)
    noise = gaussian_filter1d(rng.standard_normal(num_frames + 2 * margin), sigma_s * FPS)[margin:margin + num_frames]
    return (noise - noise.mean()) / (noise.std() + 1e-9)


def _bump(num_frames: int, centre_s: float, duration_s: float) -> np.ndarray:
    """A raised-cosine bump (T,) peaking at 1 at ``centre_s`` and lasting ``duration_s``."""
    t = (np.arange(num_frames) + 0.5) / FPS
    x = np.clip((t - centre_s) / (duration_s / 2), -1.0, 1.0)
    return 0.5 * (1 + np.cos(np.pi * x))


def _attack_release(num_frames: int, onset_s: float, attack_s: float, hold_s: float, release_s: float) -> np.ndarray:
    """0 -> 1 over ``attack_s`` (cosine), hold, then back to 0 over ``release_s``, (T,)."""
    t = (np.arange(num_frames) + 0.5) / FPS - onset_s
    up = 0.5 * (1 - np.cos(np.pi * np.clip(t / attack_s, 0, 1)))
    down = 0.5 * (1 + np.cos(np.pi * np.clip((t - attack_s - hold_s) / release_s, 0, 1)))
    return np.where(t < attack_s + hold_s, up, down) * (t >= 0)


def _peaks(features: ProsodyFeatures, config: ProsodyConfig) -> np.ndarray:
    peaks, _ = find_peaks(features.prominence, distance=max(1, int(config.min_peak_distance_s * FPS)),
                          prominence=config.peak_prominence)
    return peaks[features.speaking[peaks]]


def _pose(features: ProsodyFeatures, rng: np.random.Generator, style: float, config: ProsodyConfig):
    """Pose columns (T, 6) in POSE_NAMES order and the number of nods."""
    t_frames = len(features.energy_db)
    activity = gaussian_filter1d(features.speaking.astype(float), 0.15 * FPS)  # (T,) soft speaking mask
    pose = np.zeros((t_frames, 6))
    for k in range(3):  # yaw, pitch, roll
        pose[:, k] = (config.drift_deg[k] * _filtered_noise(rng, t_frames, config.drift_time_s)
                      + config.speech_deg[k] * activity * _filtered_noise(rng, t_frames, config.speech_time_s))
    pose[:, 3] = config.drift_translation * _filtered_noise(rng, t_frames, config.drift_time_s)
    pose[:, 4] = config.drift_translation * _filtered_noise(rng, t_frames, config.drift_time_s)
    pose[:, 5] = config.drift_scale * _filtered_noise(rng, t_frames, 2 * config.drift_time_s)
    follow = gaussian_filter1d(np.nan_to_num(features.f0_semitones, nan=0.0), 2.0)
    pose[:, 1] -= config.pitch_follow_deg_per_st * follow  # higher voice -> head lifts (pitch up)
    nods = 0
    for peak in _peaks(features, config):
        if rng.random() >= config.nod_probability:
            continue
        centre = (peak + 0.5) / FPS + rng.uniform(*config.nod_lag_s)
        bump = _bump(t_frames, centre, rng.uniform(*config.nod_duration_s))
        amplitude = rng.uniform(*config.nod_deg)
        pose[:, 1] += amplitude * bump
        pose[:, int(rng.choice([0, 2]))] += rng.uniform(-0.35, 0.35) * amplitude * bump
        nods += 1
    pose[:, :5] *= style
    pose[:, 5] = 1.0 + style * pose[:, 5]
    return pose, nods


def _brows(features: ProsodyFeatures, rng: np.random.Generator, style: float, config: ProsodyConfig):
    """Brow columns {name: (T,)} and the number of raises."""
    t_frames = len(features.energy_db)
    names = ("browInnerUp", "browOuterUpLeft", "browOuterUpRight", "browDownLeft", "browDownRight")
    brows = {n: np.zeros(t_frames) for n in names}
    raises = 0
    for peak in _peaks(features, config):
        st = features.f0_semitones[peak]
        onset = (peak + 0.5) / FPS - rng.uniform(0.05, 0.15)
        shape = _attack_release(t_frames, onset, rng.uniform(0.08, 0.15), rng.uniform(0.05, 0.3),
                                rng.uniform(0.25, 0.5))
        amount = rng.uniform(*config.brow_amount) * min(1.0, style)
        if not np.isnan(st) and st > 1.0 and rng.random() < config.brow_probability:
            brows["browInnerUp"] += rng.uniform(0.5, 1.0) * amount * shape
            brows["browOuterUpLeft"] += rng.uniform(0.8, 1.2) * amount * shape
            brows["browOuterUpRight"] += rng.uniform(0.8, 1.2) * amount * shape
            raises += 1
        elif not np.isnan(st) and st < -1.0 and rng.random() < config.brow_down_probability:
            brows["browDownLeft"] += 0.5 * amount * shape
            brows["browDownRight"] += 0.5 * rng.uniform(0.8, 1.2) * amount * shape
    return brows, raises


def prosody_motion(audio: np.ndarray, num_frames: int, rng: np.random.Generator,
                   config: ProsodyConfig = ProsodyConfig()) -> tuple[np.ndarray, dict]:
    """Pose, brow and gaze motion (num_frames, MOTION_DIM) float32 for 16 kHz ``audio`` (N,).

    Columns other than pose, brows and gaze hold their neutral values. Also returns a
    metadata dict (style, number of nods and brow raises, speaking fraction).
    """
    features = prosody_features(audio, num_frames, config)
    style = float(np.exp(rng.uniform(np.log(config.style_range[0]), np.log(config.style_range[1]))))
    motion = np.tile(np.asarray(NEUTRAL, dtype=np.float64), (num_frames, 1))  # (T, D)
    pose, nods = _pose(features, rng, style, config)
    motion[:, :6] = pose
    brows, raises = _brows(features, rng, style, config)
    for name, curve in brows.items():
        motion[:, CHANNEL_INDEX[name]] = curve
    for name in ("gazeX", "gazeY"):
        motion[:, CHANNEL_INDEX[name]] = config.gaze_std * _filtered_noise(rng, num_frames, 0.8)
    for k, name in enumerate(CHANNEL_NAMES):
        motion[:, k] = np.clip(motion[:, k], *channel_range(name))
    info = {"style": style, "nods": nods, "brow_raises": raises,
            "speaking_fraction": float(features.speaking.mean()) if num_frames else 0.0}
    assert motion.shape == (num_frames, MOTION_DIM)
    return motion.astype(np.float32), info
