"""CLIP (OpenAI, open_clip) in the ONNX layout: shorter side resized and centre-cropped, CLIP's
mean/std, byte-level BPE tokens padded to 77 (the graph pools at the end-of-text token and projects)."""

from __future__ import annotations

from pixseek.analyzers.vlm.layout import ModelLayout
from pixseek.analyzers.vlm.preprocess import CLIP_MEAN, CLIP_STD, ImagePreprocess
from pixseek.analyzers.vlm.towers import OnnxVisionLanguageModel


class ClipModel(OnnxVisionLanguageModel):
    family = "clip"
    default_preprocess = ImagePreprocess(224, CLIP_MEAN, CLIP_STD, "bicubic", "shortest")
    default_logit_scale = 100.0  # exp of CLIP's learnt temperature, clamped at 100 in training
    padding_is_ignored = True  # causal attention, pooled at the end token

    @classmethod
    def recognises(cls, layout: ModelLayout, text_inputs: set[str]) -> bool:
        """One token-id input ("text" in Immich's exports): CLIP unless the config says SigLIP."""
        return len(text_inputs) == 1
