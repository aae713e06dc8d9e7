"""Videos: short clips encoded at test time with PyAV from real pictures (demo/video_set.py),
indexed by the real CLI with faces and OCR, searched (hits name the time), kept, moved and removed
with their frames, served by the API (frame thumbnails, the video with Range requests), on both
stores; a corrupt video is skipped with its reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from pixseek.demo.video_set import write_video_set
from pixseek.imageio.decode import ImageDecodeError
from pixseek.imageio.video import frame_at, sample_frames
from pixseek.records import split_frame_path
from pixseek.store import open_store

CSRF = {"X-Requested-With": "pixseek-tests"}  # what the web app sends with its cookie

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pixseek.cli", *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    write_video_set(root)
    return root


@pytest.fixture(scope="module")
def indexed(videos, pixseek_env, tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    for clip in videos.iterdir():
        shutil.copyfile(clip, folder / clip.name)
    env = {**pixseek_env, "PIXSEEK_HOME": str(tmp_path_factory.mktemp("video-lib"))}
    result = run(env, "index", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    return folder, env, json.loads(result.stdout)


def hits(env, query: str) -> list[dict]:
    result = run(env, "search", query, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["results"]


def test_frames_are_sampled_at_scene_changes(videos):
    info, frames = sample_frames(str(videos / "holiday.mp4"))
    assert (info.width, info.height, info.format) == (640, 360, "MP4") and 11.5 < info.duration_s < 12.5
    assert [round(f.seconds) for f in frames] == [0, 4, 8]  # cat, coffee, rocket: one frame per scene
    assert frame_at(str(videos / "holiday.mp4"), 8.5).size == (640, 360)
    with pytest.raises(ImageDecodeError, match="corrupt or unsupported video"):
        sample_frames(str(videos / "broken.mp4"))


def test_index_skips_the_corrupt_video_with_its_reason(indexed):
    folder, _, report = indexed
    assert report["indexed"] == 3
    (skipped,) = report["skipped"]
    assert skipped["path"].endswith("broken.mp4") and "corrupt or unsupported video" in skipped["reason"]


def test_hits_in_videos_name_the_time(indexed):
    folder, env, _ = indexed
    coffee = [h["video"] for h in hits(env, "espresso")]
    assert {"path": str(folder / "holiday.mp4"), "seconds": 4.0, "at": "00:04"} in coffee  # its second scene
    cat = hits(env, "cat")[0]
    assert cat["video"]["path"].endswith("holiday.mp4") and cat["video"]["seconds"] == 0.0  # the poster
    text = hits(env, "holiday")[0]  # the title card's text, read by OCR in a WebM frame
    assert text["video"]["path"].endswith("titles.webm") and "HOLIDAY" in " ".join(text["why"])
    person = hits(env, "people")[0]  # the face in the MKV
    assert person["video"]["path"].endswith("portrait.mkv")
    plain = run(env, "search", "espresso")
    assert f"{folder / 'holiday.mp4'} @ 00:04" in plain.stdout


def test_a_video_or_a_frame_is_a_picture_to_search_by(indexed, videos):
    """similar / tags / text take a video (its first frame) or a frame as hits name it, inside or
    outside the library; the frame's own hit is left out like any picture searched by itself."""
    folder, env, _ = indexed
    (coffee,) = [h for h in hits(env, "espresso") if h["video"] == {"path": str(folder / "holiday.mp4"), "seconds": 4.0, "at": "00:04"}]
    found = json.loads(run(env, "similar", coffee["path"], "-n", "3", "--json").stdout)["results"]
    assert coffee["path"].endswith("#t=4.000") and coffee["path"] not in [h["path"] for h in found]
    assert found[0]["video"]["path"].endswith("titles.webm") and found[0]["score"] > 0.9  # its coffee scene
    outside = json.loads(run(env, "similar", str(videos / "holiday.mp4"), "-n", "1", "--json").stdout)
    assert outside["query"] == str(videos / "holiday.mp4")
    assert outside["results"][0]["path"] == str(folder / "holiday.mp4") and outside["results"][0]["score"] > 0.99  # the poster
    tagged = json.loads(run(env, "tags", str(videos / "holiday.mp4"), "--json").stdout)
    assert any(t["tag"] == "cat" for t in tagged)
    card = run(env, "text", str(folder / "titles.webm"))
    assert card.returncode == 0 and "HOLIDAY" in card.stdout
    taught = run(env, "teach", "mug", coffee["path"], "--json")  # a hit's frame as an example
    assert taught.returncode == 0 and json.loads(taught.stdout)["examples"] == 1, taught.stderr
    assert run(env, "concepts", "forget", "mug").returncode == 0
    for missing in (folder / "gone.mp4", folder / "holiday.mp4#t=x"):
        failed = run(env, "similar", str(missing))
        assert failed.returncode == 1 and "not a file" in failed.stderr


def test_unchanged_moved_and_deleted_videos_keep_their_frames_right(indexed, tmp_path):
    folder, env, _ = indexed
    again = json.loads(run(env, "index", str(folder), "--json").stdout)
    assert again["unchanged"] == 3 and again["indexed"] == 0 and again["removed"] == 0
    (folder / "holiday.mp4").rename(folder / "trip.mp4")
    moved = json.loads(run(env, "index", str(folder), "--json").stdout)
    assert moved["moved"] == 1 and moved["indexed"] == 0
    assert hits(env, "cat")[0]["video"] == {"path": str(folder / "trip.mp4"), "seconds": 0.0, "at": "00:00"}
    (folder / "trip.mp4").unlink()
    gone = json.loads(run(env, "index", str(folder), "--json").stdout)
    assert gone["removed"] == 3  # the poster and its two frames
    store = open_store(Path(env["PIXSEEK_HOME"]))
    try:
        assert not any(split_frame_path(p)[0].endswith(("holiday.mp4", "trip.mp4")) for p in store.indexed_files(1))
    finally:
        store.close()
    shutil.copyfile(_original(folder), folder / "holiday.mp4")
    back = json.loads(run(env, "index", str(folder), "--json").stdout)
    assert back["reused"] == 1 and back["indexed"] == 0  # its frames were analysed before: found by hash


def _original(folder: Path) -> Path:
    from pixseek.demo.video_set import write_video_set

    return write_video_set(folder.parent / "again")["holiday.mp4"].path


def test_api_names_the_time_and_serves_frames_and_ranges(indexed, videos, model_dir, cache_dir, monkeypatch):
    from pixseek.service.app import create_app
    from pixseek.service.settings import ServiceSettings

    monkeypatch.setenv("PIXSEEK_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PIXSEEK_CACHE_DIR", str(cache_dir))
    folder, env, _ = indexed
    home = Path(env["PIXSEEK_HOME"])
    with TestClient(create_app(ServiceSettings(home=home, single_user=True)), base_url="http://127.0.0.1") as client:
        found = client.get("/api/search", params={"q": "coffee"})
        assert found.status_code == 200, found.text
        image = next(r["image"] for r in found.json()["results"] if r["image"]["video"])
        assert image["video"]["seconds"] > 0 and " @ 00:0" in image["name"] and image["format"].startswith("VIDEO:")
        thumb = client.get(image["thumbnail"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"
        full = client.get(image["original"])
        assert full.status_code == 200 and full.headers["content-type"].startswith("video/")
        assert full.headers["accept-ranges"] == "bytes"
        part = client.get(image["original"], headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == full.content[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(full.content)}"
        assert client.get(image["original"], headers={"Range": "bytes=999999999-"}).status_code == 416
        # A video sent to search by: its first frame (the cat) finds the cat's frame.
        by_video = client.post("/api/search/by-image", files={"file": ("clip.mp4", (videos / "holiday.mp4").read_bytes())}, params={"limit": 1}, headers=CSRF)
        assert by_video.status_code == 200, by_video.text
        assert by_video.json()["results"][0]["image"]["video"]["seconds"] == 0.0
        broken = client.post("/api/search/by-image", files={"file": ("clip.mp4", (videos / "broken.mp4").read_bytes())}, headers=CSRF)
        assert broken.status_code == 422 and "corrupt or unsupported video" in broken.json()["detail"]


def test_videos_uploaded_through_the_api_are_searchable_and_deleted_whole(videos, model_dir, cache_dir, monkeypatch, tmp_path):
    """The web app's upload takes videos as the indexer does: every sampled frame searchable with
    its time; a corrupt one refused with its reason at upload; deleting any of its frames deletes
    the video, its frames and the stored file."""
    import time

    from pixseek.service.app import create_app
    from pixseek.service.settings import ServiceSettings

    monkeypatch.setenv("PIXSEEK_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PIXSEEK_CACHE_DIR", str(cache_dir))
    home = tmp_path / "home"
    settings = ServiceSettings(home=home, single_user=True, faces=False, ocr=False)
    with TestClient(create_app(settings), base_url="http://127.0.0.1", headers={"X-Requested-With": "pixseek-tests"}) as client:
        sent = client.post("/api/images", files=[
            ("files", ("holiday.mp4", (videos / "holiday.mp4").read_bytes())),
            ("files", ("broken.mp4", (videos / "broken.mp4").read_bytes())),
        ])
        assert sent.status_code == 202, sent.text
        good, bad = sent.json()["jobs"]
        assert bad["status"] == "failed" and "corrupt or unsupported video" in bad["error"]
        deadline = time.monotonic() + 120
        while (job := client.get(f"/api/jobs/{good['id']}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "done", job
        found = client.get("/api/search", params={"q": "espresso"}).json()["results"]
        frame = next(r["image"] for r in found if r["image"]["video"])
        assert frame["video"]["at"] == "00:04" and frame["name"] == "holiday.mp4 @ 00:04"
        thumb = client.get(frame["thumbnail"])
        assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
        listed = client.get("/api/images").json()
        assert listed["total"] == 1  # the video once, not each frame
        again = client.post("/api/images", files=[("files", ("holiday.mp4", (videos / "holiday.mp4").read_bytes()))])
        (same,) = again.json()["jobs"]  # the same bytes again: the stored video and its frames
        while (same := client.get(f"/api/jobs/{same['id']}").json())["status"] not in ("done", "failed"):
            time.sleep(0.2)
        assert same["status"] == "done" and same["image_id"] == job["image_id"]
        stored = [p for p in (home / "uploads").rglob("holiday.mp4")]
        assert len(stored) == 1
        assert client.delete(f"/api/images/{frame['id']}").status_code == 204  # a frame: the video goes
        assert not stored[0].exists()
        assert client.get("/api/images").json()["total"] == 0
        assert not [r for r in client.get("/api/search", params={"q": "espresso"}).json()["results"] if r["image"]["video"]]
    store = open_store(home)
    try:
        assert store.indexed_files(1) == {}
    finally:
        store.close()


@pytest.mark.slow
def test_postgres_indexes_and_finds_video_frames(videos, pixseek_env, new_database, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("holiday.mp4", "broken.mp4"):
        shutil.copyfile(videos / name, folder / name)
    url = new_database("video")
    env = {**pixseek_env, "PIXSEEK_HOME": str(tmp_path / "lib"), "PIXSEEK_STORE": url}
    report = json.loads(run(env, "index", str(folder), "--json", "--no-faces", "--no-ocr").stdout)
    assert report["indexed"] == 1 and len(report["skipped"]) == 1
    assert {"path": str(folder / "holiday.mp4"), "seconds": 4.0, "at": "00:04"} in [h["video"] for h in hits(env, "espresso")]
    os.remove(folder / "holiday.mp4")
    assert json.loads(run(env, "index", str(folder), "--json", "--no-faces", "--no-ocr").stdout)["removed"] == 3


@pytest.mark.parametrize("kind", ["embedded", "postgres"])
def test_the_library_list_shows_a_video_once(kind, new_database, tmp_path):
    import numpy as np

    from pixseek.records import Analysis, FileState, ImageMeta, SparseVector, frame_path

    store = open_store(tmp_path / "lib" if kind == "embedded" else new_database("videolist"))
    try:
        def analysis(fmt: str) -> Analysis:
            return Analysis(ImageMeta(64, 48, fmt), SparseVector.from_dict({1: 0.5}), np.ones(1280, np.float32))
        photo = store.add_content(1, "a" * 64, "v", analysis("JPEG"))
        store.put_file(1, FileState("/p/#t=1.000/x.jpg", 1, 1), photo)  # a real folder with the mark in its name
        for n, seconds in enumerate((0.0, 4.0, 8.0)):
            cid = store.add_content(1, f"{n}" * 64, "v", analysis("VIDEO:MP4"))
            store.put_file(1, FileState(frame_path("/p/clip.mp4", seconds), 1, 1), cid)
        store.commit()
        total, images = store.list_images(1)
        assert total == 2 and sorted(p for im in images for p in im.paths) == ["/p/#t=1.000/x.jpg", "/p/clip.mp4"]
        assert len(store.hashes.live(1)) == 4  # every frame is still a live content (searchable)
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["embedded", "postgres"])
def test_a_page_of_hits_shows_each_video_once(kind, new_database, tmp_path):
    """Three frames of one clip ranked first do not fill the page: its best frame stands for it,
    and the page is filled from further down the ranking (the photo after them)."""
    import numpy as np

    from pixseek.records import Analysis, FileState, ImageMeta, SparseVector, frame_path
    from pixseek.search.results import first_live

    store = open_store(tmp_path / "lib" if kind == "embedded" else new_database("videopage"))
    try:
        def analysis(fmt: str) -> Analysis:
            return Analysis(ImageMeta(64, 48, fmt), SparseVector.from_dict({1: 0.5}), np.ones(1280, np.float32))
        frames = []
        for n, seconds in enumerate((4.0, 0.0, 8.0)):
            cid = store.add_content(1, f"{n}" * 64, "v", analysis("VIDEO:MP4"))
            store.put_file(1, FileState(frame_path("/p/clip.mp4", seconds), 1, 1), cid)
            frames.append(cid)
        other = store.add_content(1, "e" * 64, "v", analysis("VIDEO:MKV"))
        store.put_file(1, FileState(frame_path("/p/other.mkv", 2.0), 1, 1), other)
        photo = store.add_content(1, "f" * 64, "v", analysis("JPEG"))
        store.put_file(1, FileState("/p/#t=1.000/x.jpg", 1, 1), photo)  # a folder with the mark in its name
        store.commit()
        ranked = np.array([frames[0], frames[1], other, frames[2], photo], dtype=np.int64)
        assert first_live(store, ranked, 3, 1, None) == [frames[0], frames[1], other]
        assert first_live(store, ranked, 3, 1, None, one_per_video=True) == [frames[0], other, photo]
        assert first_live(store, ranked, 10, 1, None, one_per_video=True) == [frames[0], other, photo]
    finally:
        store.close()


def test_an_interrupted_run_resumes(videos, model_dir, tmp_path):
    from pixseek.pipeline.analysis import AnalysisOptions
    from pixseek.pipeline.indexer import Indexer

    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("holiday.mp4", "titles.webm", "portrait.mkv"):
        shutil.copyfile(videos / name, folder / name)

    class StopAfterOne:
        def start(self, total: int, description: str) -> None: ...
        def log(self, message: str) -> None: ...
        def advance(self, n: int = 1) -> None:
            raise KeyboardInterrupt  # Ctrl-C right after the first video is stored

    store = open_store(tmp_path / "lib")
    options = AnalysisOptions(faces=False, text=False)
    try:
        first = Indexer(store, model_dir, workers=1, progress=StopAfterOne(), options=options).index(folder)
        assert first.interrupted and first.indexed == 1
        kept = {split_frame_path(p)[0] for p in store.indexed_files(1)}
        assert len(kept) == 1  # one whole video: its poster and frames, nothing half-stored
        second = Indexer(store, model_dir, workers=1, options=options).index(folder)
        assert (second.unchanged, second.indexed, second.removed) == (1, 2, 0)
        assert {split_frame_path(p)[0] for p in store.indexed_files(1)} == {str(folder / n) for n in ("holiday.mp4", "titles.webm", "portrait.mkv")}
    finally:
        store.close()
