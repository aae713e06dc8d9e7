"""Vision-language models in a library: the registry (add/list/use/remove, all or nothing), indexing
with the active model as one more analyser, the model-only pass when a model is added or switched
(no classifier, faces or OCR again; resumable after kill -9), both stores, and uploads.

The models are the tiny random CLIP/SigLIP of tests/vlm_models.py (session fixtures); the CLI runs
in subprocesses like a user's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixseek.analyzers.vlm import ModelFolderError, check_folder
from pixseek.pipeline.registry import ModelRegistry, RegistryError
from pixseek.store import DEFAULT_OWNER, open_store

PHOTOS = 10
NO_SLOW_ANALYZERS = ("--no-faces", "--no-ocr", "--workers", "1")


def _photo(path: Path, seed: int, size: tuple[int, int] = (320, 240)) -> None:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, 3)
    pixels = np.clip(base + rng.normal(0, 40, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("vlm-photos")
    for n in range(PHOTOS):
        _photo(folder / f"{n:02d}.jpg", n)
    return folder


def _cli(env: dict[str, str], *args: object, code: int = 0, stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "pixseek.cli", *map(str, args)], env=env, capture_output=True, text=True,
        input=stdin, timeout=300,
    )
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    return done


def _json(env: dict[str, str], *args: object) -> dict | list:
    return json.loads(_cli(env, *args, "--json").stdout)


def test_registry_adds_all_or_nothing(tmp_path, tiny_clip_onnx, tiny_clip_hf):
    root = tmp_path / "vlm"
    registry = ModelRegistry(root)
    clip = registry.add(tiny_clip_onnx, name="clip")
    assert clip.info.family == "clip" and not clip.active and registry.active() is None
    assert (clip.folder / "visual" / "model.onnx").is_file() and clip.folder.parent == root
    # A Hugging Face folder is exported to the ONNX layout on the way in.
    exported = registry.add(tiny_clip_hf, name="clip-hf", use=True)
    assert registry.active() == exported and (exported.folder / "textual" / "model.onnx").is_file()
    assert check_folder(exported.folder, name="clip-hf").version == exported.info.version
    # Refused folders: what is wrong is said about the user's folder, and nothing is left.
    missing_tower = shutil.copytree(tiny_clip_onnx, tmp_path / "no-text")
    (missing_tower / "textual" / "model.onnx").unlink()
    corrupt = shutil.copytree(tiny_clip_onnx, tmp_path / "corrupt")
    (corrupt / "visual" / "model.onnx").write_bytes(b"not a graph")
    for folder, words in ((missing_tower, "text tower"), (corrupt, "visual/model.onnx"), (tmp_path / "nowhere", "not a folder")):
        with pytest.raises(ModelFolderError, match=words) as refused:
            registry.add(folder)
        assert str(folder) in str(refused.value) and ".adding-" not in str(refused.value)
    with pytest.raises(RegistryError, match="already registered"):
        registry.add(tiny_clip_onnx, name="clip")
    with pytest.raises(RegistryError, match="model name"):
        registry.add(tiny_clip_onnx, name="../up")
    assert sorted(p.name for p in root.iterdir()) == [".lock", "clip", "clip-hf", "registry.json"]
    assert [m.info.name for m in registry.models()] == ["clip", "clip-hf"]
    # What a killed add or remove leaves behind goes with the next change.
    (root / ".adding-x-123" / "model").mkdir(parents=True)
    (root / "half-added").mkdir()
    registry.use("clip")
    assert sorted(p.name for p in root.iterdir()) == [".lock", "clip", "clip-hf", "registry.json"]
    assert registry.active().info.name == "clip"
    registry.remove("clip")
    assert registry.active() is None and not (root / "clip").exists()
    with pytest.raises(RegistryError, match="no model named 'clip'; registered: clip-hf"):
        registry.use("clip")


def _analyzers(home: Path) -> dict[str, int]:
    store = open_store(home)
    try:
        return store.stats(DEFAULT_OWNER).analyzers
    finally:
        store.close()


@pytest.mark.slow
def test_cli_add_index_switch_and_remove(tmp_path, photos, tiny_clip_onnx, tiny_siglip_onnx, pixseek_env):
    env = pixseek_env
    lib = ("--db", tmp_path / "lib")
    first = _json(env, *lib, "index", photos, *NO_SLOW_ANALYZERS)
    assert first["indexed"] == PHOTOS and first["embedding"] is None
    version = _analyzers(tmp_path / "lib")
    added = _json(env, *lib, "models", "add", tiny_clip_onnx, "--name", "clip", "--use")
    assert added["active"] and added["waiting"] == PHOTOS and added["space"].startswith("clip@")
    # The images already indexed are embedded by the model alone: the classifier does not run again.
    again = _json(env, *lib, "index", photos, *NO_SLOW_ANALYZERS)
    assert (again["indexed"], again["unchanged"], again["analysed_per_s"], again["stage_ms"]) == (0, PHOTOS, 0.0, {})
    assert again["embedding"]["embedded"] == PHOTOS and "vlm" in again["embedding"]["stage_ms"]
    assert "classify" not in again["embedding"]["stage_ms"]
    # A new picture: one pass, the model among the analysers.
    _photo(photos.parent / "new.jpg", 99)
    shutil.move(photos.parent / "new.jpg", photos / "new.jpg")
    try:
        new = _json(env, *lib, "index", photos, *NO_SLOW_ANALYZERS)
        assert new["indexed"] == 1 and {"classify", "vlm"} <= set(new["stage_ms"]) and new["embedding"]["embedded"] == 0
        # Another model: added, switched to, embedded with --embed; both models' embeddings coexist.
        assert not _json(env, *lib, "models", "add", tiny_siglip_onnx, "--name", "sig")["active"]
        switched = _json(env, *lib, "models", "use", "sig", "--embed", "--workers", "1")
        assert switched["embedding"]["embedded"] == PHOTOS + 1
        listed = {m["name"]: m for m in _json(env, *lib, "models", "list")}
        assert {n: (m["active"], m["embedded"], m["family"]) for n, m in listed.items()} == {
            "clip": (False, PHOTOS + 1, "clip"), "sig": (True, PHOTOS + 1, "siglip")}
        stats = _json(env, *lib, "stats")
        assert stats["spaces"] == {listed["clip"]["space"]: PHOTOS + 1, listed["sig"]["space"]: PHOTOS + 1}
        assert set(stats["analyzers"]) == set(version)  # no analysis was redone under another version
        # Removing asks first; no means nothing changes.
        _cli(env, *lib, "models", "remove", "clip", code=1, stdin="n\n")
        registry = ModelRegistry(tmp_path / "lib" / "models" / "vlm")
        assert [m.info.name for m in registry.models()] == ["clip", "sig"]
        assert _json(env, *lib, "models", "remove", "clip", "--yes") == {"removed": "clip", "embeddings": PHOTOS + 1}
        store = open_store(tmp_path / "lib")
        assert store.stats(DEFAULT_OWNER).spaces == {listed["sig"]["space"]: PHOTOS + 1}
        store.close()
        # A refused folder: a clear message, exit 1, nothing registered.
        broken = shutil.copytree(tiny_clip_onnx, tmp_path / "broken")
        (broken / "visual" / "model.onnx").unlink()
        refused = _cli(env, *lib, "models", "add", broken, code=1)
        assert "missing the image tower" in refused.stderr and "broken" in refused.stderr
        assert [m.info.name for m in registry.models()] == ["sig"]
        assert "images embedded in sig@" in _cli(env, *lib, "stats").stdout
        assert _json(env, *lib, "models", "off") == {"active": None} and registry.active() is None
    finally:
        (photos / "new.jpg").unlink(missing_ok=True)


_SLOW_PASS = textwrap.dedent("""
    import sys, time
    from pixseek.library import Library
    from pixseek.pipeline import vision

    vision.COMMIT_EVERY_N = 3

    class Slowly:  # reports each image, slowly enough to be killed half way
        done = 0
        def start(self, total, description): pass
        def log(self, message): pass
        def advance(self, n=1):
            Slowly.done += n
            print("done", Slowly.done, flush=True)
            time.sleep(0.15)

    library = Library(sys.argv[1])
    vision.embed_missing(library.store, library.owner, library.vision_target(), library.paths.models, 1, None, Slowly())
""")


@pytest.mark.slow
def test_model_only_pass_resumes_after_kill_9(tmp_path, photos, tiny_clip_onnx, pixseek_env):
    env = pixseek_env
    home = tmp_path / "lib"
    _cli(env, "--db", home, "index", photos, *NO_SLOW_ANALYZERS)
    space = _json(env, "--db", home, "models", "add", tiny_clip_onnx, "--name", "clip", "--use")["space"]
    passing = subprocess.Popen([sys.executable, "-c", _SLOW_PASS, str(home)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        for line in passing.stdout:
            if line.split() == ["done", "6"]:
                break
        os.kill(passing.pid, signal.SIGKILL)
    finally:
        passing.kill()
        passing.wait()
    store = open_store(home)
    committed = store.spaces.count(space, DEFAULT_OWNER)
    store.close()
    assert 3 <= committed < PHOTOS
    rest = _json(env, "--db", home, "index", photos, *NO_SLOW_ANALYZERS)
    assert rest["embedding"]["embedded"] == PHOTOS - committed and rest["unchanged"] == PHOTOS
    store = open_store(home)
    assert store.spaces.count(space, DEFAULT_OWNER) == PHOTOS
    store.close()


def test_postgres_library_embeds_with_the_model(tmp_path, photos, tiny_clip_onnx, new_database, model_dir, cache_dir, monkeypatch):
    from pixseek.library import Library
    from pixseek.pipeline.analysis import AnalysisOptions

    monkeypatch.setenv("PIXSEEK_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PIXSEEK_CACHE_DIR", str(cache_dir))
    url = new_database("vlm_index")
    with Library(tmp_path / "home", store=url, options=AnalysisOptions(faces=False, text=False)) as library:
        half = tmp_path / "half"
        shutil.copytree(photos, half)
        for extra in sorted(half.iterdir())[PHOTOS // 2 :]:
            extra.unlink()
        assert library.indexer(workers=1).index(half).embedding is None
        model = library.models.add(tiny_clip_onnx, name="clip", use=True)
        report = library.indexer(workers=1).index(photos)  # half new (embedded in the pass), half model-only
        assert report.indexed == PHOTOS - PHOTOS // 2 and report.embedding.embedded == PHOTOS // 2
        space = model.info.space
        assert library.store.spaces.count(space, library.owner) == PHOTOS
        ids = library.store.matching(library.owner)
        has, vectors = library.store.spaces.get(library.owner, space, ids)
        assert has.all() and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-2)
        found, cosines = library.store.spaces.nearest(library.owner, space, vectors[3], 1)
        assert found.tolist() == [ids[3]] and cosines[0] == pytest.approx(1.0, abs=1e-2)


def test_uploads_are_embedded_with_the_active_model(tmp_path, tiny_clip_onnx, model_dir, cache_dir, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from test_api import BASE, CSRF, png, upload, wait_jobs

    from pixseek.service.app import create_app
    from pixseek.service.settings import ServiceSettings

    monkeypatch.setenv("PIXSEEK_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PIXSEEK_CACHE_DIR", str(cache_dir))
    home = tmp_path / "home"
    space = ModelRegistry(home / "models" / "vlm").add(tiny_clip_onnx, name="clip", use=True).info.space
    app = create_app(ServiceSettings(home=home, single_user=True))
    with TestClient(app, base_url=BASE, headers=CSRF) as client:
        jobs = wait_jobs(client, [j["id"] for j in upload(client, ("red.png", png((200, 30, 30))))])
        assert jobs[0]["status"] == "done", jobs
    store = open_store(home)
    assert store.spaces.count(space, DEFAULT_OWNER) == 1
    store.close()


def test_a_model_added_later_embeds_the_frames_of_videos(tmp_path, tiny_clip_onnx, pixseek_env):
    """The model-only pass reads a video's frames from the video (a frame has no file of its own):
    every frame indexed before the model was added gets its vector, none is skipped."""
    from pixseek.demo.video_set import write_video_set

    clips = tmp_path / "clips"
    clips.mkdir()
    for name, video in write_video_set(tmp_path / "videos").items():
        if name != "broken.mp4":
            shutil.copyfile(video.path, clips / name)
    env = pixseek_env
    lib = ("--db", tmp_path / "lib")
    assert _json(env, *lib, "index", clips, *NO_SLOW_ANALYZERS)["indexed"] == 3
    store = open_store(tmp_path / "lib")
    try:
        contents = len(store.matching(DEFAULT_OWNER))
    finally:
        store.close()
    assert contents > 3  # posters and later frames
    added = _json(env, *lib, "models", "add", tiny_clip_onnx, "--name", "clip", "--use")
    assert added["waiting"] == contents
    again = _json(env, *lib, "index", clips, *NO_SLOW_ANALYZERS)
    assert again["embedding"]["embedded"] == contents and not again["embedding"]["skipped"], again["embedding"]
    listed = _json(env, *lib, "models", "list")
    assert listed[0]["embedded"] == contents
    # The same vectors as frames embedded while the video was indexed with the model on.
    fresh = ("--db", tmp_path / "fresh")
    _json(env, *fresh, "models", "add", tiny_clip_onnx, "--name", "clip", "--use")
    assert _json(env, *fresh, "index", clips, *NO_SLOW_ANALYZERS)["embedding"]["embedded"] == 0
    later, during = (_vectors_by_hash(tmp_path / name, listed[0]["space"]) for name in ("lib", "fresh"))
    assert later.keys() == during.keys() and len(later) == contents
    for sha, vector in later.items():
        np.testing.assert_allclose(vector, during[sha], atol=1e-4)


def _vectors_by_hash(library: Path, space: str) -> dict[str, np.ndarray]:
    store = open_store(library)
    try:
        ids = store.matching(DEFAULT_OWNER)
        present, vectors = store.spaces.get(DEFAULT_OWNER, space, ids)
        assert present.all()
        sha = {image.content_id: image.sha256 for image in store.get_images(DEFAULT_OWNER, ids.tolist())}
        return {sha[int(i)]: v for i, v in zip(ids, vectors, strict=True)}
    finally:
        store.close()
