"""Live streaming: push audio chunks, get frames in lock-step with them.

    th = TalkingHead()
    with StreamSession(th, "portrait.jpg", seed=0, pose_scale=0.7) as session:
        session.push(chunk, sr=48_000)          # any size, any rate, as the audio arrives
        ...
        session.end_of_speech()                 # the speaker paused: emit what is pending now
        for frame in session:                   # StreamFrame: image, audio, pts, index, ...
            show(frame.image); play(frame.audio)

The stages are the offline pipeline's, scheduled in short windows (one pipeline, two schedulers):
:meth:`TalkingHead.feature_stream <talkinghead.pipeline.TalkingHead.feature_stream>` (the same
Whisper windows as the offline features), :meth:`TalkingHead.motion_windower
<talkinghead.pipeline.TalkingHead.motion_windower>` fed ``window`` frames at a time (each window
conditioned on the clean tail of the previous one), the idle gate
(:mod:`talkinghead.stream.idle`), the controls with ``start_frame`` (so blinks match the offline
ones) and the pipeline's renderer. Two worker threads overlap the work: one computes features and
motion, the other renders, so ``push()`` only converts the chunk and queues it.

Lock-step: frame ``i`` covers audio ``[40 i, 40 (i + 1))`` ms of the stream and carries exactly
those 640 samples (16 kHz) in ``frame.audio``; its presentation time is ``pts = i / 25`` s. The
stream's audio is what was pushed, resampled to 16 kHz, plus any silence the session inserted
(:meth:`StreamSession.pad_silence` on underruns, :meth:`StreamSession.end_of_speech`).

Offline equality: with the offline sampler window equal to ``window`` (and the same prefix, seed,
steps and controls), :meth:`finish` makes the stream's frames those of
:meth:`TalkingHead.generate <talkinghead.pipeline.TalkingHead.generate>` on the same audio, up to
the float rounding of the encoder's batch shapes (about 1e-6 on features). With another window the
motion differs only through the window schedule: where each window starts, what prefix it sees and
how the seeded noise is cut (see ``tests/test_stream.py`` for the measured bound).

Latency: frame ``i`` of a window can be computed once the audio up to the window's last frame plus
the feature look-ahead has arrived: ``audio_needed(window)`` = ``40 (window + 2) + 12.5`` ms for
the first frame of a window (172.5 ms at the default 2 frames, 412.5 ms at 8), plus compute. The
shipped motion model is trained on windows of 2-64 frames, each after a clean prefix of up to 10
frames, so 2-frame windows stay inside its training distribution. A denoising window costs about
the same for 2 or 8 frames (the prefix dominates), so short windows trade throughput for latency:
measured in ``benchmarks/bench_stream.py``.

Memory stays bounded: audio waits in a queue of at most ``max_pending_s`` seconds (``push`` blocks
beyond, which only a producer far ahead of real time meets), at most two windows wait for the
renderer and at most ``max_ready_frames`` rendered frames wait for the consumer, so a session runs
for hours in constant memory. ``max_audio_seconds`` caps a session's total audio: unlimited by
default for library use; ``talkinghead serve`` sets it to its input limit per peer, so a client
cannot hold a session forever.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..audio.features import LOOKAHEAD_TAIL_SAMPLES, WindowConfig
from ..errors import InputLimitError, InvalidControlError, TalkingHeadError
from ..motion.controls import Controls, apply_controls
from ..timing import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from .audio_input import AudioInput
from .channel import END, Channel, ChannelClosed
from .idle import IdleMouthGate
from .timeline import AudioTimeline

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 2  # frames per motion window: 80 ms, the Whisper block (the model trains on 2-64)
RENDER_BATCH = 4  # frames per renderer call: cheaper per frame than 1 (measured: 15 vs 27 ms with paste-back)
MAX_PENDING_SECONDS = 30.0  # audio queued ahead of the workers before push() waits
MAX_READY_FRAMES = 25  # rendered frames (1 s) waiting for the consumer before the renderer waits
LATENCY_HISTORY = 2000  # frames whose latency stats() summarises (the most recent ones)
JOIN_TIMEOUT_S = 10.0
STAGES = ("input", "features", "motion", "controls", "render")
OUTPUT_SIZES = ("full", "crop")


@dataclass(frozen=True)
class StreamFrame:
    """One output frame and the audio it goes with.

    image: (H, W, 3) uint8 RGB (the full photo, or the head crop with ``output_size="crop"``).
    audio: (640,) float32 16 kHz samples ``[640 index, 640 (index + 1))`` of the stream.
    motion: (37,) the frame's motion after idle gate and controls.
    inserted: the frame's audio is silence the session inserted (idle), not pushed audio.
    audio_time / ready_time: ``time.monotonic()`` when the frame's audio was complete / when the
        frame was rendered; their difference is the frame's latency.
    """

    index: int
    image: np.ndarray
    audio: np.ndarray
    motion: np.ndarray
    inserted: bool
    audio_time: float
    ready_time: float
    fps: int = FPS

    @property
    def pts(self) -> float:
        """Presentation time in seconds from the stream start: ``index / fps``."""
        return self.index / self.fps

    @property
    def latency_s(self) -> float:
        return self.ready_time - self.audio_time


@dataclass
class _Window:
    start: int  # index of the first frame
    values: np.ndarray  # (T, 37) motion after gate and controls
    audio: np.ndarray  # (T, 640)
    inserted: np.ndarray  # (T,) bool
    audio_times: np.ndarray  # (T,)


def audio_needed(frames: int, config: WindowConfig) -> int:
    """16 kHz samples that must have arrived before the features of frames ``[0, frames)`` exist:
    whole feature blocks plus the look-ahead (see :mod:`talkinghead.audio.features`)."""
    if frames <= 0:
        return 0
    blocks = -(-frames // config.block_frames)
    return (blocks * config.block_frames + config.lookahead_frames) * SAMPLES_PER_FRAME + LOOKAHEAD_TAIL_SAMPLES


class StreamSession:
    """One avatar, one live stream (see the module docstring).

    Args:
        pipeline: a :class:`~talkinghead.pipeline.TalkingHead` (models shared between sessions).
        avatar: an :class:`~talkinghead.render.base.Avatar` or anything ``pipeline.register`` takes.
        seed: noise and blink seed (the offline ``generate(seed=...)``).
        window: motion frames per window (latency vs context; see the module docstring).
        prefix, steps, guidance: sampler overrides (default: the pipeline's sampler config).
        output_size: "full" (photo with the face pasted back) or "crop" (the head crop).
        idle_mouth: close the mouth on inserted silence (:mod:`talkinghead.stream.idle`).
        max_pending_s, max_ready_frames: queue bounds (memory; see the module docstring).
        max_audio_seconds: total stream audio (pushed + inserted silence) after which ``push`` raises
            :class:`~talkinghead.errors.InputLimitError` and no more silence is inserted (default: no
            limit; servers pass their ``Limits.max_audio_seconds``).
        **controls: :class:`~talkinghead.motion.controls.Controls` (pose_scale, expression, ...).
    """

    def __init__(self, pipeline, avatar, seed: int = 0, *, window: int = DEFAULT_WINDOW, prefix: int | None = None,
                 steps: int | None = None, guidance: float | None = None, output_size: str = "full",
                 idle_mouth: bool = True, max_pending_s: float = MAX_PENDING_SECONDS,
                 max_ready_frames: int = MAX_READY_FRAMES, max_audio_seconds: float = math.inf, **controls):
        _check_int("seed", seed, 0, 2**63 - 1)
        _check_int("window", window, 1, 1000)
        _check_int("max_ready_frames", max_ready_frames, 1, 100_000)
        if output_size not in OUTPUT_SIZES:
            raise InvalidControlError(f"output_size must be one of {OUTPUT_SIZES}, got {output_size!r}")
        if not max_pending_s > 0:
            raise InvalidControlError(f"max_pending_s must be positive, got {max_pending_s!r}")
        if isinstance(max_audio_seconds, bool) or not isinstance(max_audio_seconds, (int, float)) \
                or not max_audio_seconds > 0:
            raise InvalidControlError(f"max_audio_seconds must be a positive number, got {max_audio_seconds!r}")
        self.max_audio_seconds = float(max_audio_seconds)
        self.controls = Controls.from_kwargs(**controls)
        self.pipeline, self.seed, self.window = pipeline, int(seed), int(window)
        self.fps = FPS
        self.avatar = pipeline.register(avatar)
        self._paste = output_size == "full"
        self._windower = pipeline.motion_windower(seed, steps, guidance, window, prefix)
        self._features = pipeline.feature_stream()
        self._gate = IdleMouthGate() if idle_mouth else None
        self._input = AudioInput()
        self._timeline = AudioTimeline()
        self._inbox = Channel(max_pending_s * SAMPLE_RATE, weigh=_inbox_weight)
        self._to_render = Channel(2)
        self._out = Channel(max_ready_frames)
        self._push_lock = threading.Lock()  # orders pushes and inserted silence on the timeline
        self._horizon = 0  # 16 kHz samples pushed or inserted so far (incl. still queued)
        self._inserted_samples = 0
        self._state = "open"  # "open" -> "finishing" (finish() called) -> "closed"
        self._feats: list[torch.Tensor] = []
        self._feat_count = 0
        self._next_frame = 0
        self.frames_out = 0
        self.timings = {stage: 0.0 for stage in STAGES}
        self._latencies: deque[float] = deque(maxlen=LATENCY_HISTORY)
        self._first_push: float | None = None
        self._first_frame: float | None = None
        self._threads = [threading.Thread(target=self._compute_loop, name="talkinghead-stream-compute", daemon=True),
                         threading.Thread(target=self._render_loop, name="talkinghead-stream-render", daemon=True)]
        for thread in self._threads:
            thread.start()

    # -- input -------------------------------------------------------------------------------
    @property
    def window_latency_s(self) -> float:
        """Audio a window's first frame waits for: ``audio_needed(window)`` in seconds."""
        return audio_needed(self.window, self.pipeline.window) / SAMPLE_RATE

    @property
    def audio_horizon_s(self) -> float:
        """Seconds of stream audio pushed or inserted so far."""
        return self._horizon / SAMPLE_RATE

    def push(self, samples, sr: int = SAMPLE_RATE, block: bool = True, timeout: float | None = None) -> None:
        """Queue an audio chunk: ``(n,)`` or ``(n, channels)``, float or integer PCM, at ``sr`` Hz.

        Returns at once unless ``max_pending_s`` of audio already waits for the workers (a producer
        far ahead of real time): then it waits for room (``block``), or raises
        :class:`~talkinghead.errors.InputLimitError` when ``block=False`` or ``timeout`` passes.
        """
        self._check_open()
        arrival = time.monotonic()
        with self._push_lock:
            start = time.perf_counter()
            audio = self._input.convert(samples, sr)
            self.timings["input"] += time.perf_counter() - start
            if (self._horizon + len(audio)) / SAMPLE_RATE > self.max_audio_seconds:
                raise InputLimitError(f"the stream reached its limit of {self.max_audio_seconds:g} s of audio "
                                      "(max_audio_seconds, TALKINGHEAD_MAX_AUDIO_SECONDS); finish() it and start "
                                      "a new session")
            if self._first_push is None:
                self._first_push = arrival
            self._enqueue(audio, False, arrival, block, timeout)

    def pad_silence(self, until_s: float) -> int:
        """Insert silence so the stream's audio reaches ``until_s`` seconds (underrun filling).

        Returns the 16 kHz samples inserted (0 when the audio already reaches that far, a push is in
        progress or the queue is full: none of these is an underrun). Never blocks.
        """
        if self._state != "open" or not self._push_lock.acquire(blocking=False):
            return 0
        try:
            target = int(min(until_s, self.max_audio_seconds) * SAMPLE_RATE)
            if target <= self._horizon:
                return 0
            now = time.monotonic()
            tail = self._input.flush()  # the resampler's last real samples come before the gap
            if len(tail) and not self._enqueue(tail, False, now, block=False, timeout=None, strict=False):
                return 0
            missing = target - self._horizon
            if missing <= 0 or not self._enqueue(np.zeros(missing, np.float32), True, now, block=False,
                                                 timeout=None, strict=False):
                return 0
            return missing
        finally:
            self._push_lock.release()

    def end_of_speech(self) -> None:
        """The speaker paused or finished: insert just enough silence that every pushed frame is
        computed now (complete window + feature look-ahead); the stream stays open."""
        self._check_open()
        with self._push_lock:
            now = time.monotonic()
            self._enqueue(self._input.flush(), False, now, True, None)
            frames = -(-self._horizon // SAMPLES_PER_FRAME)
            frames = -(-frames // self.window) * self.window
            missing = audio_needed(frames, self.pipeline.window) - self._horizon
            if missing > 0:
                self._enqueue(np.zeros(missing, np.float32), True, now, True, None)

    def finish(self) -> None:
        """End of the stream: the tail is zero-padded like the offline path, the last window may be
        short, and iteration stops after the last frame."""
        self._check_open()
        with self._push_lock:
            self._enqueue(self._input.flush(), False, time.monotonic(), True, None)
            self._state = "finishing"
            self._inbox.put(("finish",))

    flush = end_of_speech

    def _enqueue(self, audio: np.ndarray, inserted: bool, arrival: float, block: bool, timeout,
                 strict: bool = True) -> bool:
        if not len(audio):
            return True
        try:
            ok = self._inbox.put(("audio", audio, inserted, arrival), block=block, timeout=timeout)
        except ChannelClosed:
            raise TalkingHeadError("the stream session was closed while audio was being pushed") from None
        if not ok:
            if strict:
                raise InputLimitError(f"{self._inbox.load / SAMPLE_RATE:.1f} s of audio already wait for the "
                                      f"stream workers (max_pending_s); push slower or with block=True")
            return False
        self._horizon += len(audio)
        if inserted:
            self._inserted_samples += len(audio)
        return True

    def _check_open(self) -> None:
        if self._state != "open":
            raise TalkingHeadError(f"the stream session is {self._state}: create a new StreamSession")

    # -- output ------------------------------------------------------------------------------
    def get(self, timeout: float | None = None) -> StreamFrame | None:
        """The next frame (waits for it); None once the stream is finished or closed.
        Raises ``TimeoutError`` when ``timeout`` s pass first, and a worker's error if one failed."""
        item = self._out.get(timeout)
        return None if item is END else item

    def poll(self) -> StreamFrame | None:
        """The next frame if one is ready, else None (never waits)."""
        item = self._out.poll()
        return None if item is END else item

    async def aget(self) -> StreamFrame | None:
        """``await`` the next frame; None once the stream is finished or closed."""
        item = await self._out.aget()
        return None if item is END else item

    @property
    def frames_ready(self) -> int:
        return len(self._out)

    @property
    def ended(self) -> bool:
        """True once every frame has been handed out (after finish()) or the session is closed."""
        return self._state == "closed" or self._out.exhausted

    def __iter__(self) -> Iterator[StreamFrame]:
        while (frame := self.get()) is not None:
            yield frame

    async def __aiter__(self) -> AsyncIterator[StreamFrame]:
        while (frame := await self.aget()) is not None:
            yield frame

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the workers and free every buffer (idempotent). Pending frames are dropped."""
        if self._state == "closed":
            return
        self._state = "closed"
        for channel in (self._inbox, self._to_render, self._out):
            channel.close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(JOIN_TIMEOUT_S)
        self._windower = self._features = self._timeline = self._input = None
        self._feats = []

    @property
    def closed(self) -> bool:
        return self._state == "closed"

    def __enter__(self) -> "StreamSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- measurements -----------------------------------------------------------------------
    def stats(self) -> dict:
        """Where the time goes: per-stage ms per frame (stages run in two threads, so they overlap),
        frame latency p50/p95 (audio complete -> frame rendered), first-frame time, silence inserted."""
        frames = max(self.frames_out, 1)
        lat = sorted(self._latencies)
        pick = (lambda q: round(1e3 * lat[min(len(lat) - 1, int(round(q * (len(lat) - 1))))], 1)) if lat \
            else (lambda q: None)
        first = None if self._first_frame is None or self._first_push is None \
            else round(1e3 * (self._first_frame - self._first_push), 1)
        return {"frames": self.frames_out,
                "stage_ms_per_frame": {k: round(1e3 * v / frames, 2) for k, v in self.timings.items()},
                "latency_ms": {"p50": pick(0.5), "p95": pick(0.95)},
                "first_frame_ms": first,
                "inserted_silence_s": round(self._inserted_samples / SAMPLE_RATE, 3),
                "window": self.window, "window_latency_ms": round(1e3 * self.window_latency_s, 1)}

    # -- workers -----------------------------------------------------------------------------
    def _compute_loop(self) -> None:
        try:
            while (msg := self._inbox.get()) is not END:
                if msg[0] == "audio":
                    self._on_audio(*msg[1:])
                else:  # "finish"
                    self._on_finish()
                    break
            self._to_render.end()
        except ChannelClosed:
            return
        except Exception as e:  # handed to the consumer, who re-raises it from get()
            log.exception("stream compute worker failed")
            self._to_render.end(e)

    @torch.inference_mode()
    def _on_audio(self, samples: np.ndarray, inserted: bool, arrival: float) -> None:
        self._timeline.append(samples, inserted, arrival)
        step = self.window * SAMPLES_PER_FRAME  # feed window-sized pieces so a burst starts early
        for start in range(0, len(samples), step):
            self._add_features(self._timed("features", self._features.push, samples[start:start + step]))
            self._drain(final=False)

    @torch.inference_mode()
    def _on_finish(self) -> None:
        self._add_features(self._timed("features", self._features.finish))
        self._drain(final=True)

    def _add_features(self, feats: torch.Tensor) -> None:
        if feats.shape[0]:
            self._feats.append(feats)
            self._feat_count += feats.shape[0]

    def _drain(self, final: bool) -> None:
        while self._feat_count >= self.window or (final and self._feat_count > 0):
            feats = torch.cat(self._feats)
            n = min(self.window, feats.shape[0])
            self._feats = [feats[n:]] if feats.shape[0] > n else []
            self._feat_count -= n
            raw = self._timed("motion", self._windower.generate, feats[:n]).cpu().numpy()  # (n, 37)
            audio, inserted, times = self._timeline.take(n)
            start = time.perf_counter()
            gated = self._gate(raw, inserted) if self._gate is not None else raw
            values = apply_controls(gated, self.controls, self.fps, seed=self.seed, start_frame=self._next_frame)
            self.timings["controls"] += time.perf_counter() - start
            self._to_render.put(_Window(self._next_frame, values, audio, inserted, times))
            self._next_frame += n

    def _render_loop(self) -> None:
        try:
            while (window := self._to_render.get()) is not END:
                self._render_window(window)
            self._out.end()
        except ChannelClosed:
            return
        except Exception as e:
            log.exception("stream render worker failed")
            self._out.end(e)

    def _render_window(self, w: _Window) -> None:
        renderer = self.pipeline.renderer
        head = 1 if w.start == 0 else 0  # the stream's very first frame is drawn alone (first-frame latency)
        edges = sorted({0, head, *range(head, len(w.values), RENDER_BATCH), len(w.values)})
        for s, e in zip(edges, edges[1:]):
            images = self._timed("render", renderer.render, self.avatar, w.values[s:e], self._paste)
            ready = time.monotonic()
            for j, image in enumerate(images, start=s):
                frame = StreamFrame(w.start + j, image, w.audio[j], w.values[j], bool(w.inserted[j]),
                                    float(w.audio_times[j]), ready)
                self._latencies.append(frame.latency_s)
                if self._first_frame is None:
                    self._first_frame = ready
                self._out.put(frame)
                self.frames_out += 1

    def _timed(self, stage: str, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        self.timings[stage] += time.perf_counter() - start
        return out


def _inbox_weight(msg) -> int:
    return len(msg[1]) if msg[0] == "audio" else 0


def _check_int(name: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise InvalidControlError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
