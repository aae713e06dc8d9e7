"""Texts -> token ids for a text tower, with the `tokenizers` package, as Immich feeds its towers:
the folder's `textual/tokenizer.json` (its own normaliser, pre-tokeniser and special tokens), padded
with the tokenizer config's `pad_token` and truncated to the context length (end token kept).

A CLIP folder that carries only `vocab.json` + `merges.txt` (OpenAI's BPE files) gets CLIP's
tokenizer built from them: lowercase, CLIP's word split, byte-level BPE with `</w>` word ends,
`<|startoftext|> ... <|endoftext|>`.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

# The words OpenAI CLIP's tokenizer splits into before BPE.
CLIP_SPLIT = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
_PUNCTUATION = str.maketrans("", "", string.punctuation)


class TokenizerError(ValueError):
    """A tokenizer that cannot be used (the folder check reports it as the folder's fault)."""


@dataclass(frozen=True)
class Tokens:
    ids: NDArray[np.int64]  # (n, context_length)
    attention_mask: NDArray[np.int64]  # (n, context_length), 1 on real tokens


class TextTokenizer:
    def __init__(self, tokenizer: Any, pad_token: str, context_length: int, canonicalize: bool = False) -> None:
        pad_id = tokenizer.token_to_id(pad_token)
        if pad_id is None:
            raise TokenizerError(f"the pad token {pad_token!r} is not in the tokenizer's vocabulary")
        tokenizer.enable_padding(length=context_length, pad_id=pad_id, pad_token=pad_token)
        tokenizer.enable_truncation(max_length=context_length)
        self._tokenizer = tokenizer
        self.context_length = context_length
        self.canonicalize = canonicalize
        self.vocab_size: int = tokenizer.get_vocab_size()

    @classmethod
    def from_folder(cls, folder: Path, context_length: int, canonicalize: bool = False) -> "TextTokenizer":
        """The tokenizer in a tower folder (`textual/`): tokenizer.json, or CLIP's vocab.json +
        merges.txt; the pad token from tokenizer_config.json / special_tokens_map.json."""
        tokenizer = load_tokenizer(folder)
        return cls(tokenizer, pad_token(folder, tokenizer), context_length, canonicalize)

    def clean(self, text: str) -> str:
        """Whitespace squeezed; SigLIP's canonical form (lowercase, no punctuation) if asked."""
        text = " ".join(text.split())
        return text.translate(_PUNCTUATION).lower() if self.canonicalize else text

    def encode(self, texts: list[str]) -> Tokens:
        encodings = self._tokenizer.encode_batch([self.clean(t) for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(texts), self.context_length)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64).reshape(ids.shape)
        return Tokens(ids, mask)


def load_tokenizer(folder: Path) -> Any:
    """A `tokenizers.Tokenizer` from the tower folder, or TokenizerError saying what is missing/wrong."""
    from tokenizers import Tokenizer

    tokenizer_file = folder / "tokenizer.json"
    if tokenizer_file.is_file():
        try:
            return Tokenizer.from_file(str(tokenizer_file))
        except Exception as exc:  # the Rust side raises a bare Exception for every kind of bad file
            raise TokenizerError(f"{tokenizer_file} is not a tokenizer the tokenizers package can read ({exc})") from exc
    vocab, merges = folder / "vocab.json", folder / "merges.txt"
    if vocab.is_file() and merges.is_file():
        return clip_bpe_tokenizer(vocab, merges)
    others = sorted(p.name for p in folder.iterdir() if p.suffix == ".model") if folder.is_dir() else []
    if others:
        raise TokenizerError(
            f"{folder}: unknown tokenizer ({', '.join(others)}: a sentencepiece model); "
            "it needs tokenizer.json (save the tokenizer with a fast tokenizer)"
        )
    raise TokenizerError(f"{folder}: no tokenizer (tokenizer.json, or vocab.json + merges.txt)")


def clip_bpe_tokenizer(vocab: Path, merges: Path) -> Any:
    """OpenAI CLIP's tokenizer from its BPE files, as Hugging Face's CLIPTokenizerFast builds it."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    try:
        bpe = models.BPE.from_file(str(vocab), str(merges), unk_token="<|endoftext|>", end_of_word_suffix="</w>")
    except Exception as exc:
        raise TokenizerError(f"{vocab.parent}: vocab.json + merges.txt are not a BPE tokenizer ({exc})") from exc
    tokenizer = Tokenizer(bpe)
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(CLIP_SPLIT), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    bos, eos = tokenizer.token_to_id("<|startoftext|>"), tokenizer.token_to_id("<|endoftext|>")
    if bos is None or eos is None:
        raise TokenizerError(f"{vocab}: no <|startoftext|>/<|endoftext|> tokens: not CLIP's vocabulary")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", bos), ("<|endoftext|>", eos)],
    )
    return tokenizer


def pad_token(folder: Path, tokenizer: Any) -> str:
    """The pad token the folder names (tokenizer_config.json, then special_tokens_map.json), else the
    tokenizer's own padding, else CLIP's end token when the vocabulary has it."""
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            value = json.loads(path.read_text(encoding="utf-8")).get("pad_token")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
            raise TokenizerError(f"{path} is not readable JSON ({exc})") from exc
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            return value
    if tokenizer.padding is not None and tokenizer.padding.get("pad_token"):
        return str(tokenizer.padding["pad_token"])
    if tokenizer.token_to_id("<|endoftext|>") is not None:
        return "<|endoftext|>"
    raise TokenizerError(f"{folder}: the tokenizer names no pad_token (tokenizer_config.json)")
