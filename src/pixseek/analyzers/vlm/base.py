"""The contract of a vision-language model: load from a folder, embed images, embed texts, describe.

A model folder is the ONNX layout Immich's model repositories use:

    config.json            embedding size, image size, normalisation (family-specific keys)
    visual/model.onnx      image tower: pixels (n, 3, H, W) float32 -> (n, D)
    textual/model.onnx     text tower: token ids (n, L) [+ attention mask] -> (n, D)
    tokenizer.json         (or vocab.json + merges.txt, or sentencepiece files)

Both towers' outputs are L2-normalised here, so a dot product is the cosine. Sessions run with
one intra-op thread per worker process, like the classifier (the pool gives the parallelism).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
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

    @property
    def space(self) -> str:
        """The vector space its image embeddings live in (store.spaces)."""
        return f"{self.name}@{self.version}"


class VisionLanguageModel(Protocol):
    info: ModelInfo

    def embed_images(self, images: list[Image.Image]) -> NDArray[np.float32]:
        """(n, dim) L2-normalised image embeddings; preprocessing (resize, crop, mean/std) from the
        model's config. Any mode and size of picture."""

    def embed_texts(self, texts: list[str]) -> NDArray[np.float32]:
        """(n, dim) L2-normalised text embeddings (tokenised, padded/truncated to context_length)."""

    @property
    def logit_scale(self) -> float:
        """The model's learnt temperature (and bias, for SigLIP: `logit_bias`), for calibration."""


def load_model(folder: Path, threads: int = 1) -> VisionLanguageModel:
    """The model in an ONNX-layout folder (checked: ModelFolderError says what is wrong)."""
    raise NotImplementedError  # filled by the family modules (issue 14)
