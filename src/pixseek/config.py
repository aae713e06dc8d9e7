"""Where a library lives: `--db` > $PIXSEEK_HOME > $XDG_DATA_HOME/pixseek > ~/.local/share/pixseek.

Its records live there too (the embedded store), unless `--store` / $PIXSEEK_STORE names a
PostgreSQL database; models, uploads and thumbnails stay files in the home. The language tables,
the same for every library, are kept once per user ($XDG_CACHE_HOME/pixseek)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    home: Path  # the library: database, vector files, indexes
    models: Path  # exported ONNX models (shared by libraries when $PIXSEEK_MODEL_DIR is set)
    cache: Path  # derived language tables (WordNet subset, word vectors), shared by a user's libraries
    store: str  # where the records are: the home directory, or a postgresql:// URL


def default_home() -> Path:
    if os.environ.get("PIXSEEK_HOME"):
        return Path(os.environ["PIXSEEK_HOME"]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(data) / "pixseek"


def default_cache() -> Path:
    """The language tables are derived from system packages, the same for every library: one
    copy per user ($XDG_CACHE_HOME/pixseek), built by setup or the first index (language/prepare.py)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(cache) / "pixseek"


def resolve_paths(home: str | Path | None = None, store: str | None = None) -> Paths:
    root = Path(home).expanduser() if home else default_home()
    store = store or os.environ.get("PIXSEEK_STORE") or str(root)
    models = Path(os.environ["PIXSEEK_MODEL_DIR"]).expanduser() if os.environ.get("PIXSEEK_MODEL_DIR") else root / "models"
    cache = Path(os.environ["PIXSEEK_CACHE_DIR"]).expanduser() if os.environ.get("PIXSEEK_CACHE_DIR") else default_cache()
    return Paths(home=root, models=models, cache=cache, store=store)
