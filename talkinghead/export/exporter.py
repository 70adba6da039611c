"""Export the pipeline's graphs to ONNX, validate them, and cache them by the hash of what they came from.

Two kinds of export folder, each with a :mod:`manifest <talkinghead.export.manifest>`:

* **model** (``encoder.onnx``, ``denoiser.onnx``): depends on the motion checkpoint (and the
  Whisper encoder + window it names). Cached under ``<root>/<motion sha256[:16]>``.
* **avatar** (``rig.onnx``, ``render.onnx``, ``render_coarse.onnx``): the warp renderer's per-frame
  model holds per-portrait tables (control mesh, barycentric weights, textures, layer geometry)
  and per-portrait *static shapes* (the mouth and eye window sizes scale with the face), so it is
  exported per avatar at registration and cached under ``<root>/avatars/<avatar sha256[:16]>``.
  Cost on this 2-core CPU: about 3-4 s of export per graph variant the first time a portrait is
  seen, ~0.5 s to open the sessions afterwards, and 7-12 MB of disk per variant (the textures
  are graph constants); at most :data:`MAX_CACHED_AVATARS` avatar folders are kept.

* **liveportrait** (``lp_appearance.onnx``, ``lp_motion.onnx``, ``lp_warp.onnx``, ``lp_generator.onnx``):
  the LivePortrait-architecture renderer's networks for one set of weights at one input size
  (:func:`export_liveportrait`); the warp's 5-D sampling is written with gathers (docs/onnx.md).

Graphs are exported with the TorchScript exporter (``dynamo=False``) at opset :data:`OPSET` and
checked with ``onnx.checker`` (full check, with shape inference) before they replace any file.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..audio.features import WindowConfig
from ..config import to_dict
from ..diffusion.checkpoint import DEFAULT_MODEL, load_motion_model, resolve_checkpoint
from ..diffusion.dit import MotionDiT
from ..errors import ChecksumError, ModelNotFoundError, TalkingHeadError
from ..paths import atomic_path, sha256_file
from ..render.base import Avatar
from .graphs import (LP_MOTION_OUTPUTS, AvatarRigGraph, CoarseRenderGraph, DenoiserGraph, LivePortraitMotionGraph,
                     LivePortraitWarpGraph, RenderGraph, WindowEncoderGraph, coarse_output_names)
from .manifest import FORMAT, FORMAT_VERSION, graph_entry, read_manifest, verify_files, write_manifest

log = logging.getLogger(__name__)

OPSET = 17  # >= 16 for 2-D GridSample, 17 for LayerNormalization
MODEL_GRAPHS = ("encoder", "denoiser")
AVATAR_GRAPHS = ("rig", "render", "render_coarse")
LIVEPORTRAIT_GRAPHS = ("lp_appearance", "lp_motion", "lp_warp", "lp_generator")
MAX_CACHED_AVATARS = 32  # avatar folders kept under <root>/avatars (least recently used removed)
SOURCE_LABELS = ("motion_model",)  # informative source fields that do not identify the weights
TRACE_WINDOWS = 2  # example batch sizes used for tracing (the axes are dynamic)
TRACE_FRAMES = 24
TRACE_PREFIX = 4


# ----------------------------------------------------------------------------- one graph
def export_graph(module: torch.nn.Module, args: tuple, path: Path, input_names: list[str],
                 output_names: list[str], dynamic_axes: dict) -> dict:
    """Export ``module(*args)`` to ``path`` (atomically), check it, return its manifest entry."""
    import onnx

    path = Path(path)
    tmp = atomic_path(path)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
            # SPADE's instance norm uses per-instance statistics in eval too: "train=True" is correct there.
            warnings.filterwarnings("ignore", message=".*'instance_norm' is set to train=True", category=UserWarning)
            torch.onnx.export(module.eval(), args, str(tmp), input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True,
                              dynamo=False)
            outputs = module(*args)
        _pin_static_output_dims(tmp, outputs, dynamic_axes)
        onnx.checker.check_model(str(tmp), full_check=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return graph_entry(path)


def _pin_static_output_dims(path: Path, outputs, dynamic_axes: dict) -> None:
    """Record the sizes of output axes that are not dynamic (the exporter leaves some symbolic after
    reshapes), from the traced example's outputs; the full check then verifies them."""
    import onnx

    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    model = onnx.load(str(path))
    for value, example in zip(model.graph.output, outputs):
        dynamic = dynamic_axes.get(value.name, {})
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if axis not in dynamic:
                dim.Clear()
                dim.dim_value = int(example.shape[axis])
    onnx.save(model, str(path))


def _header(kind: str, source: dict) -> dict:
    import onnx

    return {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "talkinghead_version": __version__,
            "torch_version": torch.__version__, "onnx_version": onnx.__version__, "opset": OPSET,
            "source": _jsonable(source), "graphs": {}}


def _jsonable(value):
    return json.loads(json.dumps(value))


def _is_current(manifest: dict, kind: str, source: dict) -> bool:
    """Same format, version, opset and sources (labels such as the model's name or path may differ)."""
    def identity(src: dict) -> dict:
        return {k: v for k, v in _jsonable(src).items() if k not in SOURCE_LABELS}
    return (manifest.get("format_version") == FORMAT_VERSION and manifest.get("kind") == kind
            and manifest.get("talkinghead_version") == __version__ and manifest.get("opset") == OPSET
            and identity(manifest.get("source") or {}) == identity(source))


# ----------------------------------------------------------------------------- model graphs
def module_digest(module: torch.nn.Module) -> str:
    """sha256 of a module's state (names, dtypes, shapes, bytes): identifies weights however they were loaded."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def model_source(model_name: str, model: MotionDiT, whisper: str, encoder: torch.nn.Module,
                 window: WindowConfig) -> dict:
    """What the model graphs are exported from (recorded in the manifest; a change re-exports)."""
    return {"motion_model": str(model_name), "motion_sha256": sha256_file(resolve_checkpoint(model_name)),
            "dit_config": to_dict(model.config), "whisper": str(whisper), "whisper_sha256": module_digest(encoder),
            "window": dataclasses.asdict(window)}


def export_model_graphs(folder: str | os.PathLike, source: dict, model: MotionDiT, encoder: torch.nn.Module,
                        window: WindowConfig) -> dict:
    """Write ``encoder.onnx``, ``denoiser.onnx`` and ``manifest.json`` into ``folder``; returns the manifest."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _header("model", source)
    encoder_cpu = copy.deepcopy(encoder).float().cpu().eval()
    windows = torch.randn(TRACE_WINDOWS, window.window_samples, generator=torch.Generator().manual_seed(0)) * 0.1
    manifest["graphs"]["encoder"] = export_graph(
        WindowEncoderGraph(encoder_cpu, window), (windows,), folder / "encoder.onnx", ["windows"], ["features"],
        {"windows": {0: "K"}, "features": {0: "K"}})
    model_cpu = copy.deepcopy(model).float().cpu().eval()
    n = min(TRACE_FRAMES, model.config.max_frames)
    args = (torch.zeros(2, n, model.config.motion_dim), torch.tensor([500.0, 500.0]),
            torch.zeros(2, n, model.config.audio_dim), torch.tensor([True, False]),
            torch.tensor(min(TRACE_PREFIX, n - 1), dtype=torch.int64))
    manifest["graphs"]["denoiser"] = export_graph(
        DenoiserGraph(model_cpu), args, folder / "denoiser.onnx",
        ["x", "t", "audio", "audio_mask", "prefix_len"], ["prediction"],
        {"x": {0: "B", 1: "N"}, "t": {0: "B"}, "audio": {0: "B", 1: "N"}, "audio_mask": {0: "B"},
         "prediction": {0: "B", 1: "N"}})
    write_manifest(folder, manifest)
    return manifest


def export_model(out_dir: str | os.PathLike, model: str = DEFAULT_MODEL) -> dict:
    """Export the model graphs of motion model ``model`` (registry name, path or hub id) into ``out_dir``."""
    from ..audio.whisper_models import load_whisper_encoder

    motion_model, meta = load_motion_model(model, "cpu")
    whisper = meta["audio"]["encoder"]
    window = WindowConfig(**meta["audio"]["window"])
    encoder = load_whisper_encoder(whisper, "cpu")
    source = model_source(model, motion_model, whisper, encoder, window)
    return export_model_graphs(out_dir, source, motion_model, encoder, window)


def cached_model_export(root: str | os.PathLike, source: dict, model: MotionDiT, encoder: torch.nn.Module,
                        window: WindowConfig) -> tuple[Path, dict]:
    """The model export folder for ``source`` under ``root``: reused when its manifest matches and every
    file checks out, (re-)exported otherwise. Returns (folder, manifest)."""
    folder = Path(root) / source["motion_sha256"][:16]
    manifest = _reusable(folder, "model", source, MODEL_GRAPHS)
    if manifest is None:
        log.info("exporting ONNX graphs of %s to %s (once per model)", source["motion_model"], folder)
        manifest = export_model_graphs(folder, source, model, encoder, window)
    return folder, manifest


def _reusable(folder: Path, kind: str, source: dict, graphs: tuple[str, ...]) -> dict | None:
    """The folder's manifest if it is current, lists ``graphs`` and its files verify; else None."""
    if not (folder / "manifest.json").is_file():
        return None
    try:
        manifest = read_manifest(folder)
        if not _is_current(manifest, kind, source) or not set(graphs) <= set(manifest["graphs"]):
            return None
        verify_files(folder, manifest)
    except (ModelNotFoundError, ChecksumError) as e:
        log.warning("ignoring the ONNX export in %s: %s", folder, e)
        return None
    return manifest


# ----------------------------------------------------------------------------- avatar graphs
def avatar_digest(avatar: Avatar) -> str:
    """sha256 of everything an avatar's graphs are built from (crop, landmarks, mask, rig, camera, frame settings)."""
    model = _frame_model(avatar)
    reg = avatar.registration
    settings = f"{FORMAT_VERSION}|{__version__}|{model.config!r}|camera {avatar.camera_distance!r}|"
    digest = hashlib.sha256(settings.encode())
    for array in (reg.crop, np.asarray(reg.crop_landmarks, np.float64), np.asarray(reg.mask, np.float32),
                  avatar.rig.identity, avatar.rig.basis, np.asarray(avatar.to_image, np.float64),
                  np.asarray(avatar.source_motion.values, np.float64)):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _frame_model(avatar: Avatar):
    model = getattr(avatar, "model", None)
    if model is None or not hasattr(model, "backward_map"):
        raise TalkingHeadError("ONNX rendering needs an avatar of the warp renderer (WarpRenderer.register); "
                               "use OnnxOptions(render='torch') with other renderers")
    return model


def export_avatar_graphs(folder: str | os.PathLike, avatar: Avatar, graphs: tuple[str, ...] = AVATAR_GRAPHS,
                         manifest: dict | None = None) -> dict:
    """Export the named per-avatar graphs into ``folder``, adding them to ``manifest`` (or a new one)."""
    unknown = sorted(set(graphs) - set(AVATAR_GRAPHS))
    if unknown:
        raise TalkingHeadError(f"unknown avatar graph(s) {unknown}; choose from {AVATAR_GRAPHS}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    source = {"avatar_sha256": avatar_digest(avatar), "crop_size": int(avatar.crop_size)}
    manifest = manifest or _header("avatar", source)
    model = copy.deepcopy(_frame_model(avatar)).float().cpu().eval()
    target = torch.from_numpy(np.repeat(avatar.source_landmarks[None], TRACE_WINDOWS, axis=0))
    frames = {0: "T"}
    for name in graphs:
        if name == "rig":
            motion = avatar.absolute_motion(np.repeat(avatar.rest_motion.values, TRACE_WINDOWS, axis=0))
            entry = export_graph(AvatarRigGraph(avatar).float(), (torch.as_tensor(motion, dtype=torch.float32),),
                                 folder / "rig.onnx", ["motion"], ["landmarks"],
                                 {"motion": frames, "landmarks": frames})
        elif name == "render":
            entry = export_graph(RenderGraph(model), (target,), folder / "render.onnx", ["target"], ["crops"],
                                 {"target": frames, "crops": frames})
        else:
            outputs = coarse_output_names()
            entry = export_graph(CoarseRenderGraph(model), (target,), folder / "render_coarse.onnx", ["target"],
                                 outputs, {name: frames for name in ["target"] + outputs})
        manifest["graphs"][name] = entry
    write_manifest(folder, manifest)
    return manifest


def cached_avatar_export(root: str | os.PathLike, avatar: Avatar, graphs: tuple[str, ...]) -> tuple[Path, dict]:
    """The avatar's export folder under ``root/avatars`` holding at least ``graphs`` (exporting what is missing)."""
    digest = avatar_digest(avatar)
    source = {"avatar_sha256": digest, "crop_size": int(avatar.crop_size)}
    folder = Path(root) / "avatars" / digest[:16]
    manifest = _reusable(folder, "avatar", source, graphs)
    if manifest is None:
        existing = _reusable(folder, "avatar", source, ())
        missing = tuple(g for g in graphs if existing is None or g not in existing["graphs"])
        log.info("exporting avatar graphs %s to %s (once per portrait)", missing, folder)
        manifest = export_avatar_graphs(folder, avatar, missing, existing)
        _evict_avatars(folder.parent, keep=folder)
    os.utime(folder / "manifest.json")  # recency for eviction
    return folder, manifest


def _evict_avatars(avatars_dir: Path, keep: Path) -> None:
    folders = sorted((p for p in avatars_dir.iterdir() if p.is_dir() and p != keep),
                     key=lambda p: (p / "manifest.json").stat().st_mtime if (p / "manifest.json").exists() else 0.0)
    for old in folders[:max(0, len(folders) + 1 - MAX_CACHED_AVATARS)]:
        shutil.rmtree(old, ignore_errors=True)



# ----------------------------------------------------------------------------- LivePortrait graphs
def liveportrait_source(models: torch.nn.Module, input_size: int) -> dict:
    """What the LivePortrait graphs are exported from (weights digest, network sizes, input size)."""
    return {"liveportrait_sha256": module_digest(models), "networks": to_dict(models.config),
            "input_size": int(input_size)}


def export_liveportrait_graphs(folder: str | os.PathLike, models: torch.nn.Module, input_size: int = 256) -> dict:
    """Write the four :data:`LIVEPORTRAIT_GRAPHS` of ``models`` (a
    :class:`~talkinghead.render.liveportrait.LivePortraitModels`) at ``input_size`` px into ``folder``,
    with ``manifest.json``; returns the manifest. The batch axis ``B`` of every graph is dynamic."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _header("liveportrait", liveportrait_source(models, input_size))
    models = copy.deepcopy(models).float().cpu().eval()
    batch = {0: "B"}
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(TRACE_WINDOWS, 3, input_size, input_size, generator=generator)
    with torch.no_grad():
        feature_3d = models.appearance_feature_extractor(image)
        kp_source = models.motion_extractor(image)["kp"].reshape(TRACE_WINDOWS, -1, 3)
    kp_driving = kp_source + 0.05 * torch.randn(kp_source.shape, generator=generator)
    graphs = manifest["graphs"]
    graphs["lp_appearance"] = export_graph(models.appearance_feature_extractor, (image,), folder / "lp_appearance.onnx",
                                           ["image"], ["feature_3d"], {"image": batch, "feature_3d": batch})
    graphs["lp_motion"] = export_graph(LivePortraitMotionGraph(models.motion_extractor), (image,),
                                       folder / "lp_motion.onnx", ["image"], list(LP_MOTION_OUTPUTS),
                                       {name: batch for name in ("image", *LP_MOTION_OUTPUTS)})
    warp_names = ["feature_3d", "kp_driving", "kp_source", "feature", "occlusion_map"]
    graphs["lp_warp"] = export_graph(LivePortraitWarpGraph(models.warping_module), (feature_3d, kp_driving, kp_source),
                                     folder / "lp_warp.onnx", warp_names[:3], warp_names[3:],
                                     {name: batch for name in warp_names})
    with torch.no_grad():
        warped = models.warping_module(feature_3d, kp_driving=kp_driving, kp_source=kp_source)["out"]
    graphs["lp_generator"] = export_graph(models.spade_generator, (warped,), folder / "lp_generator.onnx",
                                          ["feature"], ["image"], {"feature": batch, "image": batch})
    write_manifest(folder, manifest)
    return manifest


def export_liveportrait(out_dir: str | os.PathLike, weights: str | os.PathLike | None = None,
                        input_size: int | None = None) -> dict:
    """Export the LivePortrait graphs of ``weights`` (folder, hub id, or None for the talkinghead cache)
    into ``out_dir``. ``input_size`` None: the weights folder's renderer setting, else 256."""
    from ..render.liveportrait.loader import load_liveportrait, read_weights_config, resolve_weights_dir

    root = resolve_weights_dir(weights if weights is not None else "liveportrait")
    models = load_liveportrait(root, device="cpu")
    if input_size is None:
        input_size = int(read_weights_config(root).get("renderer", {}).get("input_size", 256))
    return export_liveportrait_graphs(out_dir, models, input_size)
