"""Vision-language models (CLIP, SigLIP, multilingual text towers) a user brings as files.

base.py is the contract every model family meets; one module per family implements it on
ONNX Runtime. pixseek never downloads weights: see `pixseek models add`."""

from pixseek.analyzers.vlm.base import (
    ModelFolderError,
    ModelInfo,
    VisionLanguageModel,
    check_folder,
    load_model,
)

__all__ = ["ModelFolderError", "ModelInfo", "VisionLanguageModel", "check_folder", "load_model"]
