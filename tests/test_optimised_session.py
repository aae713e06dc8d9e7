"""The classifier's sessions load a copy of the optimised graph kept for this machine: same outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort

from pixseek.analyzers.classifier import _session_options, full_view_path, optimised_session


def _copies(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.optimised-*.onnx"))


def test_the_kept_copy_runs_the_graph_online_optimisation_builds(model_dir: Path, tmp_path: Path):
    models = tmp_path / "models"
    models.mkdir()
    for source in (model_dir / "efficientnet-lite0.onnx", full_view_path(model_dir / "efficientnet-lite0.onnx")):
        shutil.copy2(source, models / source.name)
    onnx_path = models / "efficientnet-lite0.onnx"
    picture = np.random.default_rng(0).uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)

    online = ort.InferenceSession(str(onnx_path), sess_options=_session_options(1, True), providers=["CPUExecutionProvider"])
    expected = online.run(["logits", "embedding"], {"image": picture})

    first = optimised_session(onnx_path)  # optimises, and keeps the optimised graph
    (copy,) = _copies(models)
    assert copy.name.startswith("efficientnet-lite0.optimised-")
    assert not list(models.glob("*.tmp"))
    stamp = copy.stat().st_mtime_ns
    second = optimised_session(onnx_path)  # loads the copy
    assert copy.stat().st_mtime_ns == stamp  # not written again
    for session in (first, second):
        got = session.run(["logits", "embedding"], {"image": picture})
        assert all(np.array_equal(a, b) for a, b in zip(got, expected))

    # Another model file (re-exported: another mtime) gets its own copy; the stale one goes.
    onnx_path.touch()
    optimised_session(onnx_path)
    (fresh,) = _copies(models)
    assert fresh != copy

    # A damaged copy is made again, not fatal.
    fresh.write_bytes(b"not a model")
    again = optimised_session(onnx_path)
    assert all(np.array_equal(a, b) for a, b in zip(again.run(["logits", "embedding"], {"image": picture}), expected))
    assert fresh.stat().st_size > 1000
