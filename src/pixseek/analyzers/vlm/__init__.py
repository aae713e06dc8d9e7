"""Vision-language models (CLIP, SigLIP, multilingual text towers) a user brings as files.

base.py is the contract every model family meets; one module per family implements it on
ONNX Runtime. pixseek never downloads weights: see `pixseek models add`."""
