"""Phonemes -> visemes -> smooth 25 fps mouth-channel curves with coarticulation.

Visemes and their channel targets (values in [0, 1]; ``L/R`` channels get the same value
on both sides; every channel not listed has target 0):

=========  ==========================================  ==================================================
viseme     phonemes (espeak mnemonic / ARPAbet)        targets
=========  ==========================================  ==================================================
SIL        ``_ _: _! _|`` / ``pau h# brth``            rest: all 0 (mouth closed, relaxed)
BMP        ``p b m`` / ``p b m em``                    jawOpen .03, mouthClose .85, mouthPress .6, mouthRollUpper .1, mouthRollLower .15
FV         ``f v`` / ``f v``                           jawOpen .08, mouthRollLower .6, mouthUpperUp .25, mouthClose .2
TH         ``T D`` / ``th dh``                         jawOpen .14, mouthLowerDown .15, mouthUpperUp .08
SZ         ``s z`` / ``s z``                           jawOpen .06, mouthStretch .2, mouthLowerDown .12, mouthUpperUp .08
SH         ``S Z tS dZ`` / ``sh zh ch jh``             jawOpen .1, mouthFunnel .55, mouthPucker .25, mouthUpperUp .15, mouthLowerDown .15
TD         ``t d n l t# t[ d# n- l/`` / ``t d n l dx``  jawOpen .12, mouthLowerDown .05
KG         ``k g N x`` / ``k g ng``                    jawOpen .18
R          ``r r- *`` / ``r``                          jawOpen .1, mouthFunnel .3, mouthPucker .2
W          ``w w# W`` / ``w``                          jawOpen .06, mouthPucker .75, mouthFunnel .3
Y          ``j ;`` / ``y``                             jawOpen .08, mouthStretch .25, mouthSmile .1
H          ``h ?`` / ``hh``                            jawOpen .25 (weak: takes its shape from the next vowel)
IY         ``i: i`` / ``iy``                           jawOpen .14, mouthStretch .35, mouthSmile .2
IH         ``I I2 I#`` / ``ih``                        jawOpen .2, mouthStretch .25, mouthSmile .12
EH         ``e E E2 e:`` / ``eh``                      jawOpen .38, mouthStretch .2, mouthSmile .08, mouthLowerDown .15
AE         ``a a#`` / ``ae``                           jawOpen .58, mouthStretch .15, mouthLowerDown .25, mouthUpperUp .1
AA         ``A: A@ aa`` / ``aa``                       jawOpen .7, mouthLowerDown .25
OH         ``0`` / --                                  jawOpen .65, mouthLowerDown .2, mouthFunnel .12
AH         ``V VR`` / ``ah``                           jawOpen .45, mouthLowerDown .15
AX         ``@ @2 @5`` / ``ax``                        jawOpen .28
ER         ``3 3:`` / ``er``                           jawOpen .25, mouthFunnel .25, mouthPucker .1
AO         ``O: O O2 O@ o@ o:`` / ``ao``               jawOpen .45, mouthFunnel .45, mouthPucker .25
UW         ``u:`` / ``uw``                             jawOpen .14, mouthPucker .7, mouthFunnel .35
UH         ``U`` / ``uh``                              jawOpen .2, mouthPucker .4, mouthFunnel .25
=========  ==========================================  ==================================================

Diphthongs and syllabic consonants are two visemes in sequence over their segment (the
first takes ``DIPHTHONG_SPLIT`` of it): ``aI aI2 aI3 aI@`` / ``ay`` = AA->IH, ``aU aU@`` /
``aw`` = AE->UH, ``eI`` / ``ey`` = EH->IY, ``oU oU#`` / ``ow`` = AO->UW, ``OI`` / ``oy`` =
AO->IY, ``i@ i@3`` = IH->AX, ``e@`` = EH->AX, ``U@`` = UH->AX, ``@L`` = AX->TD.

Coarticulation (Cohen & Massaro's dominance model): each visual segment ``s`` pulls
every channel ``k`` towards its target ``T[s,k]`` with a dominance

    D[s,k](t) = alpha[s,group(k)] * exp(-(d_s(t) / tau_s) ** c),   c = 2,

i.e. theta = tau ** -c, where ``d_s(t)`` is the distance (s) from ``t`` to the segment's
core (its middle ``core_fraction``), with ``tau`` longer before the core (anticipation
reaches further than carry-over) and longer for vowels (80/60 ms) than consonants
(40/30 ms) and lip consonants (20/18 ms: strong but local). A channel's value is the dominance-weighted mean of the targets
``sum_s D T / sum_s D`` (plus a faint rest prior so far-away silence reads as rest).
Channels are grouped (jaw; lip closure; rounding; spread; lip raise); a viseme that does
not specify a group has tiny dominance there, so e.g. /k/ in "coo" keeps the rounding of
/u/. Bilabials have 8x a vowel's dominance on the closure group (3x on the jaw) and a
minimum core of ``min_bilabial_s``, so the lips really close on p/b/m; labiodentals
likewise on the lower lip. Silence
dominates only when the pause is long (``silence_min_s`` .. ``silence_full_s``), so a
short break between words keeps the mouth moving. Curves are computed on a 200 Hz grid,
smoothed (Gaussian, ``smoothing_s``), shifted earlier by ``lip_lead_s`` (the face leads
the sound) and sampled at frame centres: frame ``i`` covers ``[i/fps, (i+1)/fps)`` s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..motion.channels import EXPRESSION_NAMES
from ..timing import FPS
from .speech import ARPABET_PHONESET, ESPEAK_PHONESET, PhonemeEvent

# Channel groups: a viseme's dominance is set per group.
GROUPS = {
    "jaw": ("jawOpen",),
    "closure": ("mouthClose", "mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper"),
    "round": ("mouthFunnel", "mouthPucker"),
    "spread": ("mouthStretchLeft", "mouthStretchRight", "mouthSmileLeft", "mouthSmileRight"),
    "raise": ("mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight"),
}
GROUP_NAMES = tuple(GROUPS)
MOUTH_CURVE_CHANNELS = tuple(name for names in GROUPS.values() for name in names)  # channels visemes drive

# Targets per viseme; names without Left/Right stand for both sides.
TARGETS: dict[str, dict[str, float]] = {
    "SIL": {},
    "BMP": {"jawOpen": 0.03, "mouthClose": 0.85, "mouthPress": 0.6, "mouthRollUpper": 0.1, "mouthRollLower": 0.15},
    "FV": {"jawOpen": 0.08, "mouthRollLower": 0.6, "mouthUpperUp": 0.25, "mouthClose": 0.2},
    "TH": {"jawOpen": 0.14, "mouthLowerDown": 0.15, "mouthUpperUp": 0.08},
    "SZ": {"jawOpen": 0.06, "mouthStretch": 0.2, "mouthLowerDown": 0.12, "mouthUpperUp": 0.08},
    "SH": {"jawOpen": 0.1, "mouthFunnel": 0.55, "mouthPucker": 0.25, "mouthUpperUp": 0.15, "mouthLowerDown": 0.15},
    "TD": {"jawOpen": 0.12, "mouthLowerDown": 0.05},
    "KG": {"jawOpen": 0.18},
    "R": {"jawOpen": 0.1, "mouthFunnel": 0.3, "mouthPucker": 0.2},
    "W": {"jawOpen": 0.06, "mouthPucker": 0.75, "mouthFunnel": 0.3},
    "Y": {"jawOpen": 0.08, "mouthStretch": 0.25, "mouthSmile": 0.1},
    "H": {"jawOpen": 0.25},
    "IY": {"jawOpen": 0.14, "mouthStretch": 0.35, "mouthSmile": 0.2},
    "IH": {"jawOpen": 0.2, "mouthStretch": 0.25, "mouthSmile": 0.12},
    "EH": {"jawOpen": 0.38, "mouthStretch": 0.2, "mouthSmile": 0.08, "mouthLowerDown": 0.15},
    "AE": {"jawOpen": 0.58, "mouthStretch": 0.15, "mouthLowerDown": 0.25, "mouthUpperUp": 0.1},
    "AA": {"jawOpen": 0.7, "mouthLowerDown": 0.25},
    "OH": {"jawOpen": 0.65, "mouthLowerDown": 0.2, "mouthFunnel": 0.12},  # espeak "0" (LOT), slightly rounded
    "AH": {"jawOpen": 0.45, "mouthLowerDown": 0.15},
    "AX": {"jawOpen": 0.28},
    "ER": {"jawOpen": 0.25, "mouthFunnel": 0.25, "mouthPucker": 0.1},
    "AO": {"jawOpen": 0.45, "mouthFunnel": 0.45, "mouthPucker": 0.25},
    "UW": {"jawOpen": 0.14, "mouthPucker": 0.7, "mouthFunnel": 0.35},
    "UH": {"jawOpen": 0.2, "mouthPucker": 0.4, "mouthFunnel": 0.25},
}
VOWELS = frozenset({"IY", "IH", "EH", "AE", "AA", "OH", "AH", "AX", "ER", "AO", "UW", "UH"})

# Dominance magnitude alpha per (viseme, group). Unspecified groups use WEAK.
WEAK = 0.05
VOWEL_ALPHA = {"jaw": 1.0, "closure": 0.3, "round": 1.0, "spread": 1.0, "raise": 0.8}
CONSONANT_ALPHA: dict[str, dict[str, float]] = {
    "BMP": {"jaw": 3.0, "closure": 8.0, "raise": 2.0, "spread": 0.5},
    "FV": {"jaw": 1.5, "closure": 6.0, "raise": 3.0, "spread": 0.3},
    "TH": {"jaw": 1.2, "raise": 1.0},
    "SZ": {"jaw": 1.5, "spread": 0.6, "raise": 1.0, "closure": 0.5},
    "SH": {"jaw": 1.2, "round": 3.0, "raise": 1.5, "closure": 0.5},
    "TD": {"jaw": 0.6, "raise": 0.3},
    "KG": {"jaw": 0.5},
    "R": {"jaw": 0.6, "round": 1.0},
    "W": {"jaw": 1.2, "round": 4.0, "spread": 1.0},
    "Y": {"jaw": 0.8, "spread": 0.8},
    "H": {"jaw": 0.1},
}
SILENCE_ALPHA = 3.0  # per group, reached when a pause is at least silence_full_s long
REST_PRIOR_ALPHA = 1e-3  # a constant pull towards rest that wins only far from every segment

# Time constants tau (s) before / after the core: anticipation reaches further than carry-over.
TAU_VOWEL = (0.08, 0.06)
TAU_CONSONANT = (0.04, 0.03)
TAU_LIPS = (0.02, 0.018)  # BMP and FV: strong but very local, so vowels between closures still open
TAU_SILENCE = (0.05, 0.05)
SHAPE_C = 2.0  # exponent c of the distance: Gaussian fall-off outside the core

DIPHTHONG_SPLIT = 0.55  # share of a two-viseme segment taken by the first viseme

ESPEAK_VISEMES: dict[str, tuple[str, ...]] = {
    **{s: ("SIL",) for s in ("_", "_:", "_!", "_|", "_^_", "_;")},
    **{s: ("BMP",) for s in ("p", "b", "m", "m-")},
    **{s: ("FV",) for s in ("f", "v")},
    **{s: ("TH",) for s in ("T", "D")},
    **{s: ("SZ",) for s in ("s", "z")},
    **{s: ("SH",) for s in ("S", "Z", "tS", "dZ", "S;", "Z;")},
    **{s: ("TD",) for s in ("t", "d", "n", "l", "t#", "t[", "t2", "d#", "d[", "n-", "l/", "l#", "L", "nX")},
    **{s: ("KG",) for s in ("k", "g", "N", "x", "k#", "g#", "N#")},
    **{s: ("R",) for s in ("r", "r-", "*", "r/", "R")},
    **{s: ("W",) for s in ("w", "w#", "W")},
    **{s: ("Y",) for s in ("j", ";", "J")},
    **{s: ("H",) for s in ("h", "?", "h#")},
    **{s: ("IY",) for s in ("i:", "i", "i#")},
    **{s: ("IH",) for s in ("I", "I2", "I#", "I3")},
    **{s: ("EH",) for s in ("e", "E", "E2", "E3", "e:", "e#")},
    **{s: ("AE",) for s in ("a", "a#", "a2")},
    **{s: ("AA",) for s in ("A:", "A@", "aa", "A", "A#")},
    "0": ("OH",), "0#": ("OH",),
    **{s: ("AH",) for s in ("V", "VR")},
    **{s: ("AX",) for s in ("@", "@2", "@5", "@#")},
    **{s: ("ER",) for s in ("3", "3:", "3:r")},
    **{s: ("AO",) for s in ("O:", "O", "O2", "O@", "o@", "o:", "o", "O#", "o@3")},
    **{s: ("UW",) for s in ("u:", "u", "u#")},
    **{s: ("UH",) for s in ("U", "U#")},
    **{s: ("AA", "IH") for s in ("aI", "aI2", "aI3", "aI@", "aI@3", "aI#")},
    **{s: ("AE", "UH") for s in ("aU", "aU@", "aU#")},
    "eI": ("EH", "IY"), "eI#": ("EH", "IY"),
    **{s: ("AO", "UW") for s in ("oU", "oU#", "o@U")},
    "OI": ("AO", "IY"),
    **{s: ("IH", "AX") for s in ("i@", "i@3", "I@")},
    "e@": ("EH", "AX"), "e@3": ("EH", "AX"),
    "U@": ("UH", "AX"), "u@": ("UW", "AX"),
    "@L": ("AX", "TD"),
}

ARPABET_VISEMES: dict[str, tuple[str, ...]] = {
    **{s: ("SIL",) for s in ("pau", "h#", "brth", "sil", "ssil")},
    **{s: ("BMP",) for s in ("p", "b", "m", "em")},
    **{s: ("FV",) for s in ("f", "v")},
    **{s: ("TH",) for s in ("th", "dh")},
    **{s: ("SZ",) for s in ("s", "z")},
    **{s: ("SH",) for s in ("sh", "zh", "ch", "jh")},
    **{s: ("TD",) for s in ("t", "d", "n", "l", "dx", "nx", "el", "en")},
    **{s: ("KG",) for s in ("k", "g", "ng")},
    "r": ("R",), "w": ("W",), "wh": ("W",), "y": ("Y",), "hh": ("H",), "hv": ("H",),
    "iy": ("IY",), "ih": ("IH",), "ix": ("IH",), "eh": ("EH",), "ae": ("AE",), "aa": ("AA",),
    "ah": ("AH",), "ax": ("AX",), "axr": ("ER",), "er": ("ER",), "ao": ("AO",), "uw": ("UW",), "ux": ("UW",),
    "uh": ("UH",),
    "ay": ("AA", "IH"), "aw": ("AE", "UH"), "ey": ("EH", "IY"), "ow": ("AO", "UW"), "oy": ("AO", "IY"),
}
TABLES = {ESPEAK_PHONESET: ESPEAK_VISEMES, ARPABET_PHONESET: ARPABET_VISEMES}
FALLBACK_STRIP = "#[]/-;0123456789"  # modifiers stripped from unknown espeak symbols before a second look-up


@dataclass(frozen=True)
class CoarticulationConfig:
    """Parameters of :func:`mouth_curves` (times in seconds)."""

    lip_lead_s: float = 0.04  # the mouth leads the sound by one 25 fps frame
    grid_hz: float = 200.0  # resolution of the internal curves
    smoothing_s: float = 0.02  # Gaussian sigma, muscle inertia
    core_fraction: float = 0.5  # middle share of a segment where its dominance is flat
    min_bilabial_s: float = 0.05  # a bilabial's closure core is at least this long
    silence_min_s: float = 0.08  # pauses shorter than this do not pull towards rest
    silence_full_s: float = 0.3  # pauses at least this long pull with SILENCE_ALPHA
    articulation: float = 1.0  # scales non-closure targets (hypo- < 1 < hyper-articulation)


@dataclass(frozen=True)
class VisualSegment:
    """A viseme held over ``[start_s, end_s)``; ``core`` is where its dominance is flat."""

    viseme: str
    start_s: float
    end_s: float
    core_start_s: float
    core_end_s: float


def visemes_of(symbol: str, phoneset: str) -> tuple[str, ...] | None:
    """The viseme(s) of one phoneme symbol, or None when the symbol is unknown."""
    table = TABLES[phoneset]
    if symbol in table:
        return table[symbol]
    stripped = symbol.rstrip(FALLBACK_STRIP) if phoneset == ESPEAK_PHONESET else symbol.lower()
    if stripped.startswith("_"):
        return ("SIL",)
    return table.get(stripped)


def unknown_symbols(events: list[PhonemeEvent], phoneset: str) -> list[str]:
    """Symbols of ``events`` with no viseme (they are treated as a weak neutral consonant)."""
    return sorted({e.symbol for e in events if visemes_of(e.symbol, phoneset) is None})


def _merge_silences(events: list[PhonemeEvent], phoneset: str) -> list[PhonemeEvent]:
    """Adjacent pauses (espeak often emits ``_: _:``) become one, so their total length counts."""
    out: list[PhonemeEvent] = []
    for event in events:
        silent = visemes_of(event.symbol, phoneset) == ("SIL",)
        if silent and out and visemes_of(out[-1].symbol, phoneset) == ("SIL",):
            out[-1] = PhonemeEvent(out[-1].symbol, out[-1].start_s, event.end_s)
        else:
            out.append(event)
    return out


def visual_segments(events: list[PhonemeEvent], phoneset: str,
                    config: CoarticulationConfig = CoarticulationConfig()) -> list[VisualSegment]:
    """Expand phoneme events into viseme segments (diphthongs become two) with their cores."""
    out: list[VisualSegment] = []
    for event in _merge_silences(events, phoneset):
        visemes = visemes_of(event.symbol, phoneset) or ("H",)
        bounds = [event.start_s, event.end_s]
        if len(visemes) == 2:
            bounds.insert(1, event.start_s + DIPHTHONG_SPLIT * event.duration_s)
        for viseme, start, end in zip(visemes, bounds[:-1], bounds[1:]):
            centre, half = (start + end) / 2, (end - start) * config.core_fraction / 2
            if viseme == "BMP":
                half = max(half, config.min_bilabial_s / 2)
            out.append(VisualSegment(viseme, start, end, centre - half, centre + half))
    return out


def _alpha(segment: VisualSegment, group: str, config: CoarticulationConfig) -> float:
    if segment.viseme == "SIL":
        length = segment.end_s - segment.start_s
        ramp = (length - config.silence_min_s) / (config.silence_full_s - config.silence_min_s)
        return SILENCE_ALPHA * float(np.clip(ramp, 0.0, 1.0))
    if segment.viseme in VOWELS:
        return VOWEL_ALPHA[group]
    return CONSONANT_ALPHA[segment.viseme].get(group, WEAK)


def _tau(viseme: str) -> tuple[float, float]:
    if viseme == "SIL":
        return TAU_SILENCE
    if viseme in ("BMP", "FV"):
        return TAU_LIPS
    return TAU_VOWEL if viseme in VOWELS else TAU_CONSONANT


def _target_matrix(segments: list[VisualSegment], articulation: float) -> np.ndarray:
    """Targets (S, K) over MOUTH_CURVE_CHANNELS; closure channels are not scaled by ``articulation``."""
    index = {name: k for k, name in enumerate(MOUTH_CURVE_CHANNELS)}
    targets = np.zeros((len(segments), len(MOUTH_CURVE_CHANNELS)))  # (S, K)
    for s, segment in enumerate(segments):
        for name, value in TARGETS[segment.viseme].items():
            for side_name in (name,) if name in index else (name + "Left", name + "Right"):
                scale = 1.0 if side_name in GROUPS["closure"] else articulation
                targets[s, index[side_name]] = min(1.0, value * scale)
    return targets


def _dominance(segments: list[VisualSegment], times: np.ndarray, config: CoarticulationConfig) -> np.ndarray:
    """Dominance (S, G, N) of every segment per channel group at ``times`` (N,)."""
    core_start = np.array([s.core_start_s for s in segments])[:, None]  # (S, 1)
    core_end = np.array([s.core_end_s for s in segments])[:, None]
    tau = np.array([_tau(s.viseme) for s in segments])  # (S, 2)
    before = np.clip(core_start - times[None, :], 0.0, None) / tau[:, :1]  # (S, N)
    after = np.clip(times[None, :] - core_end, 0.0, None) / tau[:, 1:]
    shape = np.exp(-(before ** SHAPE_C + after ** SHAPE_C))  # (S, N)
    alpha = np.array([[_alpha(s, g, config) for g in GROUP_NAMES] for s in segments])  # (S, G)
    return alpha[:, :, None] * shape[:, None, :]  # (S, G, N)


def blend(segments: list[VisualSegment], times: np.ndarray,
          config: CoarticulationConfig = CoarticulationConfig()) -> np.ndarray:
    """Dominance-weighted targets at ``times`` (N,) -> (N, K) over MOUTH_CURVE_CHANNELS."""
    if not segments:
        return np.zeros((len(times), len(MOUTH_CURVE_CHANNELS)))
    targets = _target_matrix(segments, config.articulation)  # (S, K)
    dominance = _dominance(segments, times, config)  # (S, G, N)
    out = np.empty((len(times), len(MOUTH_CURVE_CHANNELS)))  # (N, K)
    k = 0
    for g, names in enumerate(GROUPS.values()):
        d = dominance[:, g, :]  # (S, N)
        out[:, k:k + len(names)] = (d.T @ targets[:, k:k + len(names)]) / (d.sum(axis=0)[:, None] + REST_PRIOR_ALPHA)
        k += len(names)
    return out


def mouth_curves(events: list[PhonemeEvent], phoneset: str, num_frames: int, fps: int = FPS,
                 config: CoarticulationConfig = CoarticulationConfig()) -> np.ndarray:
    """Mouth channel curves (num_frames, len(EXPRESSION_NAMES)) float32 from phoneme timing.

    Frame ``i`` shows the mouth at the centre of ``[i/fps, (i+1)/fps)`` (minus ``lip_lead_s``);
    columns not driven by visemes (eyes, brows, cheeks, frown) are 0.
    """
    duration_s = num_frames / fps
    step = 1.0 / config.grid_hz
    grid = np.arange(-0.5, duration_s + 0.5, step)  # (N,) margins so smoothing sees context
    curves = blend(visual_segments(events, phoneset, config), grid, config)  # (N, K)
    curves = gaussian_filter1d(curves, sigma=config.smoothing_s / step, axis=0, mode="nearest")
    frame_times = (np.arange(num_frames) + 0.5) / fps + config.lip_lead_s  # (T,)
    out = np.zeros((num_frames, len(EXPRESSION_NAMES)), dtype=np.float32)
    for k, name in enumerate(MOUTH_CURVE_CHANNELS):
        out[:, EXPRESSION_NAMES.index(name)] = np.interp(frame_times, grid, curves[:, k])
    return np.clip(out, 0.0, 1.0)
