"""`pixseek duplicates`: groups of exact copies and near-duplicates in the library."""

from __future__ import annotations

from typing import Annotated

import typer

from pixseek.cli.common import JsonOpt, err, open_library, out, print_json
from pixseek.cli.search import shown_hit_path


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def duplicates(
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100_000, help="Most groups to show.")] = 1000,
) -> None:
    """Groups of duplicates: exact copies (the same bytes in several files) and near-duplicates
    (resized, recompressed, slightly cropped or recoloured copies, burst shots), best copy first.
    Nothing is deleted: pick what to keep in the web UI (uploads), or delete files yourself."""
    library = open_library()
    shown = {"started": False}

    def progress(done: int, total: int) -> None:
        if not shown["started"]:
            err.print(f"hashing {total} images indexed before near-duplicates existed (once)…", highlight=False)
            shown["started"] = True

    groups = library.duplicates(on_progress=progress)[:limit]
    if as_json:
        print_json([
            {
                "exact": g.exact,
                "similarity": g.similarity,
                "images": [
                    {
                        "content_id": im.content_id,
                        "width": im.meta.width,
                        "height": im.meta.height,
                        "taken_at": im.meta.taken_at,
                        "files": [{"path": f.path, "size": f.size} for f in im.files],
                    }
                    for im in g.images
                ],
            }
            for g in groups
        ])
        return
    if not groups:
        out.print("no duplicates found.", highlight=False)
        return
    for n, group in enumerate(groups, 1):
        kind = "exact copies" if group.exact else f"near-duplicates (similarity ≥ {group.similarity:.2f})"
        out.print(f"group {n}: {kind}", highlight=False)
        for k, image in enumerate(group.images):
            mark = "keep?" if k == 0 else "     "
            for file in image.files:
                date = image.meta.taken_at or "no date"
                out.print(
                    f"  {mark} {image.meta.width}x{image.meta.height}  {_size(file.size):>9}  {date:<19}  "
                    f"{shown_hit_path(file.path)}",
                    markup=False, highlight=False, soft_wrap=True,
                )
                mark = "     "
