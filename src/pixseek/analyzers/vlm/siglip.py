"""SigLIP / SigLIP2 (open_clip, big_vision, transformers) in the ONNX layout: squashed to a square,
mean/std 0.5, sentencepiece-style tokens padded to a fixed length with no attention mask (the graph
pools the last position); scores are sigmoid(logit_scale * cosine + logit_bias)."""

from __future__ import annotations

from pixseek.analyzers.vlm.layout import ModelLayout
from pixseek.analyzers.vlm.preprocess import SIGLIP_MEAN, SIGLIP_STD, ImagePreprocess
from pixseek.analyzers.vlm.towers import OnnxVisionLanguageModel

# Immich's config.json (open_clip's) carries only the initial bias (-10); the released SigLIP
# base models learnt about these (exp(logit_scale) ~ 117, bias ~ -12.9). pixseek's own export
# writes the model's real values as logit_scale / logit_bias.
TYPICAL_LOGIT_SCALE = 117.0
TYPICAL_LOGIT_BIAS = -12.9


class SiglipModel(OnnxVisionLanguageModel):
    family = "siglip"
    default_preprocess = ImagePreprocess(224, SIGLIP_MEAN, SIGLIP_STD, "bicubic", "squash")
    default_logit_scale = TYPICAL_LOGIT_SCALE
    default_logit_bias = TYPICAL_LOGIT_BIAS

    @classmethod
    def recognises(cls, layout: ModelLayout, text_inputs: set[str]) -> bool:
        """One token-id input and a config that says SigLIP: open_clip's SigLIP configs carry
        init_logit_bias and a timm "siglip" vision model or a SigLIP tokenizer name."""
        if len(text_inputs) != 1:
            return False
        config = layout.config
        names = " ".join(
            str(v) for v in (
                layout.vision_cfg.get("timm_model_name"), layout.text_cfg.get("hf_tokenizer_name"),
                config.get("model_type"), config.get("family"),
            )
        ).lower()
        return "init_logit_bias" in config or "logit_bias" in config or "siglip" in names
