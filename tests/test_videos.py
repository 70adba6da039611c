"""Real-video ingestion: tracking statuses, splits, the closed loop (render known motion -> mp4 ->
from-videos -> the same motion), skipped frames/clips/videos, and the fixture videos."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from talkinghead.audio.features import whisper_features
from talkinghead.audio.whisper_models import load_whisper_encoder
from talkinghead.data.shards import load_clips, read_manifest
from talkinghead.data.videos import (REPORT, VideoIngestConfig, find_videos, ingest_videos, runs, split_key,
                                     split_of, video_audio)
from talkinghead.eval.metrics import audio_envelope, lagged_pearson, pearson
from talkinghead.eval.synthetic import rig_mouth_opening
from talkinghead.face.track import MULTIPLE_FACES, NO_FACE, OK, TOO_SMALL, FaceTracker
from talkinghead.motion.channels import CHANNEL_INDEX
from talkinghead.timing import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from talkinghead.video.writer import VideoWriter, write_video

from conftest import fixture_path

CLOSED_LOOP_SECONDS = 4.0
# x264 quality of the rendered clip: near-lossless, because the loop tests our pipeline, not the codec.
# At the writer's default crf 20, x264 softens the astronaut's lip corners enough to cost the smile
# ~0.05 of r (measured: raw frames 0.944, crf 0 0.951, crf 12 0.936, crf 20 0.900).
CLOSED_LOOP_CRF = 0
CHECKED = {  # name in the issue -> motion channels averaged for it
    "jawOpen": ("jawOpen",),
    "smile": ("mouthSmileLeft", "mouthSmileRight"),
    "blink": ("eyeBlinkLeft", "eyeBlinkRight"),
    "yaw": ("yaw",),
}


# ======================================================================= shared helpers
def hump(t: np.ndarray, start: float, end: float) -> np.ndarray:
    """A raised-cosine bump of height 1 over [start, end] seconds, 0 elsewhere."""
    x = np.clip((t - start) / (end - start), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(2 * np.pi * x)


def known_motion(avatar, seconds: float) -> np.ndarray:
    """(T, 37) motion over the portrait's rest motion: jaw opens twice, then a smile, two blinks and
    a head shake, one after the other (each second of a 4 s clip holds one; a shorter clip keeps the
    first ones). Amplitudes stay where MediaPipe reads warp renders of the astronaut well: her own
    broad smile saturates the smile channel above ~0.4 of extra smile, and above jawOpen 0.3 the
    mesh places her mouth corners ~0.07 IOD wider (read as smile)."""
    t = np.arange(round(seconds * FPS)) / FPS
    m = np.repeat(avatar.rest_motion.values, len(t), axis=0).astype(np.float64)
    m[:, CHANNEL_INDEX["jawOpen"]] = 0.35 * (hump(t, 0.0, 0.5) + hump(t, 0.5, 1.0))
    for side in ("Left", "Right"):
        m[:, CHANNEL_INDEX[f"mouthSmile{side}"]] = 0.8 * hump(t, 1.0, 2.0)
        m[:, CHANNEL_INDEX[f"eyeBlink{side}"]] = hump(t, 2.1, 2.4) + hump(t, 2.6, 2.9)
    m[:, CHANNEL_INDEX["yaw"]] = 8.0 * np.sin(2 * np.pi * (t - 3.0)) * (t >= 3.0)
    return m


def speech_like_audio(loudness: np.ndarray, seed: int = 0) -> np.ndarray:
    """16 kHz noise + a 180 Hz buzz whose per-frame loudness follows ``loudness`` (T,) (0..1)."""
    n = len(loudness) * SAMPLES_PER_FRAME
    rng = np.random.default_rng(seed)
    gain = np.interp(np.arange(n) / SAMPLES_PER_FRAME - 0.5, np.arange(len(loudness)), loudness)
    carrier = 0.6 * np.sin(2 * np.pi * 180 * np.arange(n) / SAMPLE_RATE) + 0.4 * rng.standard_normal(n)
    return (0.02 + 0.3 * gain) * carrier.astype(np.float32)


def render_known_video(path, seconds: float = CLOSED_LOOP_SECONDS):
    """Render :func:`known_motion` on the astronaut with the warp renderer to an mp4 with audio whose
    loudness follows the jaw; returns (motion (T, 37), frames (T, H, W, 3), audio (n,))."""
    import skimage.data

    from talkinghead.render import WarpRenderer

    renderer = WarpRenderer()
    avatar = renderer.register(skimage.data.astronaut())
    motion = known_motion(avatar, seconds)
    frames = renderer.render(avatar, motion)
    audio = speech_like_audio(motion[:, CHANNEL_INDEX["jawOpen"]] / 0.35)
    with VideoWriter(path, FPS, audio=audio, crf=CLOSED_LOOP_CRF) as writer:
        for frame in frames:
            writer.write(frame)
    return motion, frames, audio


def write_vfr_video(path, frames, audio: np.ndarray | None, drop_every: int = 3, jitter_ms: int = 7) -> None:
    """Write 25 fps ``frames`` as a variable-frame-rate mkv (every ``drop_every``-th frame dropped,
    timestamps jittered; any size, odd ones included) with optional 16 kHz PCM audio."""
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=1000)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
        stream.time_base = Fraction(1, 1000)
        sound = None
        if audio is not None:
            sound = container.add_stream("pcm_s16le", rate=SAMPLE_RATE)
            sound.layout = "mono"
        for i, frame in enumerate(frames):
            if i % drop_every == drop_every - 1:
                continue
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf.pts, vf.time_base = i * 40 + (jitter_ms if i % 2 else 0), Fraction(1, 1000)
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if sound is not None:
            af = av.AudioFrame.from_ndarray((np.clip(audio, -1, 1) * 32767).astype(np.int16)[None], format="s16",
                                            layout="mono")
            af.sample_rate, af.pts, af.time_base = SAMPLE_RATE, 0, Fraction(1, SAMPLE_RATE)
            for packet in list(sound.encode(af)) + list(sound.encode(None)):
                container.mux(packet)


def channel(motion: np.ndarray, names) -> np.ndarray:
    return motion[:, [CHANNEL_INDEX[n] for n in names]].mean(axis=1)


# ======================================================================= small pieces
def test_runs_split_keys_and_hash_split():
    assert runs(np.array([1, 1, 0, 1, 0, 0, 1], bool)) == [(0, 2), (3, 4), (6, 7)]
    assert runs(np.zeros(3, bool)) == [] and runs(np.ones(2, bool)) == [(0, 2)]
    root = Path("/data")
    assert split_key(root / "alice" / "a.mp4", root) == "alice"
    assert split_key(root / "b.mp4", root) == "b.mp4"
    keys = [f"speaker{i}" for i in range(2000)]
    held = [split_of(k, 0.1) == "heldout" for k in keys]
    assert 0.07 < np.mean(held) < 0.13
    assert held == [split_of(k, 0.1) == "heldout" for k in keys]  # deterministic
    assert not any(split_of(k, 0.0) == "heldout" for k in keys)
    with pytest.raises(Exception):
        VideoIngestConfig(heldout=1.0)


def test_tracker_statuses(astronaut):
    tracker = FaceTracker()
    first = tracker.update(astronaut)
    assert first.status == OK and first.landmarks.shape == (478, 3) and first.num_faces == 1
    single = FaceTracker(mirror_average=False).update(astronaut)
    # the mirror average stays within a few pixels of the single pass
    assert np.abs(first.landmarks[:, :2] - single.landmarks[:, :2]).mean() < 3.0
    assert tracker.update(np.zeros_like(astronaut)).status == NO_FACE
    assert FaceTracker(min_face_px=10_000).update(astronaut).status == TOO_SMALL
    crop = astronaut[0:260, 90:350]  # the face with some margin
    pair = np.concatenate([crop, crop], axis=1)
    assert FaceTracker().update(pair).status == MULTIPLE_FACES


# ======================================================================= closed loop
@dataclass
class ClosedLoop:
    truth: np.ndarray  # (T, 37) rendered motion
    audio: np.ndarray  # (n,) the audio written with it
    video: Path  # the rendered mp4
    out: Path  # its ingested data folder


@pytest.fixture(scope="module")
def closed_loop(tmp_path_factory) -> ClosedLoop:
    videos = tmp_path_factory.mktemp("videos")
    truth, _, audio = render_known_video(videos / "known.mp4")
    out = tmp_path_factory.mktemp("data")
    ingest_videos(videos, out, VideoIngestConfig(heldout=0.0), progress=False)
    return ClosedLoop(truth, audio, videos / "known.mp4", out)


def decoded_frames(loop: ClosedLoop) -> np.ndarray:
    from talkinghead.video.reader import iter_frames

    return np.stack(list(iter_frames(loop.video)))


@pytest.mark.slow
def test_closed_loop_recovers_the_rendered_motion(closed_loop):
    truth = closed_loop.truth
    clips = load_clips(closed_loop.out, "train")
    assert len(clips) == 1
    clip = clips[0]
    assert (clip.meta["start_frame"], clip.meta["end_frame"]) == (0, len(truth))
    for name, names in CHECKED.items():
        r = pearson(channel(clip.motion, names), channel(truth, names))
        assert r >= 0.9, f"{name}: r = {r:.3f}"


@pytest.mark.slow
def test_closed_loop_features_audio_and_report_align(closed_loop):
    truth, out = closed_loop.truth, closed_loop.out
    clip = load_clips(out, "train")[0]
    info = read_manifest(out)
    assert info["source"] == "videos" and info["features"]["encoder"] == "tiny.en"
    assert clip.features.shape == (len(truth), info["features"]["dim"])
    # the stored features are the one windowing function's features of the (AAC-coded) audio track
    encoder = load_whisper_encoder("tiny.en")
    reference = whisper_features(closed_loop.audio, encoder).numpy()[: len(truth)]
    similarity = np.sum(reference * clip.features, axis=1) / (
        np.linalg.norm(reference, axis=1) * np.linalg.norm(clip.features.astype(np.float32), axis=1))
    assert similarity.mean() > 0.9
    report = json.loads((out / REPORT).read_text())
    video = report["videos"][0]
    assert video["frame_status"][OK] == len(truth) and video["skipped_clips"] == []
    assert report["totals"]["frames_per_second"] > 0


@pytest.mark.slow
def test_audio_is_placed_on_the_video_timeline(closed_loop):
    truth = closed_loop.truth
    # the audio's loudness follows the rendered jaw: it must come back at lag 0
    decoded, offset = video_audio(closed_loop.video)
    assert offset == pytest.approx(0.0, abs=1e-3)
    envelope = audio_envelope(decoded)[: len(truth)]
    r, lag = lagged_pearson(envelope, truth[:, CHANNEL_INDEX["jawOpen"]], max_lag=4)
    assert lag == 0 and r > 0.9


# ======================================================================= skips and splits
@pytest.mark.slow
def test_lost_faces_split_clips_and_bad_videos_are_reported(tmp_path, closed_loop):
    audio = closed_loop.audio
    frames = decoded_frames(closed_loop)
    blank = np.zeros_like(frames[:1])
    # 40 good frames, 10 without a face, 5 good (too short for a clip), 5 without, 30 good
    edited = np.concatenate([frames[:40], np.repeat(blank, 10, 0), frames[50:55], np.repeat(blank, 5, 0),
                             frames[60:90]])
    videos = tmp_path / "videos"
    (videos / "speaker_a").mkdir(parents=True)
    write_video(videos / "speaker_a" / "gaps.mp4", edited, FPS, audio=audio[: len(edited) * SAMPLES_PER_FRAME])
    write_video(videos / "silent_film.mp4", frames[:30], FPS)  # no audio track
    (videos / "notes.txt").write_text("not a video")
    (videos / "broken.mkv").write_bytes(b"\x00" * 100)
    assert [p.name for p in find_videos(videos)] == ["broken.mkv", "silent_film.mp4", "gaps.mp4"]
    out = tmp_path / "data"
    ingest_videos(videos, out, VideoIngestConfig(heldout=0.0, min_clip_frames=10), progress=False)
    report = {v["video"]: v for v in json.loads((out / REPORT).read_text())["videos"]}
    gaps = report["speaker_a/gaps.mp4"]
    assert [(c["start"], c["end"]) for c in gaps["clips"]] == [(0, 40), (60, 90)]
    assert gaps["skipped_clips"] == [{"start": 50, "end": 55, "reason": "shorter than 10 frames"}]
    assert gaps["unusable_runs"] == [{"start": 40, "end": 50, "reason": NO_FACE},
                                     {"start": 55, "end": 60, "reason": NO_FACE}]
    assert gaps["split_key"] == "speaker_a"
    assert "no audio" in report["silent_film.mp4"]["skipped"]
    assert "broken.mkv" in report and report["broken.mkv"]["skipped"]
    clips = load_clips(out, "train")
    assert [c.motion.shape[0] for c in clips] == [40, 30]
    assert all(c.features.shape[0] == c.motion.shape[0] for c in clips)


@pytest.mark.slow
def test_variable_frame_rate_odd_sized_video_ingests(tmp_path, closed_loop):
    truth, audio = closed_loop.truth, closed_loop.audio
    frames = decoded_frames(closed_loop)[:50, 3:504, 8:495]  # 501 x 487
    videos = tmp_path / "videos"
    videos.mkdir()
    write_vfr_video(videos / "vfr.mkv", frames, audio[: 50 * SAMPLES_PER_FRAME])
    out = tmp_path / "data"
    ingest_videos(videos, out, VideoIngestConfig(heldout=0.0), progress=False)
    video = json.loads((out / REPORT).read_text())["videos"][0]
    assert (video["width"], video["height"]) == (487, 501)
    assert video["frames"] == 50 and video["frames_used"] == 50
    clip = load_clips(out, "train")[0]
    # dropped frames are held, so the jaw still follows the truth closely
    assert pearson(clip.motion[:, CHANNEL_INDEX["jawOpen"]], truth[:50, CHANNEL_INDEX["jawOpen"]]) > 0.8


# ======================================================================= fixtures
@pytest.mark.slow
@pytest.mark.fixtures
def test_fixture_videos_ingest_and_mouth_follows_the_audio(tmp_path):
    videos = fixture_path("videos")
    out = tmp_path / "data"
    ingest_videos(videos, out, VideoIngestConfig(heldout=0.0), progress=False)
    report = json.loads((out / REPORT).read_text())
    assert report["totals"]["videos_used"] == 2
    clips = load_clips(out, "train")
    assert {c.meta["video"] for c in clips} == {"man_suit_interview_vfr.mp4", "woman_glasses_talking.mp4"}
    for clip in clips:
        audio, _ = video_audio(videos / clip.meta["video"])
        envelope = audio_envelope(audio)[clip.meta["start_frame"]:clip.meta["end_frame"]]
        opening = rig_mouth_opening(clip.motion)
        r0 = pearson(opening, envelope)
        best, _ = lagged_pearson(opening, envelope)
        assert r0 > 0 and best > 0.1, f"{clip.meta['video']}: r {r0:.2f}, best {best:.2f}"
        assert clip.meta["fit_residual_iod"] < 0.05


# ======================================================================= CLI
@pytest.mark.slow
def test_data_from_videos_cli(closed_loop, tmp_path, capsys):
    from talkinghead.cli.main import main

    assert main(["data"]) == 2  # no action: help
    out = tmp_path / "data"
    status = main(["data", "from-videos", str(closed_loop.video.parent), "--out", str(out), "--heldout", "0",
                   "--min-clip-seconds", "0.5"])
    assert status == 0
    printed = capsys.readouterr().out
    assert f"1 clips, {len(closed_loop.truth)}/{len(closed_loop.truth)} frames used from 1/1 videos" in printed
    assert read_manifest(out)["shards"][0]["split"] == "train"
    settings = json.loads((out / REPORT).read_text())["config"]
    assert settings["min_clip_frames"] == 12 and settings["heldout"] == 0.0 and settings["encoder"] == "tiny.en"
