"""Converting a PyTorch model a user brings to ONNX: the only place torch may be imported.

pixseek's own classifier needs none of this (export.py builds its graph with numpy + onnx). torch
comes with the optional extra: `pip install 'pixseek[convert]'`.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

CONVERT_EXTRA_HINT = "install pixseek[convert] (pip install 'pixseek[convert]')"


class ConvertError(RuntimeError):
    pass


def import_torch() -> ModuleType:
    """torch, or a ConvertError that says how to get it."""
    try:
        import torch
    except ImportError as exc:
        raise ConvertError(f"converting a PyTorch model to ONNX needs torch: {CONVERT_EXTRA_HINT}") from exc
    return torch


def torch_module_to_onnx(
    module: Any,
    example_input: Any,
    onnx_path: Path,
    output_names: Sequence[str],
    input_name: str = "image",
    opset: int = 17,
) -> None:
    """Export an eval-mode `torch.nn.Module` to `onnx_path` atomically, with a dynamic batch axis."""
    torch = import_torch()
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=onnx_path.parent, suffix=".onnx.tmp")
    os.close(fd)
    dynamic = {name: {0: "batch"} for name in (input_name, *output_names)}
    try:
        # Some model packages print from forward(); keep the user's terminal clean.
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(),
                (example_input,),
                tmp,
                input_names=[input_name],
                output_names=list(output_names),
                dynamic_axes=dynamic,
                opset_version=opset,
                dynamo=False,
            )
        os.replace(tmp, onnx_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
