"""Extreme shapes: the peak memory one picture costs the analysis, for tiny files of absurd shapes.

    python -m bench.extreme_shapes [--quick]

Each picture of tests/test_extreme_shapes.py (the 1 x 100000, 100000 x 1, 1 x 6000 and 65535 x 1
PNGs, the 9000 x 9000 1-bit PNG of 9.9 KB, 1 x 1, 16-bit grey, CMYK, palette with alpha, 1000-frame
GIF and APNG) and, for comparison, a 12 MP camera JPEG and a 12 MP scanned page, each in its own
fresh spawned process: `ImageAnalyzer` with faces and OCR on, the real models. The figure is that
process's peak RSS while analysing the picture minus its RSS once the models are loaded.
--quick measures the four reported files and the photo only.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.common import MACHINE_ENV, Result, finish, machine_info, model_dir, parser, print_table, rounded
from tests.test_extreme_shapes import REFERENCES, SHAPES, analyse_files_in_child, run_in_spawned_process

REPORTED = ("1x100000 PNG", "100000x1 PNG", "1x6000 PNG", "9000x9000 1-bit PNG")


def _key(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def run(quick: bool) -> Result:
    models = model_dir()
    pictures = {**SHAPES, **REFERENCES}
    if quick:
        pictures = {n: pictures[n] for n in (*REPORTED, "12 MP JPEG photo")}
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="pixseek-shapes-") as tmp:
        for i, (name, (make, _)) in enumerate(pictures.items()):
            path = Path(tmp) / f"{i:02d}.bin"
            path.write_bytes(make())
            report = run_in_spawned_process(analyse_files_in_child, str(models), [str(path)])
            row = report["rows"][0]
            rows.append((name, path.stat().st_size, row["outcome"], row["peak_above_baseline_mb"],
                         row["seconds"], row["detail"][:60]))
            results[f"analysis_peak_rss_mb_{_key(name)}"] = rounded(row["peak_above_baseline_mb"])
    print_table(["picture", "bytes", "outcome", "peak MB above models", "s", "detail"], rows,
                title="one picture per fresh process, faces and OCR on")
    shapes = [r for r in rows if r[0] in SHAPES]
    worst = max(shapes, key=lambda r: r[3])
    results["analysis_peak_rss_mb_extreme_shapes"] = rounded(worst[3])
    results["analysis_peak_rss_extreme_shapes_worst"] = worst[0]
    return results


def main(argv: Sequence[str] | None = None) -> None:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    os.environ.setdefault(MACHINE_ENV, machine_info())
    finish(run(args.quick), write=not args.quick)


if __name__ == "__main__":
    main()
