"""CTranslate2 ``WhisperSpec`` -> ``transformers`` Whisper: config and state dict (no I/O here).

Name mapping (CTranslate2 -> transformers, ``L`` = layer index):

=====================================================  ====================================================
``encoder/conv{1,2}/{weight,bias}``                    ``model.encoder.conv{1,2}.*``
``encoder/position_encodings/encodings``  (1500, D)    ``model.encoder.embed_positions.weight``
``encoder/layer_L/self_attention/linear_0`` (3D, D)    ``...self_attn.{q,k,v}_proj`` (fused rows q|k|v)
``encoder/layer_L/self_attention/linear_1``            ``...self_attn.out_proj``
``encoder/layer_L/self_attention/layer_norm/{gamma,beta}``  ``...self_attn_layer_norm.{weight,bias}``
``encoder/layer_L/ffn/linear_{0,1}``                   ``...fc1``, ``...fc2``
``encoder/layer_L/ffn/layer_norm``                     ``...final_layer_norm``
``encoder/layer_norm``                                 ``model.encoder.layer_norm``
``decoder/embeddings/weight``  (V, D)                  ``model.decoder.embed_tokens.weight`` (tied: ``proj_out``)
``decoder/position_encodings/encodings`` (448, D)      ``model.decoder.embed_positions.weight``
``decoder/layer_L/self_attention/*``                   ``...self_attn*`` as in the encoder
``decoder/layer_L/attention/linear_0``                 ``...encoder_attn.q_proj``
``decoder/layer_L/attention/linear_1`` (2D, D)         ``...encoder_attn.{k,v}_proj`` (fused rows k|v)
``decoder/layer_L/attention/linear_2``                 ``...encoder_attn.out_proj``
``decoder/layer_L/attention/layer_norm``               ``...encoder_attn_layer_norm``
``decoder/projection/weight`` (alias of embeddings)    ``proj_out.weight``
=====================================================  ====================================================

Whisper's key projections have no bias; CTranslate2 stores zeros in that slice of the fused bias.
Dropping it is exact in any case: a key bias adds ``q . b_k`` equally to every score of a query,
which the softmax cancels.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from ..errors import TalkingHeadError
from .ct2 import CT2Model

WHISPER_SPEC = "WhisperSpec"
GELU_ACTIVATION_ID = 3  # CTranslate2 ActivationType.GELU (erf form), what Whisper uses
MULTILINGUAL_MIN_VOCAB = 51865  # English-only Whisper vocabularies have 51864 entries


def whisper_config_kwargs(ct2: CT2Model, special_ids: dict[str, int]) -> dict:
    """``transformers.WhisperConfig`` keyword arguments read off the weights' shapes.

    ``special_ids`` maps ``"eos"`` (<|endoftext|>) and ``"sot"`` (<|startoftranscript|>) to token ids.
    """
    _check_spec(ct2)
    vocab_size, d_model = ct2["decoder/embeddings/weight"].shape
    return dict(
        vocab_size=int(vocab_size), d_model=int(d_model),
        num_mel_bins=int(ct2["encoder/conv1/weight"].shape[1]),
        encoder_layers=_count_layers(ct2, "encoder"), decoder_layers=_count_layers(ct2, "decoder"),
        encoder_attention_heads=ct2.scalar("encoder/num_heads"),
        decoder_attention_heads=ct2.scalar("decoder/num_heads"),
        encoder_ffn_dim=int(ct2["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(ct2["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(ct2["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(ct2["decoder/position_encodings/encodings"].shape[0]),
        activation_function="gelu", scale_embedding=False, tie_word_embeddings=True,
        eos_token_id=special_ids["eos"], pad_token_id=special_ids["eos"], bos_token_id=special_ids["eos"],
        decoder_start_token_id=special_ids["sot"],
    )


def is_multilingual(vocab_size: int) -> bool:
    """Whisper's rule: multilingual checkpoints have the 51865-entry (or larger) vocabulary."""
    return vocab_size >= MULTILINGUAL_MIN_VOCAB


def ct2_to_hf_state_dict(ct2: CT2Model) -> dict[str, torch.Tensor]:
    """The ``WhisperForConditionalGeneration`` state dict (source dtype kept, e.g. float16)."""
    _check_spec(ct2)
    out: dict[str, torch.Tensor] = {}
    for conv in ("conv1", "conv2"):
        _linear(out, f"model.encoder.{conv}", ct2, f"encoder/{conv}")
    out["model.encoder.embed_positions.weight"] = _t(ct2["encoder/position_encodings/encodings"])
    _norm(out, "model.encoder.layer_norm", ct2, "encoder/layer_norm")
    for i in range(_count_layers(ct2, "encoder")):
        src, dst = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        _self_attention(out, dst, ct2, src)
        _ffn(out, dst, ct2, src)
    out["model.decoder.embed_tokens.weight"] = _t(ct2["decoder/embeddings/weight"])
    out["model.decoder.embed_positions.weight"] = _t(ct2["decoder/position_encodings/encodings"])
    _norm(out, "model.decoder.layer_norm", ct2, "decoder/layer_norm")
    for i in range(_count_layers(ct2, "decoder")):
        src, dst = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        _self_attention(out, dst, ct2, src)
        _cross_attention(out, dst, ct2, src)
        _ffn(out, dst, ct2, src)
    projection = ct2["decoder/projection/weight"] if "decoder/projection/weight" in ct2 else None
    if projection is not None and not np.array_equal(projection, ct2["decoder/embeddings/weight"]):
        raise TalkingHeadError("decoder output projection differs from the token embedding; "
                               "this converter only handles Whisper's tied embeddings")
    out["proj_out.weight"] = out["model.decoder.embed_tokens.weight"]
    return out


def _check_spec(ct2: CT2Model) -> None:
    if ct2.spec != WHISPER_SPEC:
        raise TalkingHeadError(f"expected a CTranslate2 {WHISPER_SPEC}, got {ct2.spec!r}")
    if "decoder/activation" in ct2 and ct2.scalar("decoder/activation") != GELU_ACTIVATION_ID:
        raise TalkingHeadError("unexpected decoder activation in the CTranslate2 Whisper model (GELU expected)")


def _count_layers(ct2: CT2Model, stack: str) -> int:
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in ct2.variables if (m := pattern.match(name))}
    if not indices or indices != set(range(len(indices))):
        raise TalkingHeadError(f"CTranslate2 model has no contiguous {stack} layers")
    return len(indices)


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, copy=True))


def _linear(out: dict, dst: str, ct2: CT2Model, src: str) -> None:
    out[f"{dst}.weight"] = _t(ct2[f"{src}/weight"])
    out[f"{dst}.bias"] = _t(ct2[f"{src}/bias"])


def _norm(out: dict, dst: str, ct2: CT2Model, src: str) -> None:
    out[f"{dst}.weight"] = _t(ct2[f"{src}/gamma"])
    out[f"{dst}.bias"] = _t(ct2[f"{src}/beta"])


def _split_projections(out: dict, dst: str, names: tuple[str, ...], weight: np.ndarray, bias: np.ndarray) -> None:
    """Split a fused (n*D, D) projection into ``names`` (in row order); ``k_proj`` gets no bias."""
    d_model = weight.shape[1]
    assert weight.shape[0] == len(names) * d_model, (weight.shape, names)
    for j, name in enumerate(names):
        rows = slice(j * d_model, (j + 1) * d_model)
        out[f"{dst}.{name}.weight"] = _t(weight[rows])
        if name != "k_proj":
            out[f"{dst}.{name}.bias"] = _t(bias[rows])


def _self_attention(out: dict, dst: str, ct2: CT2Model, src: str) -> None:
    s = f"{src}/self_attention"
    _split_projections(out, f"{dst}.self_attn", ("q_proj", "k_proj", "v_proj"),
                       ct2[f"{s}/linear_0/weight"], ct2[f"{s}/linear_0/bias"])
    _linear(out, f"{dst}.self_attn.out_proj", ct2, f"{s}/linear_1")
    _norm(out, f"{dst}.self_attn_layer_norm", ct2, f"{s}/layer_norm")


def _cross_attention(out: dict, dst: str, ct2: CT2Model, src: str) -> None:
    s = f"{src}/attention"
    _linear(out, f"{dst}.encoder_attn.q_proj", ct2, f"{s}/linear_0")
    _split_projections(out, f"{dst}.encoder_attn", ("k_proj", "v_proj"),
                       ct2[f"{s}/linear_1/weight"], ct2[f"{s}/linear_1/bias"])
    _linear(out, f"{dst}.encoder_attn.out_proj", ct2, f"{s}/linear_2")
    _norm(out, f"{dst}.encoder_attn_layer_norm", ct2, f"{s}/layer_norm")


def _ffn(out: dict, dst: str, ct2: CT2Model, src: str) -> None:
    _linear(out, f"{dst}.fc1", ct2, f"{src}/ffn/linear_0")
    _linear(out, f"{dst}.fc2", ct2, f"{src}/ffn/linear_1")
    _norm(out, f"{dst}.final_layer_norm", ct2, f"{src}/ffn/layer_norm")
