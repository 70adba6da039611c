"""Festival voices through the ``festival`` program, with segment times from ``utt.save.segs``.

Each call writes a small Scheme script that selects the voice, scales the speaking rate
(``Duration_Stretch``) and the target F0 of the linear-regression intonation model
(``int_lr_params``), synthesises the text and saves the wave (RIFF) and the segment
label file (``end  100  name`` per line, names in lower-case ARPAbet like flite's). One
process per call costs ~0.3 s of start-up, so festival voices suit held-out evaluation
and a small share of training data, not bulk synthesis.

Voices are the directories under ``/usr/share/festival/voices/<language>/`` (Debian
packages ``festival`` + ``festvox-*``); :func:`list_voices` reports the English ones.
Calls are independent processes, hence thread-safe.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import DependencyError, TalkingHeadError
from .speech import ARPABET_PHONESET, Speech, check_events, events_from_ends

VOICE_ROOTS = (Path("/usr/share/festival/voices"), Path("/usr/local/share/festival/voices"))
TIMEOUT_S = 120.0  # one utterance takes well under a second; a hung process is killed


def _executable() -> str:
    path = shutil.which("festival")
    if path is None:
        raise DependencyError("the festival program was not found; install it "
                              "(Debian/Ubuntu: apt-get install festival festvox-kallpc16k) or use espeak-ng voices")
    return path


def list_voices(language: str = "english") -> list[str]:
    """Installed festival voices for ``language`` (directory names such as ``kal_diphone``)."""
    names = set()
    for root in VOICE_ROOTS:
        folder = root / language
        if folder.is_dir():
            names.update(p.name for p in folder.iterdir() if p.is_dir())
    return sorted(names)


def available() -> bool:
    """Whether the festival program and at least one English voice are installed."""
    return shutil.which("festival") is not None and bool(list_voices())


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _script(text: str, voice: str, tempo: float, pitch_scale: float, wav: Path, segs: Path) -> str:
    scale_f0 = ("(set! int_lr_params (mapcar (lambda (p) (if (eq? (car p) 'target_f0_mean) "
                f"(list (car p) (* {pitch_scale:.4f} (car (cdr p)))) p)) int_lr_params))")
    return "\n".join((
        f"(voice_{voice})",
        scale_f0,
        f"(Parameter.set 'Duration_Stretch {1.0 / tempo:.4f})",
        f"(set! utt1 (SynthText {_scheme_string(text)}))",
        f"(utt.save.wave utt1 {_scheme_string(str(wav))} 'riff)",
        f"(utt.save.segs utt1 {_scheme_string(str(segs))})",
        ""))


def _read_segments(path: Path) -> list[tuple[str, float]]:
    """A festival label file: a header ending in ``#``, then ``end  colour  name`` lines."""
    segments = []
    in_body = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not in_body:
            in_body = line.strip() == "#"
            continue
        parts = line.split()
        if len(parts) >= 3:
            segments.append((parts[2], float(parts[0])))
    return segments


def synthesize(text: str, voice: str = "kal_diphone", *, tempo: float = 1.0, pitch_scale: float = 1.0) -> Speech:
    """Speak ``text`` with festival voice ``voice``; ``tempo`` > 1 speaks faster, ``pitch_scale`` scales F0.

    Returns :class:`Speech` at the voice's rate (16000 Hz for kal_diphone) with ARPAbet phonemes.
    """
    if not text.strip():
        raise TalkingHeadError("festival was asked to speak empty text; give at least one word")
    if not (0.3 <= tempo <= 3.0 and 0.5 <= pitch_scale <= 2.0):
        raise TalkingHeadError(f"festival tempo={tempo} must be in [0.3, 3] and pitch_scale={pitch_scale} in [0.5, 2]")
    program = _executable()
    if voice not in list_voices():
        raise TalkingHeadError(f"unknown festival voice {voice!r}; installed: {', '.join(list_voices()) or 'none'}")
    with tempfile.TemporaryDirectory(prefix="talkinghead-festival-") as tmp:
        wav, segs, script = Path(tmp) / "out.wav", Path(tmp) / "out.segs", Path(tmp) / "run.scm"
        script.write_text(_script(text, voice, tempo, pitch_scale, wav, segs), encoding="utf-8")
        result = subprocess.run([program, "-b", str(script)], capture_output=True, text=True, timeout=TIMEOUT_S)
        if result.returncode != 0 or not wav.exists() or not segs.exists():
            raise TalkingHeadError(f"festival failed on {text[:40]!r} with voice {voice!r}: "
                                   f"{(result.stderr or result.stdout).strip()[-300:]}")
        audio, rate = sf.read(str(wav), dtype="float32", always_2d=True)
        segments = _read_segments(segs)
    audio = np.ascontiguousarray(audio[:, 0])  # (N,)
    duration_s = len(audio) / rate
    events = events_from_ends([s for s, _ in segments], [e for _, e in segments], duration_s)
    check_events(events, duration_s)
    return Speech(audio, int(rate), events, ARPABET_PHONESET)
