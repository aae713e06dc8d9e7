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
from pathlib import Path

from bench.common import CACHE_DIR, Result, finish, model_dir, parser, rounded

SCENES = ("chelsea", "coffee", "rocket", "astronaut", "china", "flower", "motorcycle", "grace_hopper", "text", "coins")


def make_video(seconds: float, size: tuple[int, int]) -> Path:
    from pixseek.demo.video_set import Scene, photo, text_card, write_video

    path = CACHE_DIR / f"dups-video-{size[1]}p-{seconds:g}s.mp4"
    if not path.exists():
        per_scene = seconds / len(SCENES)
        scenes = [Scene(text_card() if name == "text" else photo(name), per_scene) for name in SCENES]
        t0 = time.perf_counter()
        write_video(path, scenes, size=size, fps=30, gop=30, options={"preset": "veryfast"})
        print(f"encoded {path.name} in {time.perf_counter() - t0:.1f} s")
    return Path(path)


def _folder_of(video: Path) -> Path:
    """A folder holding only the video (a link to it): what the indexer is pointed at."""
    folder = CACHE_DIR / "dups-video-bench-folder"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / video.name).symlink_to(video)
    return folder


def run(quick: bool) -> Result:
    from pixseek.imageio.video import sample_frames
    from pixseek.pipeline.indexer import Indexer
    from pixseek.store import open_store

    seconds, size = (12.0, (1280, 720)) if quick else (60.0, (1920, 1080))
    video = make_video(seconds, size)
    folder = _folder_of(video)
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


def with_model(quick: bool) -> Result:
    """The same video with the ViT-B/32-shaped vision-language model on (bench/vlm_models.py):
    the model's cost per frame embedded in one batch (a video's frames, as the indexer does)
    against one at a time, in one process; the whole index with the model on (faces and OCR off,
    both runs); and the model-only pass over the library indexed without it, which decodes each
    frame again from the video."""
    from bench.vlm_index import HOME, _library_home, _wipe_records
    from bench.vlm_models import ensure_vitb32
    from pixseek.imageio.video import sample_frames
    from pixseek.library import Library
    from pixseek.pipeline.analysis import AnalysisOptions, ImageAnalyzer
    from pixseek.pipeline.vision import embed_missing
    from pixseek.records import ImageMeta

    seconds, size = (12.0, (1280, 720)) if quick else (60.0, (1920, 1080))
    video = make_video(seconds, size)
    folder = _folder_of(video)
    ensure_vitb32()
    _library_home()
    options = AnalysisOptions(faces=False, text=False)
    with Library(HOME, options=options) as library:
        target = library.vision_target()
    info, sampled = sample_frames(str(video))
    pictures = [(f.image, ImageMeta(f.image.width, f.image.height, "video/MP4")) for f in sampled]
    analyzer = ImageAnalyzer(model_dir(), options=AnalysisOptions(faces=False, text=False, vision=target))
    analyzer.analyze_pictures(pictures[:2])  # warm
    batched, single = [], []
    for _ in range(3):
        batched.append(sum(a.timings_ms["vlm"] for a in analyzer.analyze_pictures(pictures)))
        timings: dict[str, float] = {}
        total = 0.0
        for image, _meta in pictures:
            analyzer.vision.embed(image, timings)  # type: ignore[union-attr]
            total += timings["vlm"]
        single.append(total)
    per_batched, per_single = min(batched) / len(pictures), min(single) / len(pictures)
    print(f"ViT-B/32 per frame: {per_batched:.1f} ms in a batch of {len(pictures)}, {per_single:.1f} ms one at a time")
    minutes = info.duration_s / 60
    walls = {}
    for model in (True, False):  # the model-off run leaves the library the model-only pass embeds
        _wipe_records()
        with Library(HOME, options=options) as library:
            library.embed_with_model = model
            t0 = time.perf_counter()
            report = library.indexer(workers=1).index(folder)
            walls[model] = time.perf_counter() - t0
            assert report.indexed == 1 and not report.skipped, report
    with Library(HOME) as library:
        t0 = time.perf_counter()
        embedded = embed_missing(library.store, library.owner, target, library.paths.models, workers=1)
        reembed_s = time.perf_counter() - t0
    assert embedded.embedded == len(sampled) and not embedded.skipped, embedded
    print(f"indexed with the model in {walls[True]:.1f} s, without {walls[False]:.1f} s; "
          f"model-only pass {reembed_s:.1f} s ({embedded.stage_ms})")
    suffix = "_quick" if quick else ""
    return {
        f"video_vlm_ms_per_frame_batched{suffix}": rounded(per_batched, 3),
        f"video_vlm_ms_per_frame_single{suffix}": rounded(per_single, 3),
        f"video_vlm_index_s_per_minute{suffix}": rounded(walls[True] / minutes, 3),
        f"video_vlm_model_off_index_s_per_minute{suffix}": rounded(walls[False] / minutes, 3),
        f"video_vlm_reembed_s_per_minute{suffix}": rounded(reembed_s / minutes, 3),
    }


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model-only", action="store_true", help="only the figures with a vision-language model on")
    args = p.parse_args(argv)
    result = {} if args.model_only else run(args.quick)
    finish(result | with_model(args.quick), write=not args.quick)


if __name__ == "__main__":
    main()
