"""Build the five LivePortrait networks and load the official (MIT) checkpoints into them.

The user downloads the weights; nothing here is shipped.  Official layout (the Hugging Face
repository ``KwaiVGI/LivePortrait``, now also ``KlingTeam/LivePortrait``, keeps it under a
``liveportrait/`` folder)::

    base_models/appearance_feature_extractor.pth
    base_models/motion_extractor.pth
    base_models/warping_module.pth
    base_models/spade_generator.pth
    retargeting_models/stitching_retargeting_module.pth

Every file must match our modules key for key and shape for shape (``strict=True``).
The official release publishes no checksums, so the strict key/shape match is the check.

A folder may also hold :data:`WEIGHTS_CONFIG_FILE` (ours, not part of the release): JSON with
``"networks"`` (a :class:`LivePortraitConfig` as a dict, for weights at other sizes, e.g. the
random test weights :func:`save_liveportrait` writes) and ``"renderer"`` (settings of
:class:`~talkinghead.render.liveportrait_renderer.LivePortraitRendererConfig` that go with them).
Without it the official sizes are used.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from ...config import from_dict, to_dict
from ...errors import ModelNotFoundError, TalkingHeadError
from ...paths import atomic_path, cache_dir
from .appearance import APPEARANCE_SIZES, AppearanceFeatureExtractor, AppearanceFeatureExtractorConfig
from .motion_extractor import MOTION_EXTRACTOR_SIZES, MotionExtractor, MotionExtractorConfig
from .retargeting import CHECKPOINT_GROUPS, StitchingRetargeting, StitchingRetargetingConfig
from .spade import SPADE_SIZES, SPADEGenerator, SPADEGeneratorConfig
from .warping import WARPING_SIZES, WarpingModule, WarpingModuleConfig

REGISTRY_NAME = "liveportrait"
HUB_ID = "KwaiVGI/LivePortrait"
HUB_SUBFOLDER = "liveportrait"
CHECKPOINT_FILES = {
    "appearance_feature_extractor": "base_models/appearance_feature_extractor.pth",
    "motion_extractor": "base_models/motion_extractor.pth",
    "warping_module": "base_models/warping_module.pth",
    "spade_generator": "base_models/spade_generator.pth",
    "stitching_retargeting": "retargeting_models/stitching_retargeting_module.pth",
}
STATE_DICT_KEYS_JSON = Path(__file__).with_name("state_dict_keys.json")
WEIGHTS_CONFIG_FILE = "talkinghead.json"  # optional, ours: sizes + renderer settings of a weights folder
_HUB_ID_PATTERN = re.compile(r"^[\w.-]+/[\w.-]+$")
_DATA_PARALLEL_PREFIX = "module."


@dataclass(frozen=True)
class LivePortraitConfig:
    """One config per network; the defaults are the official models.yaml values."""

    appearance_feature_extractor: AppearanceFeatureExtractorConfig = field(
        default_factory=AppearanceFeatureExtractorConfig)
    motion_extractor: MotionExtractorConfig = field(default_factory=MotionExtractorConfig)
    warping_module: WarpingModuleConfig = field(default_factory=WarpingModuleConfig)
    spade_generator: SPADEGeneratorConfig = field(default_factory=SPADEGeneratorConfig)
    stitching_retargeting: StitchingRetargetingConfig = field(default_factory=StitchingRetargetingConfig)


def liveportrait_config(size: str = "official") -> LivePortraitConfig:
    """The networks at one of the registered sizes: "official" (the release), "small" (the reference
    folder's test sizes, 256 px input) or "tiny" (ours, fast tests at 64 px input). MLPs keep their real size."""
    registries = (APPEARANCE_SIZES, MOTION_EXTRACTOR_SIZES, WARPING_SIZES, SPADE_SIZES)
    if size not in APPEARANCE_SIZES:
        raise TalkingHeadError(f"unknown LivePortrait size {size!r}; available: {sorted(APPEARANCE_SIZES)}")
    appearance, motion, warping, spade = (registry[size] for registry in registries)
    return LivePortraitConfig(appearance_feature_extractor=appearance, motion_extractor=motion,
                              warping_module=warping, spade_generator=spade)


class LivePortraitModels(nn.Module):
    """The five networks as attributes named like :data:`CHECKPOINT_FILES` keys."""

    def __init__(self, config: LivePortraitConfig | None = None):
        super().__init__()
        self.config = cfg = config or LivePortraitConfig()
        self.appearance_feature_extractor = AppearanceFeatureExtractor(cfg.appearance_feature_extractor)
        self.motion_extractor = MotionExtractor(cfg.motion_extractor)
        self.warping_module = WarpingModule(cfg.warping_module)
        self.spade_generator = SPADEGenerator(cfg.spade_generator)
        self.stitching_retargeting = StitchingRetargeting(cfg.stitching_retargeting)


def expected_state_dict_shapes() -> dict[str, dict[str, list[int]]]:
    """The official checkpoints' keys and shapes per network, from our ``state_dict_keys.json``."""
    with open(STATE_DICT_KEYS_JSON, encoding="utf-8") as f:
        return json.load(f)["modules"]


def state_dict_shapes(module: nn.Module) -> dict[str, list[int]]:
    """``{key: shape}`` of a module's state dict (works on the meta device)."""
    return {key: list(value.shape) for key, value in module.state_dict().items()}


def state_dict_mismatches(expected: dict[str, list[int]], actual: dict[str, list[int]]) -> list[str]:
    """Human-readable differences between two ``{key: shape}`` maps (empty when they match)."""
    problems = [f"missing {k}" for k in expected if k not in actual]
    problems += [f"unexpected {k}" for k in actual if k not in expected]
    problems += [f"{k}: shape {list(actual[k])} != {list(expected[k])}"
                 for k in expected if k in actual and list(actual[k]) != list(expected[k])]
    return problems


def _download_hint(where: Path | str) -> str:
    files = ", ".join(CHECKPOINT_FILES.values())
    return (f"Get the MIT-licensed LivePortrait weights (github.com/KlingAIResearch/LivePortrait) from Hugging Face "
            f"'{HUB_ID}' (also 'KlingTeam/LivePortrait'), e.g. `huggingface-cli download {HUB_ID} --include "
            f"'{HUB_SUBFOLDER}/base_models/*' '{HUB_SUBFOLDER}/retargeting_models/*' --local-dir DIR`, and put "
            f"{files} under {where} (or pass DIR, or the hub id '{HUB_ID}' to download on first use).")


def default_weights_dir() -> Path:
    """Where the registry name ``"liveportrait"`` looks: ``<talkinghead cache>/liveportrait``."""
    return cache_dir(REGISTRY_NAME)


def _checkpoint_root(folder: Path) -> Path:
    """``folder`` or ``folder/liveportrait``, whichever holds all official files."""
    candidates = {root: [rel for rel in CHECKPOINT_FILES.values() if not (root / rel).is_file()]
                  for root in (folder, folder / HUB_SUBFOLDER)}
    root, missing = min(candidates.items(), key=lambda item: len(item[1]))
    if missing:
        raise ModelNotFoundError(f"LivePortrait weights incomplete in {root}: missing {', '.join(missing)}. "
                                 + _download_hint(root))
    return root


def _download(hub_id: str) -> Path:
    """Fetch only the five checkpoint files of ``hub_id`` into the Hugging Face cache."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import EntryNotFoundError

    patterns = [p for rel in CHECKPOINT_FILES.values() for p in (rel, f"{HUB_SUBFOLDER}/{rel}")]
    try:
        return Path(snapshot_download(hub_id, allow_patterns=patterns))
    except (OSError, ValueError, EntryNotFoundError) as e:
        raise ModelNotFoundError(f"could not download LivePortrait weights from Hugging Face '{hub_id}': {e}. "
                                 + _download_hint("a local folder")) from e


def resolve_weights_dir(name_or_path: str | os.PathLike | None = REGISTRY_NAME) -> Path:
    """Registry name ``"liveportrait"``, a local folder, or a hub id -> folder holding the official files."""
    if name_or_path is None or str(name_or_path) == REGISTRY_NAME:
        return _checkpoint_root(default_weights_dir())
    path = Path(name_or_path).expanduser()
    if path.exists():
        return _checkpoint_root(path)
    if _HUB_ID_PATTERN.match(str(name_or_path)):
        return _checkpoint_root(_download(str(name_or_path)))
    raise ModelNotFoundError(f"LivePortrait weights: {name_or_path!r} is neither the registry name "
                             f"{REGISTRY_NAME!r}, an existing folder, nor a Hugging Face id. "
                             + _download_hint(default_weights_dir()))


def read_weights_config(root: Path) -> dict:
    """``root/talkinghead.json`` as ``{"networks": {...}, "renderer": {...}}`` ({} when absent)."""
    path = Path(root) / WEIGHTS_CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise TalkingHeadError(f"cannot read {path}: {e}; fix or delete it (it is optional)") from e
    unknown = sorted(set(data) - {"networks", "renderer"}) if isinstance(data, dict) else ["<not an object>"]
    if unknown:
        raise TalkingHeadError(f"{path}: unknown top-level keys {unknown}; expected 'networks' and/or 'renderer'")
    return data


def _read_checkpoint(path: Path) -> dict:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as e:  # unreadable or truncated file
        raise TalkingHeadError(f"cannot read LivePortrait checkpoint {path}: {e}. Re-download it from "
                               f"Hugging Face '{HUB_ID}'.") from e
    if not isinstance(raw, dict):
        raise TalkingHeadError(f"{path} holds a {type(raw).__name__}, not a state dict; expected the official "
                               f"LivePortrait checkpoint from Hugging Face '{HUB_ID}'.")
    return raw


def _strip_prefix(state: dict) -> dict:
    return {(k[len(_DATA_PARALLEL_PREFIX):] if k.startswith(_DATA_PARALLEL_PREFIX) else k): v
            for k, v in state.items()}


def _stitching_state(raw: dict, path: Path) -> dict:
    """``{retarget_shoulder: sd, retarget_mouth: sd, retarget_eye: sd}`` -> our flat state dict."""
    missing = [group for group in CHECKPOINT_GROUPS.values() if group not in raw]
    if missing:
        raise TalkingHeadError(f"{path} is not a LivePortrait stitching/retargeting checkpoint: "
                               f"top-level keys {missing} are missing (found {sorted(raw)[:10]})")
    return {f"{ours}.{key}": value for ours, group in CHECKPOINT_GROUPS.items()
            for key, value in _strip_prefix(raw[group]).items()}


def _load_into(module: nn.Module, state: dict, path: Path) -> None:
    problems = state_dict_mismatches(state_dict_shapes(module), {k: list(v.shape) for k, v in state.items()})
    if problems:
        shown = "; ".join(problems[:8]) + (f"; ... {len(problems) - 8} more" if len(problems) > 8 else "")
        raise TalkingHeadError(f"{path} does not match the LivePortrait architecture at this config: {shown}. "
                               "Use the official LivePortrait (human) weights or pass a matching config.")
    module.load_state_dict(state, strict=True, assign=True)  # the module lives on the meta device


def load_liveportrait(name_or_path: str | os.PathLike | None = REGISTRY_NAME,
                      device: str | torch.device | None = None,
                      config: LivePortraitConfig | None = None) -> LivePortraitModels:
    """Load the official LivePortrait checkpoints into our modules (eval mode, float32).

    ``name_or_path``: ``"liveportrait"`` (looks in :func:`default_weights_dir`), a local folder
    in the official layout (itself or its ``liveportrait/`` subfolder), or a Hugging Face id such
    as ``"KwaiVGI/LivePortrait"`` (downloads the five files once).  ``device`` None picks CUDA
    when available.  ``config`` overrides the sizes; without it they come from the folder's
    :data:`WEIGHTS_CONFIG_FILE` when present, else the official ones.
    Raises :class:`ModelNotFoundError` with download instructions when files are missing.
    """
    root = resolve_weights_dir(name_or_path)
    if config is None and "networks" in (settings := read_weights_config(root)):
        config = from_dict(LivePortraitConfig, settings["networks"])
    with torch.device("meta"):  # no random init of ~130M parameters that the checkpoints replace
        models = LivePortraitModels(config)
    for name, rel in CHECKPOINT_FILES.items():
        path = root / rel
        raw = _read_checkpoint(path)
        state = _stitching_state(raw, path) if name == "stitching_retargeting" else _strip_prefix(raw)
        _load_into(getattr(models, name), state, path)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return models.float().to(device).eval()


def save_liveportrait(models: LivePortraitModels, folder: str | os.PathLike, renderer: dict | None = None) -> Path:
    """Write ``models`` in the official layout and formats under ``folder`` (each file atomically),
    plus :data:`WEIGHTS_CONFIG_FILE` recording their sizes and optional ``renderer`` settings.

    For random-weight test folders and converted weights; :func:`load_liveportrait` reads it back.
    """
    folder = Path(folder)
    for name, rel in CHECKPOINT_FILES.items():
        module = getattr(models, name)
        if name == "stitching_retargeting":
            state = {group: getattr(module, ours).state_dict() for ours, group in CHECKPOINT_GROUPS.items()}
        else:
            state = module.state_dict()
        _atomic_save(lambda tmp, state=state: torch.save(state, tmp), folder / rel)
    settings = {"networks": to_dict(models.config), **({"renderer": renderer} if renderer else {})}
    text = json.dumps(settings, indent=1, sort_keys=True)
    _atomic_save(lambda tmp: tmp.write_text(text, encoding="utf-8"), folder / WEIGHTS_CONFIG_FILE)
    return folder


def _atomic_save(write, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
