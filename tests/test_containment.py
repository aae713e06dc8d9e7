"""Containment of the analysis workers: a memory ceiling and a time limit per picture. A
picture past either fails alone, its worker is replaced, the other files are analysed. Real
means only: the models, and a dense scanned page that is expensive to read (~5 s and ~400 MB with
OCR, against ~50 ms and ~200 MB for a small picture), with limits set below what it needs."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pixseek.demo.text_set import TEXT_FONTS, font_file, render_document
from pixseek.service.app import create_app
from pixseek.service.settings import ServiceSettings
from pixseek.pipeline.workers import AnalysisWorkers, WorkerLimits, too_much_memory, too_slow

CSRF = {"X-Requested-With": "pixseek-tests"}
LOW_MEMORY_MB = 320  # the models take ~180 of it, a small picture ~30 more; the page needs 380+
SHORT_S = 2.0  # a small picture takes well under 0.5 s even on a loaded box; the page ~5 s idle
_WORDS = "invoice total due payment account number balance summary report quarterly results march april".split()


def dense_page(path: Path, seed: int = 1) -> Path:
    """A 2170 x 2512 scan of 40 lines of 40 px text, as a JPEG."""
    rng = random.Random(seed)
    lines = [" ".join(rng.choice(_WORDS) for _ in range(12)) for _ in range(40)]
    render_document(lines, font_file(TEXT_FONTS[0]), 40, spacing=1.5).image.save(path, quality=90)
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dense_page(tmp_path_factory.mktemp("scan") / "scan.jpg")


def small_pictures(gallery_master, n: int) -> list[Path]:
    gallery, _ = gallery_master
    return sorted((gallery / "fashion").iterdir())[:n]


def _start_time(pid: int) -> str | None:
    """The process's start time (to tell it from a later one with the same pid); None once it is
    gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


# ---- the limits -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "limits, reason",
    [
        (WorkerLimits(memory_mb=LOW_MEMORY_MB, seconds=None), too_much_memory(LOW_MEMORY_MB)),
        (WorkerLimits(memory_mb=None, seconds=SHORT_S), too_slow(SHORT_S)),
    ],
    ids=["memory", "time"],
)
def test_a_picture_past_a_limit_fails_alone_and_its_worker_is_replaced(
    gallery_master, model_dir: Path, page: Path, limits: WorkerLimits, reason: str
):
    small = [str(p) for p in small_pictures(gallery_master, 12)]
    paths = small[:3] + [str(page)] + small[3:8]
    with AnalysisWorkers(model_dir, workers=2, limits=limits) as workers:
        seen: set[int] = set()
        results = []
        for result in workers.results(paths):
            seen.update(workers.pids)
            results.append(result)
        assert workers.replaced == 1
        later = []
        for result in workers.results(small[8:]):  # the next files find two workers again
            seen.update(workers.pids)
            later.append(result)
        assert len(workers.pids) == 2 and len(seen) == 3  # the two first ones, then the one that took over
        assert not any(_start_time(pid) for pid in seen - set(workers.pids))  # the culprit's is gone
    by_path = {r.path: r for r in results}
    assert sorted(by_path) == sorted(paths) and len(results) == len(paths)
    assert by_path[str(page)].error == reason and by_path[str(page)].analysis is None
    assert all(by_path[p].error is None and by_path[p].analysis is not None for p in small[:8])
    assert all(r.error is None and r.analysis is not None for r in later)


def test_pixseek_index_skips_a_picture_past_its_time_limit(gallery_master, pixseek_env, page: Path, tmp_path: Path):
    import json

    folder = tmp_path / "photos"
    folder.mkdir()
    for picture in small_pictures(gallery_master, 4):
        shutil.copy(picture, folder)
    shutil.copy(page, folder / "scan.jpg")
    env = {**pixseek_env, "PIXSEEK_HOME": str(tmp_path / "library")}
    result = subprocess.run(
        [sys.executable, "-m", "pixseek.cli", "index", str(folder), "--json", "--max-image-seconds", str(SHORT_S)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped"] == [{"path": str(folder / "scan.jpg"), "reason": too_slow(SHORT_S)}]
    assert report["indexed"] == 4


def test_an_upload_past_the_memory_ceiling_fails_its_job_and_others_go_on(
    gallery_master, model_dir: Path, cache_dir: Path, page: Path, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("PIXSEEK_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("PIXSEEK_CACHE_DIR", str(cache_dir))
    settings = ServiceSettings(home=tmp_path / "library", single_user=True, max_worker_mb=LOW_MEMORY_MB)
    shirt, trousers = small_pictures(gallery_master, 2)
    with TestClient(create_app(settings), base_url="http://127.0.0.1", headers=CSRF) as client:
        files = [("files", (p.name, p.read_bytes())) for p in (shirt, page, trousers)]
        response = client.post("/api/images", files=files)
        assert response.status_code == 202, response.text
        ids = [job["id"] for job in response.json()["jobs"]]
        deadline = time.monotonic() + 120
        while True:
            jobs = [client.get(f"/api/jobs/{i}").json() for i in ids]
            if all(j["status"] in ("done", "failed") for j in jobs):
                break
            assert time.monotonic() < deadline, jobs
            time.sleep(0.2)
        assert [j["status"] for j in jobs] == ["done", "failed", "done"], jobs
        assert jobs[1]["error"] == too_much_memory(LOW_MEMORY_MB)
        again = client.post("/api/images", files=[("files", ("again.png", trousers.read_bytes() + b"\0"))])
        (job,) = again.json()["jobs"]
        while (status := client.get(f"/api/jobs/{job['id']}").json())["status"] not in ("done", "failed"):
            time.sleep(0.2)
        assert status["status"] == "done", status  # a fresh worker took over


def test_a_ceiling_below_what_the_models_need_is_a_clear_setup_error(model_dir: Path, gallery_master):
    from pixseek.pipeline.workers import WorkersUnavailable

    with AnalysisWorkers(model_dir, workers=1, limits=WorkerLimits(memory_mb=64)) as workers:
        with pytest.raises(WorkersUnavailable, match="loading the models needs more than 64 MB"):
            list(workers.results([str(small_pictures(gallery_master, 1)[0])]))
