"""The vision-language models a library has: registered copies in its home, and which is active.

    <home>/models/vlm/<name>/       the model, in the ONNX layout (analyzers/vlm/base.py)
    <home>/models/vlm/registry.json  {"active": name | null, "models": {name: ModelInfo + source, added_at}}

Adding is all or nothing: the folder is copied (an HF transformers folder exported to the ONNX
layout instead) into a hidden staging folder beside the others, checked by loading both towers
(analyzers.vlm.check_folder, whose ModelFolderError says what is wrong), renamed into place, and
only then recorded in registry.json (written atomically). A failure or a kill at any step leaves
no registered model and no folder under its name: leftovers of a killed add are swept by the
next change. The registry only knows files; the store's vector space of a model (its embeddings)
is the caller's: library.py and the CLI drop it with the model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pixseek.analyzers.vlm.base import ModelFolderError, ModelInfo, check_folder

REGISTRY_FILE = "registry.json"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_STAGING_PREFIX = ".adding-"
_REMOVING_PREFIX = ".removing-"


class RegistryError(ValueError):
    """A registry operation that cannot be done (the message says why)."""


@dataclass(frozen=True)
class RegisteredModel:
    info: ModelInfo
    folder: Path  # the registered copy, in the ONNX layout
    source: str  # the folder it was added from
    added_at: float
    active: bool


def model_name(text: str) -> str:
    """A model name from free text (a folder's name): lower case, [a-z0-9._-], at most 63 chars."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.strip().lower()).strip("-._")[:63]
    return name or "model"


def is_transformers_folder(folder: Path) -> bool:
    """A Hugging Face transformers folder (config.json with a model_type, no towers of the layout)."""
    config = folder / "config.json"
    if not config.is_file() or (folder / "visual").exists() or (folder / "textual").exists():
        return False
    try:
        return "model_type" in json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, TypeError):
        return False


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ---- reading ------------------------------------------------------------------------------
    def _read(self) -> dict:
        try:
            data = json.loads((self.root / REGISTRY_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"active": None, "models": {}}
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{self.root / REGISTRY_FILE}: unreadable ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise RegistryError(f"{self.root / REGISTRY_FILE}: not a model registry")
        return data

    def _model(self, name: str, record: dict, active: str | None) -> RegisteredModel:
        fields = {f.name for f in dataclasses.fields(ModelInfo)}
        info = ModelInfo(**{k: v for k, v in record.items() if k in fields})
        return RegisteredModel(info, self.root / name, record.get("source", ""), record.get("added_at", 0.0), name == active)

    def models(self) -> list[RegisteredModel]:
        """Every registered model, in the order they were added."""
        data = self._read()
        records = sorted(data["models"].items(), key=lambda item: item[1].get("added_at", 0.0))
        return [self._model(name, record, data.get("active")) for name, record in records]

    def get(self, name: str) -> RegisteredModel:
        data = self._read()
        record = data["models"].get(name)
        if record is None:
            known = ", ".join(sorted(data["models"])) or "none yet (pixseek models add DIR)"
            raise RegistryError(f"no model named {name!r}; registered: {known}")
        return self._model(name, record, data.get("active"))

    def active(self) -> RegisteredModel | None:
        """The active model, if any (and if its folder is still there)."""
        data = self._read()
        name = data.get("active")
        if name is None or name not in data["models"]:
            return None
        model = self._model(name, data["models"][name], name)
        return model if model.folder.is_dir() else None

    # ---- changes ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict]:
        """The registry, locked against other processes' changes; written back atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self._read()
                self._sweep(data)
                yield data
                tmp = self.root / f".{REGISTRY_FILE}.tmp"
                tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
                with open(tmp, "rb") as written:
                    os.fsync(written.fileno())
                os.replace(tmp, self.root / REGISTRY_FILE)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _sweep(self, data: dict) -> None:
        """What killed adds and removes left: staging folders, folders no record names."""
        for path in self.root.iterdir():
            if not path.is_dir():
                continue
            if path.name.startswith((_STAGING_PREFIX, _REMOVING_PREFIX)) or (
                not path.name.startswith(".") and path.name not in data["models"]
            ):
                shutil.rmtree(path, ignore_errors=True)

    def add(self, source: Path, name: str | None = None, use: bool = False) -> RegisteredModel:
        """Register a copy of the model in `source` (ONNX layout, or an HF transformers CLIP/SigLIP
        folder, exported on the way). ModelFolderError (what is wrong with the folder) or
        RegistryError (name taken or invalid); nothing is left registered or on disk then."""
        source = Path(source).expanduser().resolve()
        if not source.is_dir():
            raise ModelFolderError(f"{source}: not a folder")
        name = model_name(source.name) if name is None else name
        if not NAME.match(name):
            raise RegistryError(
                f"model name {name!r}: use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        with self._locked() as data:
            if name in data["models"]:
                raise RegistryError(f"a model named {name!r} is already registered (pixseek models remove {name})")
            staging = Path(tempfile.mkdtemp(dir=self.root, prefix=f"{_STAGING_PREFIX}{name}-"))
            try:
                copy = staging / "model"
                if is_transformers_folder(source):
                    from pixseek.analyzers.vlm.export import export_hf_folder

                    export_hf_folder(source, copy)
                else:
                    shutil.copytree(source, copy, symlinks=False)
                try:
                    info = check_folder(copy, name=name)
                except ModelFolderError as exc:  # name the user's folder, not our copy of it
                    raise ModelFolderError(str(exc).replace(str(copy), str(source))) from None
                copy.rename(self.root / name)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            record = {**dataclasses.asdict(info), "source": str(source), "added_at": time.time()}
            data["models"][name] = record
            if use:
                data["active"] = name
        return self.get(name)

    def use(self, name: str) -> RegisteredModel:
        with self._locked() as data:
            if name not in data["models"]:
                self.get(name)  # raises, naming the registered ones
            data["active"] = name
        return self.get(name)

    def deactivate(self) -> None:
        with self._locked() as data:
            data["active"] = None

    def remove(self, name: str) -> RegisteredModel:
        """Forget the model and delete its copy (the registry first: a kill leaves a folder the
        next change sweeps, never a record without its files)."""
        model = self.get(name)
        with self._locked() as data:
            if name not in data["models"]:
                self.get(name)
            del data["models"][name]
            if data.get("active") == name:
                data["active"] = None
        trash = self.root / f"{_REMOVING_PREFIX}{name}-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            model.folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        return model
