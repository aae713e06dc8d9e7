"""The vision-language model layer's speed, with a model of ViT-B/32's exact shape (random weights:
the same compute as OpenAI's ViT-B/32 CLIP, which no package here carries).

    python -m bench.vlm_models [--quick] [--rounds N]

The model: transformers' CLIPConfig defaults are ViT-B/32 (vision 768 wide, 12 layers, patch 32,
224 px; text 512 wide, 12 layers, 77 tokens, vocabulary 49,408; projection 512), random weights,
exported once to the ONNX layout by pixseek's own exporter, cached at
bench/.cache/vlm-vitb32-random/ (other benchmarks index with it).

Measured in one process, one after the other (so the ratios hold on a loaded box):
- `vlm_text_embed_ms`: one query through tokenizer + text tower, p50 (goal <= 50 ms); and the same
  query padded to the full 77 tokens (`_77_tokens`), as a graph fixed at 77 (Immich's) runs it;
- `vlm_image_embed_ms_*`: per image, `embed_images` on pictures as the pipeline decodes them
  (shorter side 256: preprocessing included), batch 1 and batch 8, one intra-op thread and two;
  wall and CPU time;
- the default classifier (EfficientNet-Lite0) per image in the same run, for the ratio.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import CACHE_DIR, Result, finish, model_dir, parser, percentile, print_table, rounded, setup_env

VITB32_DIR = CACHE_DIR / "vlm-vitb32-random"
GOAL_TEXT_MS = 50.0
QUERIES = [
    "sunset", "a tree in the snow", "person on a bike", "birthday cake", "a dog on the beach",
    "two children playing football in a park", "a red car parked in front of a house", "mountains",
]


def ensure_vitb32(target: Path = VITB32_DIR) -> Path:
    """The ViT-B/32-shaped random CLIP in the ONNX layout, built and exported once (~1 min)."""
    if (target / "visual" / "model.onnx").is_file() and (target / "textual" / "model.onnx").is_file():
        return target
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from transformers import CLIPConfig, CLIPModel

    from pixseek.analyzers.vlm.export import export_hf_folder
    from tests.vlm_models import _save_fast_tokenizer, _write_image_processor, clip_tokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".vitb32-hf-") as scratch:
        hf = Path(scratch)
        tokenizer = clip_tokenizer()  # a small trained BPE: the tower's cost does not depend on the vocabulary
        eos = tokenizer.token_to_id("<|endoftext|>")
        config = CLIPConfig(text_config={"eos_token_id": eos, "bos_token_id": tokenizer.token_to_id("<|startoftext|>"), "pad_token_id": eos})
        assert config.vision_config.hidden_size == 768 and config.vision_config.patch_size == 32
        assert config.text_config.hidden_size == 512 and config.projection_dim == 512
        torch.manual_seed(0)
        CLIPModel(config).eval().save_pretrained(str(hf))
        _save_fast_tokenizer(
            tokenizer, hf, 77, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
            unk_token="<|endoftext|>", pad_token="<|endoftext|>",
        )
        _write_image_processor(hf, 224, "clip")
        shutil.rmtree(target, ignore_errors=True)
        export_hf_folder(hf, target)
    return target


def _pictures(count: int) -> list[Image.Image]:
    """Pictures as the pipeline hands them over: 12 MP photos decoded with draft to shorter side ~256."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(count):
        base = rng.integers(0, 255, (8, 12, 3), dtype=np.uint8)
        im = Image.fromarray(base).resize((384 if i % 2 else 256, 256 if i % 2 else 384), Image.Resampling.BICUBIC)
        out.append(im)
    return out


def _time_per_item(fn: Any, batches: Sequence[Any], per_batch: int) -> tuple[float, float]:
    """(p50 wall ms per item, mean CPU ms per item) over the batches."""
    walls, cpu_start = [], time.process_time()
    for batch in batches:
        t = time.perf_counter()
        fn(batch)
        walls.append((time.perf_counter() - t) * 1e3 / per_batch)
    cpu = (time.process_time() - cpu_start) * 1e3 / (per_batch * len(batches))
    return percentile(walls, 50), cpu


def run(rounds: int) -> Result:
    from pixseek.analyzers.classifier import Classifier, preprocess
    from pixseek.analyzers.vlm import load_model
    from pixseek.analyzers.vlm.tokenize import Tokens

    setup_env()
    folder = ensure_vitb32()
    sizes = {t: sum(p.stat().st_size for p in (folder / t).rglob("*")) / 2**20 for t in ("visual", "textual")}
    print(f"model: {folder} (visual {sizes['visual']:.0f} MiB, textual {sizes['textual']:.0f} MiB)")
    pictures = _pictures(8)
    results: Result = {}
    rows = []
    for threads in (1, 2):
        model = load_model(folder, threads=threads)
        model.embed_texts(["warm up"]), model.embed_images(pictures[:1])
        text_p50, text_cpu = _time_per_item(lambda q: model.embed_texts([q]), QUERIES * rounds, 1)
        # As a graph fixed at 77 tokens (Immich's exports) costs: the whole padded context, every query.
        padded = model.tokenizer.encode(QUERIES)
        full_p50, full_cpu = _time_per_item(
            lambda i: model._textual.run(model.text_feeds(Tokens(padded.ids[i:i + 1], padded.attention_mask[i:i + 1]))),
            list(range(len(QUERIES))) * rounds, 1,
        )
        b1_p50, b1_cpu = _time_per_item(lambda im: model.embed_images([im]), pictures * max(1, rounds // 2), 1)
        b8_p50, b8_cpu = _time_per_item(model.embed_images, [pictures] * max(1, rounds // 2), 8)
        suffix = "" if threads == 1 else "_2threads"
        results[f"vlm_text_embed_ms{suffix}"] = rounded(text_p50)
        results[f"vlm_text_embed_cpu_ms{suffix}"] = rounded(text_cpu)
        results[f"vlm_text_embed_ms_77_tokens{suffix}"] = rounded(full_p50)
        results[f"vlm_text_embed_cpu_ms_77_tokens{suffix}"] = rounded(full_cpu)
        results[f"vlm_image_embed_ms_b1{suffix}"] = rounded(b1_p50)
        results[f"vlm_image_embed_cpu_ms_b1{suffix}"] = rounded(b1_cpu)
        results[f"vlm_image_embed_ms_b8{suffix}"] = rounded(b8_p50)
        results[f"vlm_image_embed_cpu_ms_b8{suffix}"] = rounded(b8_cpu)
        rows += [
            (f"text, 1 query, {threads} thread(s)", text_p50, text_cpu),
            (f"text, 1 query padded to 77 tokens, {threads} thread(s)", full_p50, full_cpu),
            (f"image, batch 1, {threads} thread(s)", b1_p50, b1_cpu),
            (f"image, batch 8, {threads} thread(s)", b8_p50, b8_cpu),
        ]
        del model
    classifier = Classifier(model_dir(), threads=1)
    classifier.classify(pictures[0])
    cls_p50, cls_cpu = _time_per_item(lambda im: classifier.classify_batch(preprocess(im)), pictures * max(1, rounds // 2), 1)
    rows.append(("classifier (EfficientNet-Lite0), batch 1, 1 thread", cls_p50, cls_cpu))
    print_table(["step (per item)", "p50 wall ms", "CPU ms"], rows, title="ViT-B/32-shaped CLIP on ONNX Runtime")
    results["vlm_classifier_same_run_ms"] = rounded(cls_p50)
    results["vlm_classifier_same_run_cpu_ms"] = rounded(cls_cpu)
    results["vlm_image_to_classifier_cpu_ratio"] = rounded(results["vlm_image_embed_cpu_ms_b1"] / cls_cpu)
    results["vlm_vitb32_visual_mib"] = rounded(sizes["visual"])
    results["vlm_vitb32_textual_mib"] = rounded(sizes["textual"])
    verdict = "meets" if results["vlm_text_embed_ms"] <= GOAL_TEXT_MS else "misses"
    print(f"\ntext {results['vlm_text_embed_ms']} ms {verdict} the goal of <= {GOAL_TEXT_MS:.0f} ms; one image costs "
          f"{results['vlm_image_to_classifier_cpu_ratio']}x the classifier's CPU")
    return results


def main(argv: Sequence[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=None, help="passes over the queries/pictures (default 8, 2 quick)")
    args = p.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 8)
    finish(run(rounds), write=not args.quick)


if __name__ == "__main__":
    main()
