"""Greedy Whisper transcription: proves converted weights are real and serves as a text label source.

Audio is cut into consecutive 30 s segments (Whisper's training length), each decoded greedily
with the key/value cache from the start prompt until ``<|endoftext|>``:

* English-only models: ``<|startoftranscript|> <|notimestamps|>``;
* multilingual models: ``<|startoftranscript|> <|lang|> <|transcribe|> <|notimestamps|>``.

The generation config's ``suppress_tokens`` and the timestamp tokens are never emitted, and
``begin_suppress_tokens`` (blank, end of text) not as the first token, as in Whisper's own decoder.
"""

from __future__ import annotations

import torch

from ..errors import InvalidControlError
from .mel import CHUNK_FRAMES, as_tensor, whisper_log_mel
from .whisper_models import WhisperBundle

MAX_NEW_TOKENS = 224  # Whisper's per-segment sample length (half the 448-token context)


def start_tokens(bundle: WhisperBundle, language: str = "en") -> list[int]:
    """The decoder prompt for transcription without timestamps (see module docstring)."""
    generation = bundle.model.generation_config
    tokenizer = bundle.tokenizer
    prompt = [tokenizer.convert_tokens_to_ids("<|startoftranscript|>")]
    if getattr(generation, "is_multilingual", bundle.model.config.vocab_size >= 51865):
        language_id = tokenizer.convert_tokens_to_ids(f"<|{language}|>")
        if language_id is None or language_id == tokenizer.unk_token_id:
            raise InvalidControlError(f"unknown Whisper language code {language!r} (e.g. 'en', 'de', 'zh')")
        prompt += [language_id, tokenizer.convert_tokens_to_ids("<|transcribe|>")]
    return prompt + [tokenizer.convert_tokens_to_ids("<|notimestamps|>")]


@torch.inference_mode()
def transcribe(bundle: WhisperBundle, audio, language: str = "en") -> str:
    """Text of 16 kHz mono ``audio`` (numpy or tensor ``(n,)``), segments joined by spaces."""
    model = bundle.model
    device = next(model.parameters()).device
    mel = whisper_log_mel(as_tensor(audio), model.config.num_mel_bins).to(device)  # (M, 3000 k)
    prompt = start_tokens(bundle, language)
    texts = []
    for start in range(0, mel.shape[-1], CHUNK_FRAMES):
        tokens = _greedy_segment(model, mel[None, :, start:start + CHUNK_FRAMES], prompt)
        texts.append(bundle.tokenizer.decode(tokens, skip_special_tokens=True).strip())
    return " ".join(t for t in texts if t)


def _greedy_segment(model, mel: torch.Tensor, prompt: list[int]) -> list[int]:
    """Greedy token ids (prompt excluded, end token excluded) for one 30 s mel segment ``(1, M, 3000)``."""
    generation = model.generation_config
    eos = generation.eos_token_id
    vocab = model.config.vocab_size
    always = _mask(generation.suppress_tokens, vocab, mel.device)
    always[generation.no_timestamps_token_id + 1:] = True  # timestamp tokens: not in this mode
    at_start = always | _mask(generation.begin_suppress_tokens, vocab, mel.device)
    encoder_out = model.get_encoder()(mel)
    ids = torch.tensor([prompt], device=mel.device)
    past, generated = None, []
    for step in range(MAX_NEW_TOKENS):
        out = model(encoder_outputs=encoder_out, decoder_input_ids=ids, past_key_values=past, use_cache=True)
        logits = out.logits[0, -1].masked_fill(at_start if step == 0 else always, float("-inf"))  # (V,)
        token = int(logits.argmax())
        if token == eos:
            break
        generated.append(token)
        past, ids = out.past_key_values, torch.tensor([[token]], device=mel.device)
    return generated


def _mask(token_ids, vocab_size: int, device) -> torch.Tensor:
    mask = torch.zeros(vocab_size, dtype=torch.bool, device=device)
    valid = [t for t in (token_ids or []) if 0 <= t < vocab_size]
    mask[valid] = True
    return mask
