"""What a person feels at the command line: the first search after install, and every search after.

    python -m bench.cli_latency [--quick]

1. `cli_first_search_s`: a new user (an empty $XDG_CACHE_HOME) makes a new library and indexes
   the demo's photos with `pixseek index` (which also prepares the language tables, once); then
   the first `pixseek search` process, wall time from exec to exit. Measured twice: with the
   kernel's page cache dropped first (`cli_first_search_cold_s`; needs root, else skipped: the
   whole Python installation is then read from disk too) and without (`cli_first_search_s`).
2. `cli_search_s`: median wall time of a `pixseek search` process on the cached synthetic 100k
   library (bench/synth.py) over a few English and French queries, warm; `cli_search_cpu_s`: the
   median CPU time (user + system) of those processes, which the rest of a shared box's load
   disturbs far less than the wall time.
Every `pixseek` process runs with pixseek's bytecode compiled, as after `pip install` (which
compiles the package): the package is byte-compiled first (its __pycache__, git-ignored) and
PYTHONDONTWRITEBYTECODE is dropped for these processes. One that compiles pixseek's sources on
every call instead (PYTHONDONTWRITEBYTECODE=1 and no .pyc, as in some sandboxes) pays ~0.1 s more.
3. Whether a text search loads any model runtime (ONNX Runtime, dlib, OpenCV, usearch): it must not.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import CACHE_DIR, REPO_DIR, Result, finish, machine_info, MACHINE_ENV, parser, rounded, setup_env

QUERIES = ("cat", "red car", "beach ball", "chien", "voiture rouge")
MODEL_MODULES = ("onnxruntime", "dlib", "cv2", "usearch", "rapidocr_onnxruntime", "torch", "transformers")


def _compile_package() -> None:
    """Byte-compile the pixseek package the processes import, as `pip install` does."""
    import compileall

    import pixseek

    compileall.compile_dir(Path(pixseek.__file__).parent, quiet=1)


def _installed(env: dict[str, str]) -> dict[str, str]:
    """The environment with bytecode as an installed package has it (see the module doc)."""
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _pixseek(env: dict[str, str], *args: str) -> float:
    return _pixseek_timed(env, *args)[0]


def _pixseek_timed(env: dict[str, str], *args: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one `pixseek` process, from exec to exit."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "pixseek.cli", *args], env=_installed(env), cwd=REPO_DIR,
            stdout=subprocess.DEVNULL, stderr=stderr,
        )
        _, status, usage = os.wait4(process.pid, 0)
        took = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in (0, 1):  # 1: "no image matches well enough" is an answer
            stderr.seek(0)
            raise RuntimeError(f"pixseek {' '.join(args)} failed ({process.returncode}): {stderr.read()[-500:]!r}")
    return took, usage.ru_utime + usage.ru_stime


def _drop_page_cache() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def first_search(results: Result) -> None:
    from pixseek.demo.samples import write_demo_gallery

    scratch = Path(tempfile.mkdtemp(prefix="pixseek-first-"))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("PIXSEEK_CACHE_DIR", "PIXSEEK_HOME")}
        env["XDG_CACHE_HOME"] = str(scratch / "user-cache")  # a new user: nothing prepared yet
        gallery = scratch / "gallery"
        write_demo_gallery(gallery, fashion_per_class=1)
        library = scratch / "library"
        started = time.perf_counter()
        _pixseek(env, "index", str(gallery / "photos"), "--db", str(library), "--no-faces", "--no-ocr")
        results["cli_first_index_s"] = rounded(time.perf_counter() - started)
        if _drop_page_cache():
            results["cli_first_search_cold_s"] = rounded(_pixseek(env, "search", "cat", "--db", str(library)))
        else:
            print("cannot drop the page cache (not root): cli_first_search_cold_s not measured", flush=True)
        fresh = scratch / "library2"  # a second fresh library: the OS cache warm, the library new
        _pixseek(env, "index", str(gallery / "photos"), "--db", str(fresh), "--no-faces", "--no-ocr")
        results["cli_first_search_s"] = rounded(_pixseek(env, "search", "chien", "--db", str(fresh)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def warm_search(results: Result, quick: bool) -> None:
    from bench.synth import build_library, library_dir

    size = 30_000 if quick else 100_000
    library = library_dir(size)
    if not (library / "BUILT.json").exists():
        build_library(size)
    env = dict(os.environ)
    _pixseek(env, "prepare")
    for query in QUERIES:  # warm: the library's pages and the tables in the OS cache
        _pixseek(env, "search", *query.split(), "--db", str(library))
    load = os.getloadavg()[0]
    timed = [_pixseek_timed(env, "search", *q.split(), "--db", str(library)) for _ in range(1 if quick else 3) for q in QUERIES]
    times = [wall for wall, _ in timed]
    suffix = "" if size == 100_000 else f"_{size}"
    results[f"cli_search_s{suffix}"] = rounded(statistics.median(times))
    results["cli_search_max_s"] = rounded(max(times))
    results[f"cli_search_cpu_s{suffix}"] = rounded(statistics.median(cpu for _, cpu in timed))
    results["cli_search_load_1m"] = round((load + os.getloadavg()[0]) / 2, 1)  # the box's, around the timed runs
    probe = (
        "import sys; sys.argv = ['pixseek', '--db', sys.argv[1], 'search', 'cat'];"
        "from pixseek.cli import main\ntry: main()\nexcept SystemExit: pass\n"
        f"print('MODULES:' + ','.join(m for m in {MODEL_MODULES!r} if m in sys.modules), file=sys.stderr)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe, str(library)], env=env, cwd=REPO_DIR, capture_output=True, text=True)
    marked = [line for line in loaded.stderr.splitlines() if line.startswith("MODULES:")]
    results["cli_text_search_model_modules"] = marked[-1].removeprefix("MODULES:") if marked else "probe failed"


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    os.environ.setdefault(MACHINE_ENV, machine_info())
    setup_env()
    results: Result = {}
    _compile_package()
    first_search(results)
    warm_search(results, args.quick)
    for key, value in sorted(results.items()):
        print(f"{key}: {value}")
    finish(results, write=not args.quick)


if __name__ == "__main__":
    main()
