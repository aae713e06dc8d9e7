"""Tiny random vision-language models made at test time, offline (no hub, no downloads).

Each builder writes a folder in the form users bring:
- `make_tiny_clip(dir)`: a Hugging Face `transformers` CLIP folder (config.json, model.safetensors,
  a byte-level BPE tokenizer trained here with `tokenizers`, as CLIP's: `</w>` word ends,
  `<|startoftext|>`/`<|endoftext|>`).
- `make_tiny_siglip(dir)`: a Hugging Face SigLIP folder (a Unigram/sentencepiece-style
  tokenizer.json, `</s>` appended and used as padding, fixed-length padding).
- `make_tiny_xlmr(dir)`: an XLM-R-style encoder (XLMRobertaModel) with a Unigram tokenizer and the
  M-CLIP linear projection in `projection.safetensors`, for `export_mclip` with a CLIP image tower.

The weights are random: the tests check shapes, agreement between torch and ONNX Runtime, and the
plumbing, not what the models see. Sizes are chosen so that everything builds in a few seconds.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # transformers must never look anything up

# Words to train the tokenizers on: enough for a few hundred merges, some accented for XLM-R.
CORPUS = [
    "a photo of a dog", "a photo of a cat", "a cat sitting on a red sofa", "the sunset over the sea",
    "a tree in the snow", "a person on a bike", "a birthday cake with candles", "a black and white photo",
    "two people walking on the beach", "a bowl of fruit on a wooden table", "mountains under a blue sky",
    "a car parked in the street", "a bird flying over the lake", "children playing football in the park",
    "un chat sur le canapé", "der Hund im Schnee", "el árbol en la montaña", "una torta di compleanno",
    "le coucher du soleil sur la mer", "ein Fahrrad an der Wand", "photo d'une fête d'anniversaire",
]
CLIP_VOCAB = 400
SIGLIP_VOCAB = 300
XLMR_VOCAB = 300
IMAGE_SIZE = 32
PATCH_SIZE = 8
PROJECTION_DIM = 24
CLIP_CONTEXT = 77
SIGLIP_CONTEXT = 16
SEED = 1234


def _corpus() -> list[str]:
    return CORPUS * 4


def clip_tokenizer():  # -> tokenizers.Tokenizer
    """A CLIP-style byte-level BPE: NFC + whitespace squeeze + lowercase, `</w>` at word ends,
    `<|startoftext|> $A <|endoftext|>`."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""),
                behavior="removed",
                invert=True,
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=CLIP_VOCAB,
        special_tokens=["<|startoftext|>", "<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    bos, eos = tokenizer.token_to_id("<|startoftext|>"), tokenizer.token_to_id("<|endoftext|>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", bos), ("<|endoftext|>", eos)],
    )
    return tokenizer


def unigram_tokenizer(vocab_size: int, specials: list[str], template: str, lowercase: bool):
    """A sentencepiece-style Unigram tokenizer (Metaspace `▁` word starts) trained here."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.Unigram())
    steps = [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " ")]
    tokenizer.normalizer = normalizers.Sequence(steps + ([normalizers.Lowercase()] if lowercase else []))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    unk = next(t for t in specials if "unk" in t)
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=specials, unk_token=unk, show_progress=False
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    used = [t for t in specials if t in template]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(t, tokenizer.token_to_id(t)) for t in used]
    )
    return tokenizer


def _save_fast_tokenizer(tokenizer, folder: Path, max_length: int, **special: str) -> None:
    """Save through transformers so the folder has what save_pretrained writes (tokenizer.json,
    tokenizer_config.json, special tokens)."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=max_length, **special)
    fast.save_pretrained(str(folder))


def make_tiny_clip(folder: Path, *, projection_dim: int = PROJECTION_DIM, image_size: int = IMAGE_SIZE) -> Path:
    """A random CLIPModel (2 layers, 32-wide towers) saved as a Hugging Face folder."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = clip_tokenizer()
    eos = tokenizer.token_to_id("<|endoftext|>")
    bos = tokenizer.token_to_id("<|startoftext|>")
    config = CLIPConfig(
        text_config=dict(
            vocab_size=tokenizer.get_vocab_size(), hidden_size=32, intermediate_size=64,
            num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=CLIP_CONTEXT,
            bos_token_id=bos, eos_token_id=eos, pad_token_id=eos,
        ),
        vision_config=dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=image_size, patch_size=PATCH_SIZE,
        ),
        projection_dim=projection_dim,
    )
    torch.manual_seed(SEED)
    model = CLIPModel(config).eval()
    model.save_pretrained(str(folder))
    _save_fast_tokenizer(
        tokenizer, folder, CLIP_CONTEXT,
        bos_token="<|startoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    _write_image_processor(folder, image_size, "clip")
    return folder


def make_tiny_siglip(folder: Path, *, image_size: int = IMAGE_SIZE) -> Path:
    """A random SiglipModel saved as a Hugging Face folder (tokenizer.json, as SigLIP2 folders have)."""
    import torch
    from transformers import SiglipConfig, SiglipModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = unigram_tokenizer(SIGLIP_VOCAB, ["<pad>", "</s>", "<unk>"], "$A </s>", lowercase=True)
    eos = tokenizer.token_to_id("</s>")
    config = SiglipConfig(
        text_config=dict(
            vocab_size=tokenizer.get_vocab_size(), hidden_size=32, intermediate_size=64,
            num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=SIGLIP_CONTEXT,
            pad_token_id=eos, eos_token_id=eos, bos_token_id=eos, projection_size=32,
        ),
        vision_config=dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            image_size=image_size, patch_size=PATCH_SIZE,
        ),
    )
    torch.manual_seed(SEED)
    model = SiglipModel(config).eval()
    with torch.no_grad():  # the SigLIP paper's init (transformers' leaves exp(scale) = 1, bias 0)
        model.logit_scale.fill_(math.log(10.0))
        model.logit_bias.fill_(-10.0)
    model.save_pretrained(str(folder))
    _save_fast_tokenizer(tokenizer, folder, SIGLIP_CONTEXT, eos_token="</s>", unk_token="<unk>", pad_token="</s>")
    _write_image_processor(folder, image_size, "siglip")
    return folder


def make_tiny_xlmr(folder: Path, *, projection_dim: int = PROJECTION_DIM) -> Path:
    """An XLM-R-style encoder (XLMRobertaModel) + M-CLIP's linear projection to `projection_dim`
    (`projection.safetensors`: `weight` (dim, hidden), `bias` (dim,))."""
    import torch
    from safetensors.torch import save_file
    from transformers import XLMRobertaConfig, XLMRobertaModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = unigram_tokenizer(
        XLMR_VOCAB, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<s> $A </s>", lowercase=False
    )
    config = XLMRobertaConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=CLIP_CONTEXT + 2,
        pad_token_id=tokenizer.token_to_id("<pad>"), bos_token_id=tokenizer.token_to_id("<s>"),
        eos_token_id=tokenizer.token_to_id("</s>"),
    )
    torch.manual_seed(SEED)
    XLMRobertaModel(config, add_pooling_layer=False).eval().save_pretrained(str(folder))
    linear = torch.nn.Linear(32, projection_dim)
    save_file({"weight": linear.weight.detach().contiguous(), "bias": linear.bias.detach().contiguous()},
              str(folder / "projection.safetensors"))
    _save_fast_tokenizer(
        tokenizer, folder, CLIP_CONTEXT,
        bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
    )
    return folder


def _write_image_processor(folder: Path, image_size: int, family: str) -> None:
    """preprocessor_config.json as the hub's CLIP/SigLIP folders carry it."""
    if family == "clip":
        processor = {
            "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": image_size},
            "resample": 3, "do_center_crop": True, "crop_size": {"height": image_size, "width": image_size},
            "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
            "do_convert_rgb": True,
        }
    else:
        processor = {
            "image_processor_type": "SiglipImageProcessor", "do_resize": True,
            "size": {"height": image_size, "width": image_size}, "resample": 2, "do_rescale": True,
            "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5],
        }
    (folder / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))
