"""The bad-input corpus: every awkward portrait, audio file and control a user may hand talkinghead,
built programmatically (no downloaded media) into a directory, each with the outcome it must have.

    from badinputs import build_corpus
    cases = build_corpus(tmp_dir)          # list[Case], files written under tmp_dir
    for case in cases:
        case.name, case.kind, case.path, case.expect

``case.expect`` is ``"ok"`` (a valid mp4 of ``case.duration_s`` seconds must come out) or the name of
a :mod:`talkinghead.errors` exception type that must be raised (through the API) / reported on one
line with exit status 2 (through the CLI). Every case carries a valid portrait and a valid audio
file; only the input under test is bad. ``controls`` are API keyword arguments, ``cli_args`` the
same request as ``talkinghead generate`` flags; ``cli_expect`` overrides ``expect`` for the CLI
(``"usage"``: argparse refuses the flag itself, exit status 2 with a one-line error). ``limits``
overrides :class:`talkinghead.limits.Limits` fields for the case. ``cli`` marks the representative
subset also run as a ``talkinghead generate`` process (each one imports torch, the ok one loads the
models: about 5 s per failing call and 20 s for the ok one on this 2-core CPU).

Used by tests/test_bad_inputs.py and benchmarks/bench_bad_inputs.py (the table in
docs/reliability.md); the app's tests can take a few cases from here too.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
SPEECH_S = 0.6  # length of the audio cases (short: each ok case renders 15 frames)
SHORT_SPEECH_S = 0.4  # the valid audio of the image / controls / output cases (10 frames)
DURATION_TOLERANCE_S = 0.1  # codecs pad (mp3/aac priming); the mp4 is cut at whole frames
HOUR_S = 3600.0
HUGE_SIDE = 8000  # 64 MP: above the default 50 MP limit
BOMB_SIDE = 100_000  # 10 G pixels claimed by a PNG header (Pillow's decompression-bomb guard)
LOWERED_AUDIO_LIMIT_S = 600.0


@dataclass(frozen=True)
class Case:
    """One input and the outcome it must have (see the module docstring)."""

    name: str
    kind: str  # "image" | "audio" | "controls" | "output"
    path: Path | None  # the file under test (image / audio), None for controls
    expect: str  # "ok" or a talkinghead.errors exception name
    portrait: Path
    audio: Path
    note: str
    controls: dict = field(default_factory=dict)
    cli_args: tuple[str, ...] | None = ()  # None: not expressible on the command line
    cli_expect: str | None = None  # None: same as expect
    duration_s: float | None = None  # expected mp4 length for "ok"
    limits: dict = field(default_factory=dict)
    cli: bool = False
    output: str = "out.mp4"  # output path relative to the case's run directory

    @property
    def expect_cli(self) -> str:
        return self.cli_expect or self.expect

    def error_type(self):
        """The expected exception class (None for "ok")."""
        if self.expect == "ok":
            return None
        import talkinghead.errors as errors

        return getattr(errors, self.expect)


# -- sources -------------------------------------------------------------------------------------
def astronaut() -> np.ndarray:
    """(512, 512, 3) uint8: scikit-image's public-domain portrait (one frontal face)."""
    import skimage.data

    return skimage.data.astronaut()


def exif_upright() -> np.ndarray:
    """(512, 400, 3): the portrait narrowed (not square, so a missed EXIF rotation changes the output size)."""
    return np.ascontiguousarray(astronaut()[:, 56:456])


def speech(seconds: float = SPEECH_S) -> np.ndarray:
    """``seconds`` of the shipped espeak-ng demo speech, 16 kHz float32."""
    from talkinghead.audio.io import load_audio
    from talkinghead.demo import demo_speech

    clip = load_audio(str(demo_speech()))
    return np.tile(clip, math.ceil(seconds * SAMPLE_RATE / len(clip)))[:round(seconds * SAMPLE_RATE)]


def _resample(samples: np.ndarray, sr: int) -> np.ndarray:
    import soxr

    return soxr.resample(samples, SAMPLE_RATE, sr).astype(np.float32)


# -- writers ---------------------------------------------------------------------------------------
def _save_pil(path: Path, image, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width x height`` RGB pixels, with one tiny (truncated) data chunk."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
    path.write_bytes(data + _png_chunk(b"IEND", b""))
    return path


def _exif_rotated_jpeg(path: Path, upright: np.ndarray) -> Path:
    """A JPEG storing the portrait turned 90 degrees, with EXIF orientation 6 ("rotate 90 CW to view")."""
    from PIL import Image

    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1)))  # turned 90 degrees CCW
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    stored.save(path, format="JPEG", quality=95, exif=exif.tobytes())
    return path


def _wav(path: Path, samples: np.ndarray, sr: int, subtype: str | None = None) -> Path:
    import soundfile as sf

    sf.write(path, samples, sr, subtype=subtype, format="WAV")
    return path


def _sparse_wav(path: Path, seconds: float, sr: int = SAMPLE_RATE) -> Path:
    """A 16-bit mono WAV of ``seconds`` of digital silence written as a sparse file (no disk used)."""
    n_bytes = int(seconds * sr) * 2
    header = (b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVE"
              + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, 2 * sr, 2, 16)
              + b"data" + struct.pack("<I", n_bytes))
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + n_bytes)
    return path


def _encode_av(path: Path, samples: np.ndarray | None, sr: int, codec: str, video_seconds: float = 0.0,
               container_format: str | None = None) -> Path:
    """Mono audio (and/or a plain video track of ``video_seconds``) into a container with PyAV."""
    import av

    with av.open(str(path), "w", format=container_format) as container:
        video = None
        if video_seconds:
            video = container.add_stream("libx264", rate=25)
            video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = None
        if samples is not None:
            audio = container.add_stream(codec, rate=sr)
            audio.layout = "mono"
            frame_size = audio.codec_context.frame_size or 1024
            for i in range(0, len(samples), frame_size):
                block = samples[i:i + frame_size]
                if audio.codec_context.frame_size and len(block) < frame_size:
                    block = np.pad(block, (0, frame_size - len(block)))
                frame = av.AudioFrame.from_ndarray(block[None].astype(np.float32), format="fltp", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = sr, i, Fraction(1, sr)
                container.mux(audio.encode(frame))
            container.mux(audio.encode(None))
        if video is not None:
            for i in range(round(video_seconds * 25)):
                image = np.full((64, 64, 3), (i * 7) % 256, np.uint8)
                container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(video.encode(None))
    return path


# -- the corpus ------------------------------------------------------------------------------------
def build_corpus(directory: str | Path) -> list[Case]:
    """Write every case's files under ``directory`` and return the cases (image, audio, controls, output)."""
    directory = Path(directory)
    for sub in ("images", "audio"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    portrait, audio = _valid_inputs(directory)
    return (_image_cases(directory / "images", audio) + _audio_cases(directory / "audio", portrait)
            + _control_cases(portrait, audio) + _output_cases(portrait, audio))


def _valid_inputs(directory: Path) -> tuple[Path, Path]:
    from PIL import Image

    portrait = _save_pil(directory / "portrait.png", Image.fromarray(astronaut()))
    audio = _wav(directory / "speech.wav", speech(SHORT_SPEECH_S), SAMPLE_RATE)
    return portrait, audio


def _image_cases(d: Path, audio: Path) -> list[Case]:
    from PIL import Image

    face = astronaut()
    ok = dict(duration_s=SHORT_SPEECH_S)

    def case(name, path, expect, note, **kw):
        return Case(f"image/{name}", "image", path, expect, portrait=path, audio=audio, note=note,
                    **({**ok, **kw} if expect == "ok" else kw))

    import skimage.data

    no_face = _save_pil(d / "no_face.png", Image.fromarray(skimage.data.coffee()))
    several = _save_pil(d / "two_faces.png", Image.fromarray(np.concatenate([face, face], axis=1)))
    tiny_canvas = Image.new("RGB", (512, 512), (120, 130, 140))
    tiny_canvas.paste(Image.fromarray(face).resize((48, 48), Image.LANCZOS), (232, 232))
    tiny = _save_pil(d / "tiny_face.png", tiny_canvas)
    # the portrait's face spans x 180..272, y 70..177 (landmark box)
    cut = _save_pil(d / "face_cut_by_border.png", Image.fromarray(np.ascontiguousarray(face[:, 210:])))
    chin_cut = _save_pil(d / "chin_cut_by_border.png", Image.fromarray(np.ascontiguousarray(face[:170])))
    half = _save_pil(d / "half_face.png", Image.fromarray(np.ascontiguousarray(face[:, 235:])))
    huge_canvas = Image.new("RGB", (HUGE_SIDE, HUGE_SIDE), (200, 190, 180))
    huge_canvas.paste(Image.fromarray(face), (HUGE_SIDE // 2 - 256, HUGE_SIDE // 2 - 256))
    huge = _save_pil(d / "8000x8000.png", huge_canvas, compress_level=1)
    del huge_canvas
    bomb = _png_header_only(d / "bomb.png", BOMB_SIDE, BOMB_SIDE)
    one_px = _save_pil(d / "1x1.png", Image.new("RGB", (1, 1), (90, 60, 40)))
    jpeg = io.BytesIO()
    Image.fromarray(face).save(jpeg, format="JPEG", quality=90)
    truncated = d / "truncated.jpg"
    truncated.write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    empty = d / "empty.jpg"
    empty.write_bytes(b"")
    rgba = np.dstack([face, np.full(face.shape[:2], 255, np.uint8)])
    rgba[:40, :, 3] = 0  # a transparent band over the top
    alpha = _save_pil(d / "alpha.png", Image.fromarray(rgba, "RGBA"))
    gray = _save_pil(d / "gray.jpg", Image.fromarray(face).convert("L"), quality=92)
    cmyk = _save_pil(d / "cmyk.jpg", Image.fromarray(face).convert("CMYK"), quality=92)
    import cv2

    sixteen = d / "rgb16.png"
    cv2.imwrite(str(sixteen), cv2.cvtColor(face, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    frames = [Image.fromarray(np.roll(face, shift, axis=1)) for shift in (0, 4, 8)]
    gif = _save_pil(d / "animated.gif", frames[0], save_all=True, append_images=frames[1:], duration=100, loop=0)
    text = d / "notes.jpg"
    text.write_text("This is a shopping list, not a photo.\nmilk\neggs\n")
    rotated = _exif_rotated_jpeg(d / "exif_rotated.jpg", exif_upright())
    return [
        case("no-face", no_face, "NoFaceError", "a photo of a coffee cup"),
        case("several-faces", several, "ok", "the portrait twice side by side: the largest face is used (warns)"),
        case("tiny-face", tiny, "NoFaceError", "a 48 px portrait on a 512 px canvas (FaceTooSmallError or "
                                               "no detection)"),
        case("face-cut-by-border", cut, "ok", "the left edge cuts a third of the face off (crop padded)"),
        case("chin-cut-by-border", chin_cut, "ok", "the bottom edge cuts through the chin"),
        case("half-face", half, "NoFaceError", "the left edge cuts through the nose: not a usable face"),
        case("8000x8000", huge, "InputLimitError", "64 MP PNG (flat with the portrait pasted): over the "
                                                   "50 MP default, refused from the header"),
        case("decompression-bomb", bomb, "InputLimitError", "PNG header claiming 100000x100000 pixels"),
        case("1x1", one_px, "NoFaceError", "a single pixel"),
        case("truncated-jpeg", truncated, "InvalidImageError", "the first half of a JPEG", cli=True),
        case("zero-bytes", empty, "InvalidImageError", "an empty .jpg"),
        case("png-alpha", alpha, "ok", "RGBA with a transparent band (composited on white)"),
        case("grayscale", gray, "ok", "8-bit gray JPEG"),
        case("cmyk", cmyk, "ok", "CMYK JPEG"),
        case("16-bit", sixteen, "ok", "48-bit RGB PNG"),
        case("animated-gif", gif, "ok", "3-frame GIF: the first frame is the portrait"),
        case("text-as-jpg", text, "InvalidImageError", "a text file named .jpg"),
        case("exif-rotated", rotated, "ok", "pixels stored turned 90 degrees + EXIF orientation 6",
             cli=True),
        case("missing-file", d / "does_not_exist.png", "InvalidImageError", "a path that does not exist"),
        case("directory", d, "InvalidImageError", "a folder instead of a file"),
    ]


def _audio_cases(d: Path, portrait: Path) -> list[Case]:
    import soundfile as sf

    voice = speech()
    n = len(voice)

    def case(name, path, expect, note, duration_s=None, **kw):
        if expect == "ok":
            kw["duration_s"] = SPEECH_S if duration_s is None else duration_s
        return Case(f"audio/{name}", "audio", path, expect, portrait=portrait, audio=path, note=note, **kw)

    empty = d / "empty.wav"
    empty.write_bytes(b"")
    short = _wav(d / "10ms.wav", voice[:160], SAMPLE_RATE)
    hour = _sparse_wav(d / "1hour.wav", HOUR_S)
    over = _sparse_wav(d / "1hour_1s.wav", HOUR_S + 1)
    silence = _wav(d / "silence.wav", np.zeros(n, np.float32), SAMPLE_RATE)
    clipped = _wav(d / "clipped.wav", np.clip(voice * 50, -1, 1), SAMPLE_RATE)
    bad_float = voice.copy()
    bad_float[100], bad_float[200] = np.nan, np.inf
    nonfinite = _wav(d / "nan_inf.wav", bad_float, SAMPLE_RATE, subtype="FLOAT")
    khz8 = _wav(d / "8khz.wav", _resample(voice, 8_000), 8_000)
    khz96 = _wav(d / "96khz.wav", _resample(voice, 96_000), 96_000, subtype="PCM_24")
    stereo = _wav(d / "stereo.wav", np.stack([voice, 0.3 * voice], axis=1), SAMPLE_RATE)
    surround = _wav(d / "5_1.wav", np.stack([voice * g for g in (0.5, 0.5, 1.0, 0.1, 0.3, 0.3)], axis=1),
                    SAMPLE_RATE)
    at44 = _resample(voice, 44_100)
    mp3 = d / "speech.mp3"
    sf.write(mp3, at44, 44_100, format="MP3")
    ogg = d / "speech.ogg"
    sf.write(ogg, at44, 44_100, format="OGG", subtype="VORBIS")
    m4a = _encode_av(d / "speech.m4a", at44, 44_100, "aac", container_format="ipod")
    video = _encode_av(d / "clip.mp4", at44, 44_100, "aac", video_seconds=SPEECH_S)
    mute_video = _encode_av(d / "mute.mp4", None, 44_100, "aac", video_seconds=SPEECH_S)
    text = d / "notes.wav"
    text.write_text("RIFF? no: just text pretending to be a wave file\n" * 20)
    return [
        case("zero-bytes", empty, "InvalidAudioError", "an empty .wav"),
        case("10ms", short, "InvalidAudioError", "160 samples: shorter than the 20 ms minimum"),
        case("1-hour-lowered-limit", hour, "InputLimitError",
             f"1 h sparse WAV with max_audio_seconds={LOWERED_AUDIO_LIMIT_S:.0f}: refused from the header",
             limits={"max_audio_seconds": LOWERED_AUDIO_LIMIT_S}),
        case("1-hour-plus-1s", over, "InputLimitError", "3601 s sparse WAV: over the 3600 s default"),
        case("silence", silence, "ok", "0.6 s of digital silence (warns; the avatar idles)"),
        case("clipping", clipped, "ok", "speech x50, clipped at full scale"),
        case("nan-inf", nonfinite, "InvalidAudioError", "float WAV with a NaN and an inf sample", cli=True),
        case("8khz", khz8, "ok", "8 kHz mono 16-bit"),
        case("96khz", khz96, "ok", "96 kHz 24-bit"),
        case("stereo", stereo, "ok", "two different channels (averaged)"),
        case("5.1", surround, "ok", "six channels (averaged)"),
        case("mp3", mp3, "ok", "MP3 44.1 kHz (libsndfile)"),
        case("ogg", ogg, "ok", "Ogg Vorbis 44.1 kHz"),
        case("m4a", m4a, "ok", "AAC in .m4a (decoded with PyAV)"),
        case("video", video, "ok", "an mp4 with H.264 video and AAC audio: its audio is used"),
        case("video-without-audio", mute_video, "InvalidAudioError", "an mp4 with only a video track"),
        case("text-as-wav", text, "InvalidAudioError", "a text file named .wav"),
        case("missing-file", d / "nothing_here.wav", "InvalidAudioError", "a path that does not exist"),
    ]


def _control_cases(portrait: Path, audio: Path) -> list[Case]:
    def case(name, expect, note, controls, cli_args, cli_expect=None, **kw):
        if expect == "ok":
            kw["duration_s"] = SHORT_SPEECH_S
        return Case(f"controls/{name}", "controls", None, expect, portrait=portrait, audio=audio, note=note,
                    controls=controls, cli_args=cli_args, cli_expect=cli_expect, **kw)

    bad = "InvalidControlError"
    return [
        case("extremes-ok", "ok", "every control at a range end", dict(
            pose_scale=2.0, pose_offset=(30, -30, 30), expression="surprised", expression_intensity=1.0,
            mouth_scale=0.0, gaze=(-1, 1), blink_rate=60.0, seed=2**63 - 1, steps=1, guidance=10.0),
            ("--pose-scale", "2", "--pose-offset", "30", "-30", "30", "--expression", "surprised",
             "--expression-intensity", "1", "--mouth-scale", "0", "--gaze", "-1", "1", "--blink-rate", "60",
             "--seed", str(2**63 - 1), "--steps", "1", "--guidance", "10")),
        case("pose-scale-out-of-range", bad, "pose_scale=5", {"pose_scale": 5.0}, ("--pose-scale", "5")),
        case("mouth-scale-nan", bad, "mouth_scale=NaN", {"mouth_scale": float("nan")}, ("--mouth-scale", "nan")),
        case("pose-offset-90", bad, "yaw offset 90 degrees", {"pose_offset": (90, 0, 0)},
             ("--pose-offset", "90", "0", "0")),
        case("blink-rate-negative", bad, "blink_rate=-1", {"blink_rate": -1.0}, ("--blink-rate", "-1")),
        case("steps-zero", bad, "steps=0", {"steps": 0}, ("--steps", "0")),
        case("guidance-huge", bad, "guidance=1e9", {"guidance": 1e9}, ("--guidance", "1e9")),
        case("seed-negative", bad, "seed=-1", {"seed": -1}, ("--seed", "-1")),
        case("fps-24", bad, "fps=24 (25 or 30 only)", {"fps": 24}, ("--fps", "24"), cli_expect="usage"),
        case("pose-scale-string", bad, "pose_scale='big'", {"pose_scale": "big"}, ("--pose-scale", "big"),
             cli_expect="usage", cli=True),
        case("seed-float", bad, "seed=1.5", {"seed": 1.5}, ("--seed", "1.5"), cli_expect="usage"),
        case("still-string", bad, "still='yes'", {"still": "yes"}, None),
        case("gaze-one-value", bad, "gaze=(0.5,)", {"gaze": (0.5,)}, ("--gaze", "0.5"), cli_expect="usage"),
        case("gaze-not-a-sequence", bad, "gaze=0.5", {"gaze": 0.5}, None),
        case("expression-unknown", bad, "expression='ecstatic'", {"expression": "ecstatic"},
             ("--expression", "ecstatic"), cli_expect="usage"),
        case("output-size-unknown", bad, "output_size='huge'", {"output_size": "huge"},
             ("--output-size", "huge"), cli_expect="usage"),
        case("unknown-name", bad, "smile=1 (no such control)", {"smile": 1}, ("--smile", "1"),
             cli_expect="usage"),
    ]


def _output_cases(portrait: Path, audio: Path) -> list[Case]:
    def case(name, expect, note, output, controls=None, cli_args=()):
        return Case(f"output/{name}", "output", None, expect, portrait=portrait, audio=audio, note=note,
                    output=output, controls=controls or {}, cli_args=cli_args)

    return [
        case("missing-folder", "VideoWriteError", "output in a folder that does not exist",
             "no_such_dir/out.mp4"),
        case("is-a-directory", "VideoWriteError", "output path is an existing folder", "."),
        case("motion-out-bad-suffix", "InvalidControlError", "--motion-out m.txt (npz/csv/json only)",
             "out.mp4", {"motion_out": "m.txt"}, ("--motion-out", "m.txt")),
    ]


# -- running a case ----------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What one case produced through one entry point."""

    case: Case
    entry: str  # "api" | "cli"
    status: str  # "ok"; API: the exception type name; CLI: "error" or "usage" (argparse); "crash: ..." (a bug)
    message: str
    duration_s: float | None = None  # of the mp4 written (ok only)
    leftovers: tuple[str, ...] = ()  # files left in the run folder after a failure (must be none)
    seconds: float = 0.0
    error: BaseException | None = field(default=None, repr=False)

    @property
    def handled(self) -> bool:
        """The documented outcome: the expected error (one clear line) or a whole mp4 of the right length,
        and nothing half-written left behind."""
        expect = self.case.expect_cli if self.entry == "cli" else self.case.expect
        if self.leftovers:
            return False
        if expect == "ok":
            return self.status == "ok" and self.duration_s is not None and \
                abs(self.duration_s - self.case.duration_s) <= DURATION_TOLERANCE_S
        if self.entry == "cli":  # the type is not printed: an argparse refusal, or one TalkingHeadError line
            return self.status == ("usage" if expect == "usage" else "error") and bool(self.message)
        expected = self.case.error_type()
        return isinstance(self.error, expected) and bool(self.message) and "\n" not in self.message


def mp4_duration_s(path: Path) -> float:
    """Video length of an mp4: frames / frame rate (and the audio track must be as long, +-1 AAC frame)."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video))
        seconds = frames / float(video.average_rate)
    with av.open(str(path)) as container:
        audio = sum(frame.samples for frame in container.decode(audio=0)) / container.streams.audio[0].rate
    if abs(audio - seconds) > 0.1:
        raise AssertionError(f"{path}: audio {audio:.3f} s vs video {seconds:.3f} s")
    return seconds


def _run_dir(workdir: Path, case: Case, entry: str) -> Path:
    run_dir = Path(workdir) / entry / case.name.replace("/", "__")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _leftovers(run_dir: Path, keep: tuple[Path, ...]) -> tuple[str, ...]:
    keep = {p.resolve() for p in keep}
    return tuple(sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.resolve() not in keep))


def run_api(th, case: Case, workdir: Path) -> Outcome:
    """``th.generate`` + ``th.save`` (what ``talkinghead.generate`` does) on one case."""
    import time
    from dataclasses import replace

    from talkinghead.errors import TalkingHeadError

    run_dir = _run_dir(workdir, case, "api")
    output = run_dir / case.output
    controls = dict(case.controls)
    motion_out = controls.pop("motion_out", None)
    saved = th.config.limits
    th.config.limits = replace(saved, **case.limits)
    start = time.perf_counter()
    try:
        result = th.generate(str(case.portrait), str(case.audio), **controls)
        th.save(result, output, motion_out=None if motion_out is None else run_dir / motion_out)
    except TalkingHeadError as e:
        return Outcome(case, "api", type(e).__name__, str(e), leftovers=_leftovers(run_dir, ()),
                       seconds=time.perf_counter() - start, error=e)
    finally:
        th.config.limits = saved
    return Outcome(case, "api", "ok", "", duration_s=mp4_duration_s(output),
                   leftovers=_leftovers(run_dir, (output,)), seconds=time.perf_counter() - start)


LIMIT_ENV = {"max_audio_seconds": "TALKINGHEAD_MAX_AUDIO_SECONDS", "max_image_pixels": "TALKINGHEAD_MAX_IMAGE_PIXELS",
             "max_upload_bytes": "TALKINGHEAD_MAX_UPLOAD_BYTES"}


def run_cli(case: Case, workdir: Path, model: str | None = None, timeout: float = 300) -> Outcome:
    """``talkinghead generate`` in a subprocess: exit 0 and a whole mp4, or exit 2 and one error line."""
    import os
    import subprocess
    import sys
    import time

    run_dir = _run_dir(workdir, case, "cli")
    output = run_dir / case.output
    args = [sys.executable, "-m", "talkinghead", "generate", "--portrait", str(case.portrait),
            "--audio", str(case.audio), "-o", str(output), *case.cli_args]
    if model:
        args += ["--model", model]
    env = {**os.environ, **{LIMIT_ENV[k]: str(v) for k, v in case.limits.items()}}
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=run_dir, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode == 0:
        return Outcome(case, "cli", "ok", "", duration_s=mp4_duration_s(output),
                       leftovers=_leftovers(run_dir, (output,)), seconds=seconds)
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    if proc.returncode != 2 or "Traceback" in proc.stderr or len(errors) != 1:
        return Outcome(case, "cli", f"crash: exit {proc.returncode}", proc.stderr[-2000:], seconds=seconds)
    line = errors[0]
    status = "usage" if _is_usage(line) else "error"
    return Outcome(case, "cli", status, line, leftovers=_leftovers(run_dir, ()), seconds=seconds)


def _is_usage(line: str) -> bool:
    """argparse's own refusals (unknown flag, invalid choice, wrong type, wrong count)."""
    return any(s in line for s in ("unrecognized arguments", "invalid choice", "invalid int value",
                                   "invalid float value", "expected 2 arguments", "expected 3 arguments",
                                   "expected one argument", "the following arguments are required"))
