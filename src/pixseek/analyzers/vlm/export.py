"""A local Hugging Face `transformers` CLIP or SigLIP folder -> the ONNX layout (Immich's).

    config.json                  open_clip style: embed_dim, vision_cfg.image_size, text_cfg.context_length
    visual/model.onnx            "image" float32 (n, 3, S, S) -> "embedding" (n, D), L2-normalised
    visual/preprocess_cfg.json   size, mode, mean, std, interpolation, resize_mode, fill_color
    textual/model.onnx           "text" int32 (n, L) -> "embedding" (n, D) (M-CLIP: input_ids + attention_mask)
    textual/tokenizer.json, tokenizer_config.json, special_tokens_map.json

Immich's exports (open_clip `encode_image/encode_text(normalize=True)`, int32 tokens, inputs named
"image"/"text", output "embedding") are what people already have on disk; this writes the same files,
with a dynamic batch axis. The only module besides analyzers/convert.py that imports torch, and
transformers only inside functions: `pixseek` never imports either otherwise (the convert extra).
Nothing is fetched (HF_HUB_OFFLINE=1, local_files_only). Every export is checked: ONNX Runtime's
outputs must match torch's within `TOLERANCE` on random inputs, or the export is refused.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from pixseek.analyzers.convert import CONVERT_EXTRA_HINT, ConvertError, import_torch
from pixseek.analyzers.vlm.base import ModelFolderError
from pixseek.analyzers.vlm.preprocess import CLIP_MEAN, CLIP_STD, SIGLIP_MEAN, SIGLIP_STD

TOLERANCE = 1e-4  # max |ONNX - torch| over the normalised embeddings
OPSET = 17
# PIL's resample codes as Hugging Face image processors store them -> open_clip's names.
_PIL_RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class ExportError(ModelFolderError, ConvertError):
    """A Hugging Face folder that cannot be exported (the message says why): a refused model folder."""


def export_hf_folder(source: Path, target: Path) -> Path:
    """Export a transformers CLIP/SigLIP folder `source` to the ONNX layout in `target` (made
    atomically: a failed export leaves nothing behind). Returns `target`."""
    config = _read_json(source / "config.json", "the Hugging Face config")
    model_type = config.get("model_type")
    if model_type not in ("clip", "siglip"):
        hint = " (SigLIP2 NaFlex models take variable-size patches; use a fixed-resolution one)" if model_type == "siglip2" else ""
        raise ExportError(
            f"{source}: config.json model_type is {model_type!r}; a CLIP ('clip') or SigLIP ('siglip') "
            f"folder can be exported{hint}"
        )
    if not any((source / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
        raise ExportError(f"{source}: no weights (model.safetensors or pytorch_model.bin)")
    torch = _torch()
    with _offline():
        from transformers import CLIPModel, SiglipModel

        model_class = CLIPModel if model_type == "clip" else SiglipModel
        model = model_class.from_pretrained(str(source), local_files_only=True).eval()
    tokenizer = _tokenizer_files(source)
    vision_cfg, text_cfg = model.config.vision_config, model.config.text_config
    image_size = int(vision_cfg.image_size)
    if model_type == "clip":
        dim = int(model.config.projection_dim)
        context = int(text_cfg.max_position_embeddings)
    else:
        dim = int(vision_cfg.hidden_size)
        context = _siglip_context_length(source, int(text_cfg.max_position_embeddings))
    with _staging(target) as staging:
        visual = _VisionTower(model, model_type)
        textual = _TextTower(model, model_type)
        image = torch.rand(2, 3, image_size, image_size) * 2 - 1
        ids = torch.randint(0, int(text_cfg.vocab_size), (2, context), dtype=torch.int32)
        _export(visual, (image,), staging / "visual" / "model.onnx", ["image"])
        # CLIP's causal text tower never looks past the end token: its graph takes any length, so a
        # short query runs on its few tokens (SigLIP pools the last position: its length stays fixed).
        _export(textual, (ids,), staging / "textual" / "model.onnx", ["text"], dynamic_length=model_type == "clip")
        _check(visual, (image,), staging / "visual" / "model.onnx", ["image"], dim)
        _check(textual, (ids,), staging / "textual" / "model.onnx", ["text"], dim)
        if model_type == "clip":
            _check(textual, (_ended(ids[:, :9], int(text_cfg.eos_token_id)),), staging / "textual" / "model.onnx", ["text"], dim)
        preprocess = _preprocess_cfg(source, model_type, image_size)
        _write_json(staging / "visual" / "preprocess_cfg.json", preprocess)
        _write_tokenizer(staging / "textual", tokenizer, source)
        _write_json(
            staging / "config.json",
            _open_clip_config(model, model_type, dim, context, tokenizer["tokenizer_config.json"]),
        )
    return target


def export_mclip(text_encoder: Path, image_model: Path, target: Path) -> Path:
    """An M-CLIP-style multilingual model: a transformers XLM-R (or any BERT-like) encoder folder
    with its linear projection (`projection.safetensors`: weight (D, hidden), bias (D,)) as the text
    tower, paired with the image tower of the CLIP folder `image_model`. Text side as Immich's M-CLIP
    exports: mean over the attention mask, projection, L2 norm; inputs input_ids + attention_mask."""
    projection_file = text_encoder / "projection.safetensors"
    if not projection_file.is_file():
        raise ExportError(f"{text_encoder}: no projection.safetensors (the M-CLIP linear projection)")
    torch = _torch()
    with _offline():
        from safetensors.torch import load_file
        from transformers import AutoModel, CLIPModel

        encoder = AutoModel.from_pretrained(str(text_encoder), local_files_only=True, add_pooling_layer=False).eval()
        clip = CLIPModel.from_pretrained(str(image_model), local_files_only=True).eval()
    weights = load_file(str(projection_file))
    dim = int(clip.config.projection_dim)
    if tuple(weights["weight"].shape) != (dim, int(encoder.config.hidden_size)):
        raise ExportError(
            f"{text_encoder}: the projection maps {tuple(weights['weight'].shape)[::-1]}, the image tower "
            f"embeds into {dim}: they must meet in one space"
        )
    projection = torch.nn.Linear(int(encoder.config.hidden_size), dim)
    projection.load_state_dict(weights)
    tokenizer = _tokenizer_files(text_encoder)
    context = 77  # Immich's M-CLIP exports pad to 77
    image_size = int(clip.config.vision_config.image_size)
    with _staging(target) as staging:
        visual = _VisionTower(clip, "clip")
        textual = _MeanPooledTextTower(encoder, projection.eval())
        image = torch.rand(2, 3, image_size, image_size) * 2 - 1
        ids = torch.randint(5, int(encoder.config.vocab_size), (2, context), dtype=torch.int32)
        mask = torch.ones(2, context, dtype=torch.int32)
        mask[1, 9:] = 0
        _export(visual, (image,), staging / "visual" / "model.onnx", ["image"])
        # Masked mean pooling ignores padding: the graph takes any length (a short query runs short).
        names = ["input_ids", "attention_mask"]
        _export(textual, (ids, mask), staging / "textual" / "model.onnx", names, dynamic_length=True)
        _check(visual, (image,), staging / "visual" / "model.onnx", ["image"], dim)
        _check(textual, (ids, mask), staging / "textual" / "model.onnx", names, dim)
        _check(textual, (ids[:, :12], mask[:, :12]), staging / "textual" / "model.onnx", names, dim)
        _write_json(staging / "visual" / "preprocess_cfg.json", _preprocess_cfg(image_model, "clip", image_size))
        _write_tokenizer(staging / "textual", tokenizer, text_encoder)
        config = _open_clip_config(clip, "clip", dim, context, tokenizer["tokenizer_config.json"])
        _write_json(staging / "config.json", config)
    return target


# --- the towers as torch modules (image/text -> normalised embedding) ---------------------------


def _pooled(output: Any) -> Any:
    """get_*_features returns a tensor in older transformers, a ModelOutput (pooler_output) in 5.x."""
    return output if hasattr(output, "shape") else output.pooler_output


class _VisionTower:  # built lazily on torch.nn.Module (torch is only importable inside functions)
    def __new__(cls, model: Any, family: str) -> Any:
        torch = import_torch()

        class VisionTower(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, image: Any) -> Any:
                features = _pooled(self.model.get_image_features(pixel_values=image))
                return torch.nn.functional.normalize(features, dim=-1)

        return VisionTower().eval()


class _TextTower:
    def __new__(cls, model: Any, family: str) -> Any:
        torch = import_torch()

        class TextTower(torch.nn.Module):
            """int32 ids (Immich's input type) -> normalised embedding; CLIP's graph pools at the first
            end-of-text token (the config's eos_token_id), SigLIP's at the last position."""

            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, text: Any) -> Any:
                features = _pooled(self.model.get_text_features(input_ids=text.long()))
                return torch.nn.functional.normalize(features, dim=-1)

        return TextTower().eval()


class _MeanPooledTextTower:
    def __new__(cls, encoder: Any, projection: Any) -> Any:
        torch = import_torch()

        class MeanPooledTextTower(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.encoder = encoder
                self.projection = projection

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                hidden = self.encoder(input_ids=input_ids.long(), attention_mask=attention_mask.long())[0]
                mask = attention_mask.to(hidden.dtype).unsqueeze(2)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
                return torch.nn.functional.normalize(self.projection(pooled), dim=-1)

        return MeanPooledTextTower().eval()


# --- export and check -------------------------------------------------------------------------


def _export(
    module: Any, inputs: tuple[Any, ...], onnx_path: Path, input_names: list[str], dynamic_length: bool = False
) -> None:
    torch = import_torch()
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    dynamic: dict[str, dict[int, str]] = {name: {0: "batch"} for name in (*input_names, "embedding")}
    if dynamic_length:
        for name in input_names:
            dynamic[name][1] = "tokens"
    # Some transformers code paths print or warn while tracing; keep the user's terminal clean.
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, inputs, str(onnx_path), input_names=input_names, output_names=["embedding"],
            dynamic_axes=dynamic, opset_version=OPSET, dynamo=False,
        )


def _check(module: Any, inputs: tuple[Any, ...], onnx_path: Path, input_names: list[str], dim: int) -> None:
    """ONNX Runtime on `inputs` (and on one row, for the dynamic batch) must equal torch's output."""
    import onnxruntime as ort

    torch = import_torch()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = module(*inputs).numpy()
    got = session.run(["embedding"], {n: x.numpy() for n, x in zip(input_names, inputs)})[0]
    single = session.run(["embedding"], {n: x[:1].numpy() for n, x in zip(input_names, inputs)})[0]
    if got.shape != (len(expected), dim):
        raise ExportError(f"{onnx_path}: the exported tower gives {got.shape}, expected (n, {dim})")
    worst = max(float(np.abs(got - expected).max()), float(np.abs(single - expected[:1]).max()))
    if not worst <= TOLERANCE:
        raise ExportError(f"{onnx_path}: ONNX Runtime differs from torch by {worst:.2e} (> {TOLERANCE})")


def _ended(ids: Any, end_token: int) -> Any:
    """Token rows that end with (and only there have) the end token, as the tokenizer makes them:
    for checking the graph on inputs shorter than the context."""
    torch = import_torch()
    body = ids[:, :-1]
    body = torch.where(body == end_token, torch.full_like(body, end_token + 1 if end_token == 0 else end_token - 1), body)
    return torch.cat([body, torch.full_like(ids[:, :1], end_token)], dim=1)


# --- the files beside the graphs ----------------------------------------------------------------


def _tokenizer_files(source: Path) -> dict[str, Any]:
    """tokenizer.json (the `tokenizers` file the text side runs on, as text), tokenizer_config.json
    and the special tokens. A folder with only a sentencepiece Unigram model (spiece.model, as
    google/siglip-* ship it) gets its tokenizer.json converted from it (protobuf; no sentencepiece);
    one with only OpenAI's vocab.json + merges.txt, CLIP's tokenizer built from them."""
    config = _read_json(source / "tokenizer_config.json", "the tokenizer config") if (source / "tokenizer_config.json").is_file() else {}
    special = _read_json(source / "special_tokens_map.json", "the special tokens") if (source / "special_tokens_map.json").is_file() else {}
    for key in ("bos_token", "eos_token", "unk_token", "pad_token", "mask_token"):
        value = config.get(key, special.get(key))
        if isinstance(value, dict):
            value = value.get("content")
        if value is not None:
            config[key], special[key] = value, value
    if (source / "tokenizer.json").is_file():
        _read_json(source / "tokenizer.json", "the tokenizer")
        tokenizer_text = (source / "tokenizer.json").read_text(encoding="utf-8")
    elif (source / "spiece.model").is_file():
        tokenizer_text = sentencepiece_to_tokenizer(source / "spiece.model", config.get("eos_token", "</s>")).to_str()
    elif (source / "vocab.json").is_file() and (source / "merges.txt").is_file():  # OpenAI CLIP's BPE files
        from pixseek.analyzers.vlm.tokenize import TokenizerError, clip_bpe_tokenizer

        try:
            tokenizer_text = clip_bpe_tokenizer(source / "vocab.json", source / "merges.txt").to_str()
        except TokenizerError as exc:
            raise ExportError(str(exc)) from None
    else:
        present = [p.name for p in source.iterdir() if p.name in ("sentencepiece.bpe.model", "vocab.json", "vocab.txt")]
        hint = f" ({', '.join(present)} only: save it with a fast tokenizer first)" if present else ""
        raise ExportError(f"{source}: no tokenizer.json, spiece.model or vocab.json + merges.txt{hint}")
    if "pad_token" not in config:
        raise ExportError(f"{source}: the tokenizer names no pad_token (tokenizer_config.json)")
    return {"tokenizer.json": tokenizer_text, "tokenizer_config.json": config, "special_tokens_map.json": special}


def sentencepiece_to_tokenizer(model_file: Path, end_token: str) -> Any:
    """A sentencepiece Unigram model -> the equivalent `tokenizers.Tokenizer`, as transformers'
    SpmConverter builds it (the normaliser's precompiled character map, `▁` word starts), with the
    end token appended as SigLIP's tokenizer does. Read with protobuf: no sentencepiece package."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers.convert_slow_tokenizer import import_protobuf

    proto = import_protobuf().ModelProto()
    try:
        proto.ParseFromString(model_file.read_bytes())
    except Exception as exc:  # google.protobuf.message.DecodeError
        raise ExportError(f"{model_file}: not a sentencepiece model ({exc})") from exc
    if proto.trainer_spec.model_type != 1 or not proto.pieces:  # UNIGRAM
        raise ExportError(f"{model_file}: only sentencepiece Unigram models can be converted")
    vocab = [(piece.piece, piece.score) for piece in proto.pieces]
    tokenizer = Tokenizer(
        models.Unigram(vocab, unk_id=proto.trainer_spec.unk_id, byte_fallback=proto.trainer_spec.byte_fallback)
    )
    steps = [normalizers.Replace(Regex(" {2,}"), " ")]
    if proto.normalizer_spec.precompiled_charsmap:
        steps.insert(0, normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    special = [piece.piece for piece in proto.pieces if piece.type in (2, 3)]  # UNKNOWN, CONTROL
    tokenizer.add_special_tokens(special)
    end_id = tokenizer.token_to_id(end_token)
    if end_id is None:
        raise ExportError(f"{model_file}: the end token {end_token!r} is not in the sentencepiece vocabulary")
    tokenizer.post_processor = processors.TemplateProcessing(single=f"$A {end_token}", special_tokens=[(end_token, end_id)])
    return tokenizer


def _write_tokenizer(folder: Path, files: dict[str, Any], source: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(files["tokenizer.json"], encoding="utf-8")
    _write_json(folder / "tokenizer_config.json", files["tokenizer_config.json"])
    _write_json(folder / "special_tokens_map.json", files["special_tokens_map.json"])


def _preprocess_cfg(source: Path, family: str, image_size: int) -> dict[str, Any]:
    """open_clip's preprocess config from the folder's preprocessor_config.json (or the family's
    defaults): CLIP resizes the shorter side and crops the centre, SigLIP squashes to a square."""
    processor = _read_json(source / "preprocessor_config.json", "the image processor") if (source / "preprocessor_config.json").is_file() else {}
    clip = family == "clip"
    resample = processor.get("resample", 3 if clip else 2)
    return {
        "size": [image_size, image_size],
        "mode": "RGB",
        "mean": list(processor.get("image_mean", CLIP_MEAN if clip else SIGLIP_MEAN)),
        "std": list(processor.get("image_std", CLIP_STD if clip else SIGLIP_STD)),
        "interpolation": _PIL_RESAMPLE_NAMES.get(int(resample), "bicubic"),
        "resize_mode": "shortest" if clip and processor.get("do_center_crop", True) else "squash",
        "fill_color": 0,
    }


def _open_clip_config(model: Any, family: str, dim: int, context: int, tokenizer_config: dict[str, Any]) -> dict[str, Any]:
    vision, text = model.config.vision_config, model.config.text_config
    config: dict[str, Any] = {
        "embed_dim": dim,
        "vision_cfg": {
            "image_size": int(vision.image_size), "patch_size": int(vision.patch_size),
            "width": int(vision.hidden_size), "layers": int(vision.num_hidden_layers),
        },
        "text_cfg": {
            "context_length": context, "vocab_size": int(text.vocab_size),
            "width": int(text.hidden_size), "heads": int(text.num_attention_heads), "layers": int(text.num_hidden_layers),
        },
        # Not open_clip keys: the learnt temperature (and SigLIP's bias), for calibrating scores.
        "logit_scale": float(model.logit_scale.detach().exp()),
    }
    if family == "siglip":
        config["init_logit_bias"] = config["logit_bias"] = float(model.logit_bias.detach())
        config["custom_text"] = True
        config["vision_cfg"]["timm_model_name"] = "siglip"
        if tokenizer_config.get("tokenizer_class") == "SiglipTokenizer":  # lowercases and drops punctuation
            config["text_cfg"]["tokenizer_kwargs"] = {"clean": "canonicalize"}
    return config


def _siglip_context_length(source: Path, positions: int) -> int:
    config_file = source / "tokenizer_config.json"
    configured = _read_json(config_file, "the tokenizer config").get("model_max_length") if config_file.is_file() else None
    return int(configured) if isinstance(configured, int) and 0 < configured <= positions else positions


# --- helpers --------------------------------------------------------------------------------------


def _torch() -> Any:
    torch = import_torch()
    try:
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ExportError(f"exporting a Hugging Face folder needs transformers: {CONVERT_EXTRA_HINT}") from exc
    return torch


@contextlib.contextmanager
def _offline():  # type: ignore[no-untyped-def]
    """transformers must never reach for the hub (a look-up would take ~26 s to fail here)."""
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _staging(target: Path):  # type: ignore[no-untyped-def]
    """A sibling temporary folder renamed to `target` only when everything in it was written."""
    if target.exists() and any(target.iterdir()):
        raise ExportError(f"{target} exists and is not empty")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.export-"))
    staging.chmod(0o755)  # mkdtemp's 0700 is not what a model folder needs
    try:
        yield staging
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise ExportError(f"{path.parent}: no {path.name} ({what})")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ExportError(f"{path}: not a JSON object")
    return value


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


