"""Video indexing: seconds of indexing per minute of 1080p H.264 video, with the full analysis.

    python -m bench.video [--quick]

The video is made at bench time from the real sample photos (demo/video_set.write_video): one
minute at 1920x1080, 30 fps, H.264 (x264 veryfast, a key frame every second as phones write
them), ten scenes of 6 s, each slowly panning (cat, coffee, the rocket, the astronaut, the pagoda,
the flower, the motorcycle, Grace Hopper, a rendered title card, the coins); cached in
bench/.cache/dups-video-1080p-60s.mp4. It is indexed by the real Indexer (one worker process: one
file) with the default analysis (classifier, faces, OCR): wall time from the start of the run to
its end, the worker's start included, divided by the video's length in minutes. Also the time to
sample the frames alone (decode key frames, choose by scene change) and how many were kept.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence

from bench.common import CACHE_DIR, Result, finish, model_dir, parser, rounded

SCENES = ("chelsea", "coffee", "rocket", "astronaut", "china", "flower", "motorcycle", "grace_hopper", "text", "coins")


def make_video(seconds: float, size: tuple[int, int]) -> "Path":
    from pathlib import Path

    from pixseek.demo.video_set import Scene, photo, text_card, write_video

    path = CACHE_DIR / f"dups-video-{size[1]}p-{seconds:g}s.mp4"
    if not path.exists():
        per_scene = seconds / len(SCENES)
        scenes = [Scene(text_card() if name == "text" else photo(name), per_scene) for name in SCENES]
        t0 = time.perf_counter()
        write_video(path, scenes, size=size, fps=30, gop=30, options={"preset": "veryfast"})
        print(f"encoded {path.name} in {time.perf_counter() - t0:.1f} s")
    return Path(path)


def run(quick: bool) -> Result:
    from pixseek.imageio.video import sample_frames
    from pixseek.pipeline.indexer import Indexer
    from pixseek.store import open_store

    seconds, size = (12.0, (1280, 720)) if quick else (60.0, (1920, 1080))
    video = make_video(seconds, size)
    folder = CACHE_DIR / "dups-video-bench-folder"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / video.name).symlink_to(video)
    t0 = time.perf_counter()
    info, frames = sample_frames(str(video))
    sample_s = time.perf_counter() - t0
    print(f"{info.width}x{info.height}, {info.duration_s:.1f} s: {len(frames)} frames kept at "
          f"{', '.join(f'{f.seconds:.0f}' for f in frames)} s ({sample_s:.2f} s to sample)")
    home = CACHE_DIR / "dups-video-bench-library"
    shutil.rmtree(home, ignore_errors=True)
    store = open_store(home)
    try:
        t1 = time.perf_counter()
        report = Indexer(store, model_dir(), workers=1).index(folder)
        index_s = time.perf_counter() - t1
    finally:
        store.close()
    assert report.indexed == 1 and not report.skipped, report
    print(f"indexed in {index_s:.1f} s; per frame: {report.stage_ms}")
    minutes = info.duration_s / 60
    return {
        "video_index_s_per_minute": rounded(index_s / minutes, 2),
        "video_sample_s_per_minute": rounded(sample_s / minutes, 2),
        "video_frames_per_minute": rounded(len(frames) / minutes, 1),
        "video_bench_resolution": f"{info.width}x{info.height} H.264 30 fps",
    } if not quick else {"video_index_s_per_minute_quick": rounded(index_s / minutes, 2)}


def main(argv: Sequence[str] | None = None) -> None:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    finish(run(args.quick), write=not args.quick)


if __name__ == "__main__":
    main()
