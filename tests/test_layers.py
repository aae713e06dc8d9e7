"""The package's layering ([tool.importlinter] in pyproject.toml), checked by import-linter's own CLI:
imports only go down (cli/service > library > pipeline, search > analyzers, store, language >
imageio > records, config, fsutil, ids), models and storage never import each other."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(config: Path, source_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(config)],
        cwd=source_root, env=env, capture_output=True, text=True, timeout=300,
    )


def test_the_package_keeps_its_layers():
    result = _lint(ROOT / "pyproject.toml", ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contracts(tmp_path: Path):
    """The contracts are not vacuous: records (the bottom) importing the CLI, or storage importing a
    model, is reported."""
    shutil.copytree(ROOT / "src" / "pixseek", tmp_path / "pixseek", ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / "pixseek" / "records.py", "a") as records:
        records.write("\nimport pixseek.cli  # an upward import\n")
    with open(tmp_path / "pixseek" / "store" / "columns.py", "a") as columns:
        columns.write("\nfrom pixseek.analyzers import classifier  # storage importing a model\n")
    result = _lint(ROOT / "pyproject.toml", tmp_path)
    assert result.returncode != 0
    assert "pixseek.records -> pixseek.cli" in result.stdout
    assert "pixseek.store.columns -> pixseek.analyzers.classifier" in result.stdout
