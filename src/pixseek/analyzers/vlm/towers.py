"""What the families share: an image tower and a text tower on ONNX Runtime, the preprocessing and
the tokenizer from the folder, the checks that the three agree. clip.py, siglip.py and mclip.py say
what differs (defaults, how texts are fed, how the family is recognised)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixseek.analyzers.vlm.base import ModelFolderError, ModelInfo
from pixseek.analyzers.vlm.layout import ModelLayout, Tower, folder_digest, normalised
from pixseek.analyzers.vlm.preprocess import ImagePreprocess
from pixseek.analyzers.vlm.tokenize import TextTokenizer, Tokens, TokenizerError

DEFAULT_CONTEXT_LENGTH = 77  # open_clip's default when text_cfg has none
MULTILINGUAL_VOCABULARY = 100_000  # CLIP's BPE has 49,408 tokens, SigLIP's 32,000; XLM-R 250,002, Gemma 256,000
# Names in open_clip's text_cfg.hf_tokenizer_name of tokenizers that read many languages.
MULTILINGUAL_TOKENIZERS = ("xlm-roberta", "nllb", "i18n", "multilingual", "labse", "siglip2", "gemma")


class OnnxVisionLanguageModel:
    """A VisionLanguageModel on two ONNX Runtime sessions (see base.py for the contract)."""

    family: ClassVar[str]
    default_preprocess: ClassVar[ImagePreprocess]
    default_logit_scale: ClassVar[float]
    default_logit_bias: ClassVar[float] = 0.0
    canonicalize_default: ClassVar[bool] = False
    # The text tower ignores what follows the last real token (causal attention pooled at the end
    # token, or a masked mean): a graph that takes any length then runs a query on its own tokens.
    padding_is_ignored: ClassVar[bool] = False

    def __init__(self, layout: ModelLayout, visual: Tower, textual: Tower, name: str | None = None) -> None:
        self._layout, self._visual, self._textual = layout, visual, textual
        self._check_text_inputs(textual)
        self._image_input = self._check_image_input(visual)
        try:
            self.preprocess = ImagePreprocess.from_config(layout.preprocess, self._preprocess_defaults())
        except ValueError as exc:
            raise ModelFolderError(f"{layout.folder / 'visual' / 'preprocess_cfg.json'}: {exc}") from None
        self._check_image_size()
        context_length = self._context_length()
        self._trims_padding = self.padding_is_ignored and all(
            not isinstance(spec.shape[1], int) for spec in textual.inputs.values()
        )
        try:
            self.tokenizer = TextTokenizer.from_folder(layout.text_folder, context_length, self._canonicalize())
        except TokenizerError as exc:
            raise ModelFolderError(str(exc)) from None
        dim = self._check_dims()
        config = layout.config
        self._logit_scale = _number(config.get("logit_scale"), self.default_logit_scale)
        self._logit_bias = _number(config.get("logit_bias"), self.default_logit_bias)
        self.info = ModelInfo(
            family=self.family,
            name=name or layout.folder.resolve().name,
            version=folder_digest(layout),
            dim=dim,
            image_size=self.preprocess.size,
            multilingual=self._multilingual(),
            context_length=context_length,
            logit_scale=self._logit_scale,
            logit_bias=self._logit_bias,
        )

    # --- the contract ---

    def embed_images(self, images: list[Image.Image]) -> NDArray[np.float32]:
        if not images:
            return np.zeros((0, self.info.dim), np.float32)
        return normalised(self._visual.run({self._image_input: self.preprocess.batch(images)}))

    def embed_texts(self, texts: list[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.info.dim), np.float32)
        tokens = self.tokenizer.encode(texts)
        if self._trims_padding:
            longest = max(1, int(tokens.attention_mask.sum(axis=1).max()))
            tokens = Tokens(tokens.ids[:, :longest], tokens.attention_mask[:, :longest])
        return normalised(self._textual.run(self.text_feeds(tokens)))

    @property
    def logit_scale(self) -> float:
        return self._logit_scale

    @property
    def logit_bias(self) -> float:
        return self._logit_bias

    # --- what the families say ---

    @classmethod
    def recognises(cls, layout: ModelLayout, text_inputs: set[str]) -> bool:
        raise NotImplementedError

    def text_feeds(self, tokens: Tokens) -> dict[str, NDArray[Any]]:
        """The text tower's inputs for the tokens (CLIP/SigLIP: the ids alone)."""
        (name,) = self._textual.inputs
        return {name: tokens.ids}

    def _check_text_inputs(self, textual: Tower) -> None:
        if len(textual.inputs) != 1:
            raise ModelFolderError(
                f"{textual.path}: a {self.family} text tower takes one input (the token ids), "
                f"this one takes {', '.join(textual.inputs)}"
            )

    def _preprocess_defaults(self) -> ImagePreprocess:
        d = self.default_preprocess
        size = self._layout.vision_cfg.get("image_size", d.size)
        if isinstance(size, list) and size:
            size = size[0]
        size = size if isinstance(size, int) and not isinstance(size, bool) else d.size  # from_config checks the rest
        return ImagePreprocess(size, d.mean, d.std, d.interpolation, d.resize_mode, d.fill_color)

    def _canonicalize(self) -> bool:
        kwargs = self._layout.text_cfg.get("tokenizer_kwargs")
        if isinstance(kwargs, dict) and "clean" in kwargs:
            return kwargs["clean"] == "canonicalize"
        return self.canonicalize_default

    # --- checks ---

    def _check_image_input(self, visual: Tower) -> str:
        if len(visual.inputs) != 1:
            raise ModelFolderError(
                f"{visual.path}: the image tower takes {len(visual.inputs)} inputs ({', '.join(visual.inputs)}); "
                "pixseek knows towers that take one (n, 3, H, W) picture batch"
            )
        (spec,) = visual.inputs.values()
        channels = spec.shape[1] if len(spec.shape) == 4 else 0
        if spec.dtype not in (np.float32, np.float16) or (isinstance(channels, int) and channels != 3):
            raise ModelFolderError(
                f"{visual.path}: the image tower's input {spec.name!r} is {spec.dtype.__name__} {list(spec.shape)}; "
                "pixseek feeds float pixels (n, 3, H, W)"
            )
        return spec.name

    def _check_image_size(self) -> None:
        size = self.preprocess.size
        configured = self._layout.vision_cfg.get("image_size")
        if isinstance(configured, list) and configured:
            configured = configured[0]
        if isinstance(configured, int) and configured != size:
            raise ModelFolderError(
                f"{self._layout.folder}: config.json says image_size {configured}, "
                f"visual/preprocess_cfg.json says size {size}"
            )
        (spec,) = self._visual.inputs.values()
        fixed = [d for d in spec.shape[2:] if isinstance(d, int)]
        if any(d != size for d in fixed):
            raise ModelFolderError(
                f"{self._visual.path}: the image tower takes {list(spec.shape[2:])} pixels, the config says {size}"
            )

    def _context_length(self) -> int:
        configured = self._layout.text_cfg.get("context_length", DEFAULT_CONTEXT_LENGTH)
        if not isinstance(configured, int) or isinstance(configured, bool) or not 1 <= configured <= 4096:
            raise ModelFolderError(f"{self._layout.folder / 'config.json'}: text_cfg.context_length {configured!r}")
        for spec in self._textual.inputs.values():
            if len(spec.shape) != 2:
                raise ModelFolderError(
                    f"{self._textual.path}: the text tower's input {spec.name!r} has shape {list(spec.shape)}, "
                    "not (n, tokens)"
                )
            if isinstance(spec.shape[1], int) and spec.shape[1] != configured:
                raise ModelFolderError(
                    f"{self._textual.path}: the text tower takes {spec.shape[1]} tokens, "
                    f"config.json says context_length {configured}"
                )
        return configured

    def _check_dims(self) -> int:
        """Run the loaded towers once: their embedding sizes must equal config.json's embed_dim."""
        dim = int(self._layout.config["embed_dim"])
        size = self.preprocess.size
        found = {}
        if self._visual.loaded:
            found["image"] = self._visual.run({self._image_input: np.zeros((1, 3, size, size), np.float32)}).shape[1]
        if self._textual.loaded:
            found["text"] = self._textual.run(self.text_feeds(self.tokenizer.encode(["a photo"]))).shape[1]
        if len(set(found.values())) > 1:
            raise ModelFolderError(
                f"{self._layout.folder}: the image tower embeds into {found['image']} dimensions, the text tower into "
                f"{found['text']}: they are not one model's towers"
            )
        if any(d != dim for d in found.values()):
            (got,) = set(found.values())
            raise ModelFolderError(f"{self._layout.folder}: config.json says embed_dim {dim}, the towers embed into {got}")
        return dim

    def _multilingual(self) -> bool:
        flag = self._layout.config.get("multilingual")
        if isinstance(flag, bool):
            return flag
        name = str(self._layout.text_cfg.get("hf_tokenizer_name", "")).lower()
        return any(marker in name for marker in MULTILINGUAL_TOKENIZERS) or (
            self.tokenizer.vocab_size > MULTILINGUAL_VOCABULARY
        )


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
