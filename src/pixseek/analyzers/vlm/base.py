"""The contract of a vision-language model: load from a folder, embed images, embed texts, describe.

A model folder is the ONNX layout Immich's model repositories use (layout.py reads it):

    config.json                  open_clip's config: embed_dim, vision_cfg.image_size, text_cfg.context_length
    visual/model.onnx            image tower: pixels (n, 3, H, W) float32 -> (n, D)
    visual/preprocess_cfg.json   size, mean, std, interpolation, resize_mode (else the family's defaults)
    textual/model.onnx           text tower: token ids (n, L) [M-CLIP: input_ids + attention_mask] -> (n, D)
    textual/tokenizer.json       (or CLIP's vocab.json + merges.txt) + tokenizer_config.json (pad_token)

Families: clip.py (OpenAI/open_clip CLIP), siglip.py (SigLIP/SigLIP2), mclip.py (multilingual
M-CLIP text towers with a CLIP image tower). A Hugging Face transformers folder is exported to the
layout once by export.py (torch + transformers, the convert extra).

Both towers' outputs are L2-normalised here, so a dot product is the cosine. Sessions run with
one intra-op thread per worker process, like the classifier (the pool gives the parallelism).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # only an annotation here: the model registry (read by every search) needs no PIL
    from PIL import Image


class ModelFolderError(ValueError):
    """A model folder that cannot be used; the message says what is missing or wrong."""


@dataclass(frozen=True)
class ModelInfo:
    """What a model is, as the library records it with every embedding it made."""

    family: str  # "clip" | "siglip" | "mclip" (multilingual text tower + CLIP image tower)
    name: str  # the user's name for it ("clip-vit-b-32")
    version: str  # content digest of the towers: embeddings of two versions never mix
    dim: int  # embedding size
    image_size: int  # the image tower's input side
    multilingual: bool  # the text tower reads many languages (queries go in as typed)
    context_length: int  # tokens per text
    # The learnt temperature, exp()'d: the multiplier of the cosine (CLIP ~100), and SigLIP's bias
    # (0 for CLIP): SigLIP's own match probability is sigmoid(logit_scale * cos + logit_bias).
    logit_scale: float = 100.0
    logit_bias: float = 0.0

    @property
    def space(self) -> str:
        """The vector space its image embeddings live in (store.spaces)."""
        return f"{self.name}@{self.version}"


class VisionLanguageModel(Protocol):
    info: ModelInfo

    def embed_images(self, images: list[Image.Image]) -> NDArray[np.float32]:
        """(n, dim) L2-normalised image embeddings; preprocessing (resize, crop, mean/std) from the
        model's config. Any mode and size of picture; one batch through the tower."""

    def embed_texts(self, texts: list[str]) -> NDArray[np.float32]:
        """(n, dim) L2-normalised text embeddings (tokenised, padded/truncated to context_length)."""

    @property
    def logit_scale(self) -> float:
        """exp() of the model's learnt temperature: the multiplier of the cosine (= info.logit_scale)."""

    @property
    def logit_bias(self) -> float:
        """SigLIP's learnt bias (0 for CLIP and M-CLIP) (= info.logit_bias)."""


Towers = Literal["both", "image", "text"]


def load_model(folder: Path, threads: int = 1, name: str | None = None, towers: Towers = "both") -> VisionLanguageModel:
    """The model in an ONNX-layout folder, checked (ModelFolderError says what is wrong): both towers
    load and run, the tokenizer reads, the embedding sizes agree. `name` defaults to the folder's.
    `towers="image"` (indexing workers) or `"text"` (the search side) opens only that tower's session
    (the other's graph inputs are still read, and info is the same); calling the missing one raises
    RuntimeError. Create it in the process that uses it (ONNX Runtime sessions never cross a fork)."""
    from pixseek.analyzers.vlm.clip import ClipModel
    from pixseek.analyzers.vlm.layout import Tower, read_layout
    from pixseek.analyzers.vlm.mclip import MultilingualClipModel
    from pixseek.analyzers.vlm.siglip import SiglipModel

    layout = read_layout(Path(folder))
    if towers not in ("both", "image", "text"):
        raise ValueError(f"towers={towers!r}: 'both', 'image' or 'text'")
    visual = Tower(layout.visual_path, "the image tower", threads, session=towers != "text")
    textual = Tower(layout.textual_path, "the text tower", threads, session=towers != "image")
    inputs = set(textual.inputs)
    for family in (MultilingualClipModel, SiglipModel, ClipModel):
        if family.recognises(layout, inputs):
            return family(layout, visual, textual, name)
    raise ModelFolderError(
        f"{folder}: unknown kind of model: its text tower takes {', '.join(sorted(inputs)) or 'no inputs'}; pixseek "
        "knows CLIP and SigLIP towers (one input of token ids, 'text') and M-CLIP ones (input_ids, attention_mask)"
    )


def check_folder(folder: Path, name: str | None = None) -> ModelInfo:
    """What the model in `folder` is, or ModelFolderError saying what is missing or wrong (the
    towers are loaded and run once on a blank picture and a short text, then let go)."""
    return load_model(folder, threads=1, name=name).info
