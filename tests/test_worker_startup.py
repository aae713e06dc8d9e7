"""An analysis worker imports what it analyses with, and nothing of the CLI, the store or search.

A spawned process starts from a bare interpreter, so what it imports is CPU every `pixseek index`
pays again per worker (bench/index_throughput.py: `index_worker_startup_*`). Run through the real
`pixseek` console script, whose main module multiprocessing re-runs in every process it spawns.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Loaded by every Python process of the run (PYTHONPATH): a process that multiprocessing spawned
# writes the modules it holds to <log dir>/<pid>.txt each time it receives a message, the last time
# on being told to stop, after its files (workers exit by os._exit: nothing runs at their end).
_RECORDER = """
import os, sys
if "--multiprocessing-fork" in sys.argv:
    from multiprocessing import connection

    _recv = connection.Connection.recv

    def recv(self):
        message = _recv(self)
        with open(os.path.join({log_dir!r}, f"{{os.getpid()}}.txt"), "w") as log:
            log.write("\\n".join(sorted(sys.modules)))
        return message

    connection.Connection.recv = recv
"""

# The worker's job: decoding, the classifier (ONNX Runtime), the characteristics, the perceptual hash.
NEEDED = {"pixseek.pipeline.workers", "pixseek.analyzers.classifier", "pixseek.imageio.decode", "onnxruntime", "PIL"}
NOT_NEEDED = ("pixseek.cli", "pixseek.store", "pixseek.search", "pixseek.library", "pixseek.language",
              "typer", "rich", "sqlite3", "pillow_heif")


def test_a_worker_spawned_by_the_pixseek_command_imports_no_cli_store_or_search(
    gallery_master, tmp_path: Path, pixseek_env: dict[str, str]
):
    gallery, _ = gallery_master
    folder = tmp_path / "pictures"
    folder.mkdir()
    for picture in sorted((gallery / "photos").iterdir())[:2]:
        (folder / picture.name).write_bytes(picture.read_bytes())
    logs = tmp_path / "imports"
    logs.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_RECORDER.format(log_dir=str(logs)))
    env = {**pixseek_env, "PYTHONPATH": str(site), "PIXSEEK_HOME": str(tmp_path / "library")}
    command = Path(sys.executable).with_name("pixseek")  # the console script `pip install` writes
    done = subprocess.run(
        [str(command), "index", str(folder), "--workers", "1", "--no-faces", "--no-ocr", "--json"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["indexed"] == 2

    workers = [set(log.read_text().split()) for log in logs.iterdir()]
    workers = [imported for imported in workers if "pixseek.pipeline.workers" in imported]
    assert len(workers) == 1, "the recorder saw no analysis worker"
    (imported,) = workers
    assert NEEDED <= imported, NEEDED - imported
    unneeded = sorted(m for m in imported if any(m == top or m.startswith(top + ".") for top in NOT_NEEDED))
    assert not unneeded, unneeded
