"""The files of a model folder in the ONNX layout (Immich's), read and checked, and its two towers
as ONNX Runtime sessions.

    config.json                 open_clip's model config: embed_dim, vision_cfg.image_size,
                                text_cfg.context_length (+ hf_tokenizer_name, tokenizer_kwargs)
    visual/model.onnx           the image tower (+ visual/preprocess_cfg.json)
    textual/model.onnx          the text tower (+ textual/tokenizer.json, tokenizer_config.json, ...)

Every problem is a ModelFolderError naming the file and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pixseek.analyzers.vlm.base import ModelFolderError

DIGEST_CHARS = 16
DIGEST_CACHE = ".pixseek-digest.json"  # folder_digest's memory, beside the towers (not part of the digest)
# Bump when pixseek's preprocessing or tokenising changes what a folder's towers are fed: the digest,
# and with it every embedding's space, changes, so old and new embeddings never mix.
LAYER_VERSION = "vlm-layer-1"
MAX_BATCH = 16  # images or texts per run: bounds the activations' memory (ViT-B/32: ~10 MB per image)
_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(uint8)": np.uint8,
}


@dataclass(frozen=True)
class ModelLayout:
    folder: Path
    config: dict[str, Any]  # config.json
    preprocess: dict[str, Any]  # visual/preprocess_cfg.json ({} when absent: the family's defaults)

    @property
    def visual_path(self) -> Path:
        return self.folder / "visual" / "model.onnx"

    @property
    def textual_path(self) -> Path:
        return self.folder / "textual" / "model.onnx"

    @property
    def text_folder(self) -> Path:
        return self.folder / "textual"

    @property
    def vision_cfg(self) -> dict[str, Any]:
        return _section(self.config, "vision_cfg")

    @property
    def text_cfg(self) -> dict[str, Any]:
        return _section(self.config, "text_cfg")


def read_layout(folder: Path) -> ModelLayout:
    """The folder's files, present and readable (the towers are opened by `Tower`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: not a folder")
    config_file = folder / "config.json"
    config = read_json(config_file) if config_file.is_file() else None
    has_towers = (folder / "visual").is_dir() or (folder / "textual").is_dir()
    if config is not None and "model_type" in config and not has_towers:
        raise ModelFolderError(
            f"{folder}: a Hugging Face transformers folder (model_type {config['model_type']!r}), not the ONNX "
            "layout: export it first (pixseek.analyzers.vlm.export.export_hf_folder; `pixseek models add` does it)"
        )
    for path, what in (
        (folder / "visual" / "model.onnx", "the image tower"),
        (folder / "textual" / "model.onnx", "the text tower"),
    ):
        if not path.is_file():
            raise ModelFolderError(f"{folder}: missing {what}: {path.relative_to(folder)}")
    if config is None:
        raise ModelFolderError(f"{folder}: no config.json (the model's embedding size, image size and context length)")
    dim = config.get("embed_dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
        raise ModelFolderError(f"{config_file}: no embed_dim (the embedding size), found {dim!r}")
    preprocess_file = folder / "visual" / "preprocess_cfg.json"
    preprocess = read_json(preprocess_file) if preprocess_file.is_file() else {}
    return ModelLayout(folder, config, preprocess)


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFolderError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ModelFolderError(f"{path}: not a JSON object")
    return value


def folder_digest(layout: ModelLayout) -> str:
    """A digest of what the embeddings depend on: pixseek's LAYER_VERSION, config.json and every file
    of both towers (graphs, external weights, tokenizer, preprocessing), names and contents.

    Every load of a model checks it (a registered copy whose files changed says so), and a real
    model's towers weigh ~600 MB (~0.35 s of hashing in each worker and in each `pixseek search`
    that reads the text tower). So the digest is remembered in the folder (DIGEST_CACHE, written
    where the folder is writable) beside each file's size, mtime, ctime and inode, and hashed again
    only when one of those changed: git's index makes the same trade."""
    files = [layout.folder / "config.json"]
    for tower in ("visual", "textual"):
        files += sorted(p for p in (layout.folder / tower).rglob("*") if p.is_file())
    names = [path.relative_to(layout.folder).as_posix() for path in files]
    signature = [LAYER_VERSION] + [
        [name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino] for name, st in zip(names, (p.stat() for p in files))
    ]
    remembered = layout.folder / DIGEST_CACHE
    try:
        cached = json.loads(remembered.read_text(encoding="utf-8"))
        if cached["signature"] == signature and isinstance(cached["digest"], str):
            return cached["digest"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = hashlib.sha256(LAYER_VERSION.encode() + b"\0")
    for name, path in zip(names, files):
        digest.update(name.encode() + b"\0")
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    value = digest.hexdigest()[:DIGEST_CHARS]
    tmp = remembered.with_name(f"{remembered.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"digest": value, "signature": signature}), encoding="utf-8")
        os.replace(tmp, remembered)
    except OSError:  # a read-only folder: hashed on every load, as before
        tmp.unlink(missing_ok=True)
    return value


def _section(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key, {})
    if not isinstance(value, dict):
        raise ModelFolderError(f"config.json: {key} is not an object")
    return value


@dataclass(frozen=True)
class TowerInput:
    name: str
    dtype: type
    shape: tuple[int | str | None, ...]  # ints where the graph fixes the size


class Tower:
    """One tower's ONNX Runtime session: one intra-op thread unless told (the worker pool gives the
    parallelism; spinning threads would steal the other worker's core). Create it in the process
    that uses it (never fork after). With `session=False` only the graph's inputs are read (a
    process that needs the other tower alone: the indexer's workers, the search side)."""

    def __init__(self, path: Path, what: str, threads: int = 1, session: bool = True) -> None:
        self.path, self.what = path, what
        self._session: Any = None
        self._output = "embedding"
        if session:
            self._open(threads)
        else:
            self.inputs = _graph_inputs(path, what)
        batch_dims = {s.shape[0] for s in self.inputs.values() if s.shape}
        # Immich exports with a fixed batch of 1: such towers are run picture by picture.
        self.batch_limit = next((d for d in batch_dims if isinstance(d, int)), MAX_BATCH)

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def _open(self, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # ORT's warnings about unused initialisers are not the user's business
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # InvalidProtobuf, Fail, NoSuchFile...: all mean the same to the user
            raise ModelFolderError(f"{self.path}: {self.what} is not a loadable ONNX model ({_first_line(exc)})") from exc
        self.inputs = {
            i.name: TowerInput(i.name, _ORT_TYPES.get(i.type, np.float32), tuple(_dim(d) for d in i.shape))
            for i in self._session.get_inputs()
        }
        outputs = self._session.get_outputs()
        names = [o.name for o in outputs]
        # Immich's towers answer "embedding"; otherwise the first output that is (n, D).
        self._output = "embedding" if "embedding" in names else next(
            (o.name for o in outputs if len(o.shape) == 2), names[0]
        )

    def run(self, feeds: Mapping[str, NDArray[Any]]) -> NDArray[np.float32]:
        """(n, D) float32 for n rows of inputs, in batches the graph accepts."""
        if self._session is None:
            raise RuntimeError(f"{self.path}: {self.what} was not loaded (load_model(..., towers=...))")
        n = len(next(iter(feeds.values())))
        typed = {name: np.ascontiguousarray(value, dtype=self.inputs[name].dtype) for name, value in feeds.items()}
        parts = []
        for start in range(0, n, self.batch_limit):
            chunk = {name: value[start:start + self.batch_limit] for name, value in typed.items()}
            try:
                out = self._session.run([self._output], chunk)[0]
            except Exception as exc:
                raise ModelFolderError(f"{self.path}: {self.what} failed to run ({_first_line(exc)})") from exc
            parts.append(np.asarray(out, dtype=np.float32).reshape(len(out), -1))
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def normalised(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows scaled to unit length (the towers usually do it already; a zero row stays zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def _graph_inputs(path: Path, what: str) -> dict[str, TowerInput]:
    """A graph's inputs from the ONNX file, without parsing its weights or opening a session: the
    protobuf is walked field by field over a memory map (onnx.load would take seconds to parse a
    250 MB tower only to read two names)."""
    import mmap

    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    try:
        with path.open("rb") as stream, mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
            graph = [(s, e) for field, s, e in _message_fields(data, 0, len(data)) if field == 7]  # ModelProto.graph
            if not graph:
                raise ValueError("no graph")
            start, end = graph[-1]
            values, weights = [], set()
            for field, s, e in _message_fields(data, start, end):
                if field == 11:  # GraphProto.input
                    values.append(onnx.ValueInfoProto.FromString(data[s:e]))
                elif field == 5:  # GraphProto.initializer: only its name (TensorProto field 8)
                    weights.update(bytes(data[a:b]).decode() for f, a, b in _message_fields(data, s, e) if f == 8)
    except Exception as exc:  # truncated, not protobuf, not ONNX
        raise ModelFolderError(f"{path}: {what} is not a loadable ONNX model ({_first_line(exc)})") from exc
    inputs = {}
    for value in values:
        if value.name in weights:  # old IR versions list initialisers among the inputs
            continue
        tensor = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim)
        inputs[value.name] = TowerInput(value.name, tensor_dtype_to_np_dtype(tensor.elem_type).type, dims)
    return inputs


def _message_fields(data: Any, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, start, end) of each length-delimited field of the protobuf message in
    data[start:end]; other wire types are skipped. ValueError on anything malformed."""
    pos = start
    while pos < end:
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > end:
                raise ValueError("truncated protobuf")
            yield field, pos, pos + length
            pos += length
        else:
            raise ValueError(f"not protobuf (wire type {wire})")
    if pos != end:
        raise ValueError("truncated protobuf")


def _varint(data: Any, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated protobuf")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _dim(value: Any) -> int | str | None:
    return value if isinstance(value, (int, str)) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
