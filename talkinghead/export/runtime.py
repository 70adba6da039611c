"""onnxruntime twins of the pipeline's stages, plugged in by ``TalkingHead(backend="onnx")``.

* :class:`OnnxWhisper` - Whisper features (offline, and a :class:`StreamingFeatures` for streaming);
* :class:`OnnxDenoiser` - a drop-in for :class:`~talkinghead.diffusion.dit.MotionDiT` in the sampler
  (:class:`~talkinghead.diffusion.sampler.MotionWindower`, :func:`denoise_window`): same call,
  both guidance branches in one batch, the scheduler loop stays in Python;
* :class:`OnnxWarpRenderer` - the warp renderer with the per-avatar rig and frame graphs;
* :class:`OnnxBackend` - builds the three from a loaded pipeline, exporting (once, cached by hash)
  what is not exported yet.

Sessions: providers ``CUDAExecutionProvider`` then ``CPUExecutionProvider`` (those the installed
onnxruntime offers), ``ORT_ENABLE_ALL`` graph optimisation, intra-op threads = physical cores,
no spin-waiting (on a 2-core machine idle spinning threads steal the CPU from the other stages).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import torch

from .. import paths
from ..audio.features import DEFAULT_BATCH_WINDOWS, WindowConfig, feature_dim, whisper_features
from ..audio.streaming import StreamingFeatures
from ..errors import DependencyError, TalkingHeadError
from ..render.base import Avatar, Renderer
from ..render.warp import pixel_grid
from ..render.warp_renderer import WarpRenderer
from ..render.window import composite_window_numpy
from ..timing import SAMPLE_RATE
from .exporter import cached_avatar_export, cached_model_export, model_source
from .graphs import LAYER_NAMES, coarse_output_names
from .options import OnnxOptions

log = logging.getLogger(__name__)

PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
AVATAR_SESSIONS = 8  # avatars whose sessions stay open per renderer (as the pipeline's avatar cache)


# ----------------------------------------------------------------------------- sessions
def _ort():
    try:
        import onnxruntime
    except ImportError as e:  # pragma: no cover - a hard dependency, but onnxruntime-gpu may replace it
        raise DependencyError("onnxruntime is not installed: pip install onnxruntime "
                              "(or talkinghead[gpu] for onnxruntime-gpu)") from e
    return onnxruntime


def physical_cores() -> int:
    """Physical cores this process may run on (Linux sysfs topology; the logical count elsewhere)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:
            return max(1, len(cpus))
    return max(1, len(cores))


def resolve_providers(requested: tuple[str, ...] | None = None) -> list[str]:
    """The requested (default: CUDA, CPU) execution providers that this onnxruntime offers, in order."""
    available = _ort().get_available_providers()
    wanted = requested or PREFERRED_PROVIDERS
    chosen = [p for p in wanted if p in available]
    if not chosen:
        raise DependencyError(f"none of the execution providers {list(wanted)} is available; this onnxruntime "
                              f"offers {available} (GPU: pip install 'talkinghead[gpu]' and uninstall onnxruntime)")
    return chosen


def open_session(path: str | os.PathLike, options: OnnxOptions):
    """An InferenceSession on ``path`` with the backend's providers, optimisation and threads."""
    ort = _ort()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = options.threads or physical_cores()
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3  # errors only (CUDA provider fall-backs are logged below)
    session = ort.InferenceSession(str(path), so, providers=resolve_providers(options.providers))
    log.info("onnxruntime session %s on %s", Path(path).name, session.get_providers())
    return session


def on_gpu(session) -> bool:
    """Whether a session's first (preferred) provider is not the CPU one."""
    return session.get_providers()[0] != "CPUExecutionProvider"


def _numpy(tensor: torch.Tensor, dtype=np.float32) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=dtype)


# ----------------------------------------------------------------------------- audio
class OnnxWhisper:
    """The exported ``encoder`` graph as a compiled window encoder.

    :func:`~talkinghead.audio.features.whisper_features` and
    :class:`~talkinghead.audio.streaming.StreamingFeatures` accept it in place of the torch encoder
    (it has ``encode_windows``, ``feature_dim`` and ``window_config``), so the ONNX path runs the
    one windowing function; only the per-window compute differs.
    """

    def __init__(self, session, config: WindowConfig, dim: int, batch_windows: int = DEFAULT_BATCH_WINDOWS):
        self.session, self.window_config, self.feature_dim = session, config, int(dim)
        self.batch_windows = int(batch_windows)

    def encode_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """(K, window_samples) -> (K, B, 2 d_model) float32 on CPU, as :func:`encode_windows`."""
        assert windows.shape[-1] == self.window_config.window_samples, windows.shape
        out = self.session.run(None, {"windows": _numpy(windows)})[0]
        return torch.from_numpy(out)

    def features(self, audio) -> torch.Tensor:
        """16 kHz ``audio`` (n,) -> (ceil(n / 640), 2 d_model) through :func:`whisper_features`."""
        return whisper_features(audio, self, self.window_config, self.batch_windows)

    def stream(self, sample_rate: int = SAMPLE_RATE) -> StreamingFeatures:
        """A :class:`StreamingFeatures` whose windows run in onnxruntime."""
        return StreamingFeatures(self, self.window_config, sample_rate)


# ----------------------------------------------------------------------------- motion
class OnnxDenoiser(torch.nn.Module):
    """The exported ``denoiser`` graph behind MotionDiT's interface (``forward``, ``config``,
    ``normalize``/``denormalize``; parameters and statistics are the wrapped model's)."""

    def __init__(self, model: torch.nn.Module, session):
        super().__init__()
        self.model = model
        self.session = session

    @property
    def config(self):
        return self.model.config

    def forward(self, x: torch.Tensor, t: torch.Tensor, audio: torch.Tensor, audio_mask: torch.Tensor,
                prefix_len: int) -> torch.Tensor:
        """Same arguments and (B, N, D) result as :meth:`MotionDiT.forward`."""
        feeds = {"x": _numpy(x), "t": _numpy(t.reshape(-1).expand(x.shape[0])), "audio": _numpy(audio),
                 "audio_mask": _numpy(audio_mask.reshape(-1), np.bool_),
                 "prefix_len": np.asarray(int(prefix_len), dtype=np.int64)}
        out = self.session.run(None, feeds)[0]
        return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)

    def normalize(self, motion: torch.Tensor) -> torch.Tensor:
        return self.model.normalize(motion)

    def denormalize(self, motion: torch.Tensor) -> torch.Tensor:
        return self.model.denormalize(motion)


# ----------------------------------------------------------------------------- rendering
class AvatarSessions:
    """One avatar's ``rig`` and frame graph sessions (``render`` on a GPU, ``render_coarse`` + OpenCV on a CPU)."""

    def __init__(self, avatar: Avatar, root: Path, options: OnnxOptions, gpu: bool):
        frame = "render" if gpu else "render_coarse"
        folder, manifest = cached_avatar_export(root, avatar, ("rig", frame))
        self.rig = open_session(folder / manifest["graphs"]["rig"]["file"], options)
        self.frame = open_session(folder / manifest["graphs"][frame]["file"], options)
        self.gpu = gpu
        self.filled = avatar.model.filled  # (S, S, 3) uint8 hole-filled texture (OpenCV path)
        self.crop_size = avatar.crop_size
        self._base = pixel_grid(self.crop_size) if not gpu else None  # (S, S, 2) pixel centres

    def landmarks(self, motion: np.ndarray) -> np.ndarray:
        """Absolute motion (T, 37) -> target landmarks (T, 478, 2) float32 crop pixels."""
        return self.rig.run(None, {"motion": np.ascontiguousarray(motion, dtype=np.float32)})[0]

    def crops(self, target: np.ndarray) -> np.ndarray:
        """Target landmarks (T, 478, 2) -> head crops (T, S, S, 3) uint8."""
        target = np.ascontiguousarray(target, dtype=np.float32)
        if self.gpu:
            return self.frame.run(None, {"target": target})[0]
        outputs = dict(zip(coarse_output_names(), self.frame.run(None, {"target": target})))
        return self._finish_opencv(outputs)

    def _finish_opencv(self, outputs: dict) -> np.ndarray:
        """The full-resolution steps of :meth:`WarpFrameModel.render_opencv`: upsample the backward map,
        remap the texture, blend the drawn layers in."""
        back, size = outputs["back"], self.crop_size
        frames = np.empty((len(back), size, size, 3), np.uint8)
        for b in range(len(back)):
            coords = cv2.resize(back[b], (size, size), interpolation=cv2.INTER_LINEAR)
            coords += self._base
            frames[b] = cv2.remap(self.filled, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            for layer in LAYER_NAMES:
                origin = tuple(int(v) for v in outputs[f"{layer}_origin"][b])
                composite_window_numpy(frames[b], origin, outputs[f"{layer}_rgb"][b], outputs[f"{layer}_alpha"][b])
        return frames


class OnnxWarpRenderer(WarpRenderer):
    """:class:`WarpRenderer` whose rig and per-frame model run in onnxruntime (per-avatar graphs,
    exported at registration and cached by the avatar's hash; see :mod:`talkinghead.export.exporter`)."""

    def __init__(self, base: WarpRenderer, options: OnnxOptions, root: Path, gpu: bool):
        super().__init__(base.config, base.device)
        self.options, self.root, self.gpu = options, Path(root), gpu
        self._sessions: OrderedDict[int, tuple[Avatar, AvatarSessions]] = OrderedDict()
        self._lock = threading.Lock()  # streaming renders from worker threads

    def register(self, portrait) -> Avatar:
        avatar = super().register(portrait)
        self.sessions(avatar)
        return avatar

    def sessions(self, avatar: Avatar) -> AvatarSessions:
        """The avatar's sessions, exporting its graphs on first use."""
        key = id(avatar)
        with self._lock:
            if key in self._sessions and self._sessions[key][0] is avatar:
                self._sessions.move_to_end(key)
                return self._sessions[key][1]
            sessions = AvatarSessions(avatar, self.root, self.options, self.gpu)
            self._sessions[key] = (avatar, sessions)
            while len(self._sessions) > AVATAR_SESSIONS:
                self._sessions.popitem(last=False)
            return sessions

    def render(self, avatar: Avatar, motion, paste: bool = True, relative_pose: bool = True) -> np.ndarray:
        landmarks = self.sessions(avatar).landmarks(avatar.absolute_motion(motion, relative_pose))
        return self.render_landmarks(avatar, landmarks, paste=paste)

    def _render_batch(self, avatar: Avatar, target: np.ndarray) -> np.ndarray:
        return self.sessions(avatar).crops(target)


# ----------------------------------------------------------------------------- the backend
class OnnxBackend:
    """The onnxruntime compute of the pipeline's stages: ``features``/``feature_stream``, ``denoiser``
    and ``renderer``. Model graphs come from (or are exported to) ``<cache>/<motion sha256[:16]>``."""

    def __init__(self, model_name: str, motion_model: torch.nn.Module, whisper: str, encoder: torch.nn.Module,
                 window: WindowConfig, renderer: Renderer, options: OnnxOptions | None = None):
        self.options = options = options or OnnxOptions()
        self.root = Path(options.cache_dir) if options.cache_dir else paths.cache_dir("onnx")
        source = model_source(model_name, motion_model, whisper, encoder, window)
        self.folder, self.manifest = cached_model_export(self.root, source, motion_model, encoder, window)
        graphs = self.manifest["graphs"]
        self.encoder = encoder
        self.whisper = OnnxWhisper(open_session(self.folder / graphs["encoder"]["file"], options), window,
                                   feature_dim(encoder))
        self.denoiser = OnnxDenoiser(motion_model, open_session(self.folder / graphs["denoiser"]["file"], options))
        self.gpu = on_gpu(self.whisper.session)
        self.render_engine = options.render if options.render != "auto" else ("onnx" if self.gpu else "torch")
        self.renderer = renderer
        if self.render_engine == "onnx":
            if not isinstance(renderer, WarpRenderer):
                raise TalkingHeadError(f"ONNX rendering supports the warp renderer, not {type(renderer).__name__}; "
                                       "use OnnxOptions(render='torch')")
            self.renderer = OnnxWarpRenderer(renderer, options, self.root, self.gpu)

    @property
    def providers(self) -> list[str]:
        return self.whisper.session.get_providers()

    def features(self, audio) -> torch.Tensor:
        return self.whisper.features(audio)

    def feature_stream(self, sample_rate: int = SAMPLE_RATE) -> StreamingFeatures:
        return self.whisper.stream(sample_rate)
