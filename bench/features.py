"""Can the shipped classifier's pictures be seen better? Views and features tried for issues 15 and 16.

    python -m bench.features [--quick]

The dev-set pictures of tools/build_devset_head.py's library, classified by the shipped Lite0 in one
process as bench/lite2.py does (the centre crop and the letterboxed whole frame, probabilities
pooled), once as the indexer sees them (`base`) and once per variant:

* `trim`: uniform borders cut off first (the background read from the outermost pixels; kept only
  when >= 90 % of them are within 24 levels of it and the content box loses >= 10 % of the area;
  6 % of the box's side kept as margin): clip art and drawings on white fill more of the crop;
* `flip`: the mirrored picture classified too, probabilities averaged, unit embeddings summed
  (test-time augmentation at twice the classifier's cost);
* `full_embedding`: the whole-frame view's embedding (computed, and dropped, by the indexer)
  beside the crop's, each unit length, concatenated (2560-d);
* `mid_features`: the crop's 112-channel features after stage 5 of 7 (14 x 14, pooled), unit
  length, beside the embedding (layers before the last are said to carry across kinds of
  picture better).

Each is scored as bench/lite2.py scores a classifier: `features_<variant>_categories_p10` (the
label queries by the class probabilities alone) and `features_<variant>_teach_p10_5shot` (15 fine
labels, 5 examples, 3 draws, P@10 among the rest, search/taught.py's trainer). Fitted parts
(calibration, probes, shipped joint space) are left out: they were fitted to `base`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageOps

from bench.common import Result, finish, model_dir, parser, print_table, rounded
from bench.lite2 import categories_p10, devset_pictures, features, teach_p10
from pixseek.search.taught import unit

TRIM_TOLERANCE = 24  # levels (0-255) a pixel may differ from the background and still be background
TRIM_RING_SHARE = 0.9  # this share of the outermost pixels must be background
TRIM_MIN_GAIN = 0.10  # the content box must be at least this much smaller than the picture
TRIM_MARGIN = 0.06  # of the content box's longer side, kept around it
MID_STAGE_LAST_BLOCK = 10  # Lite0's blocks 8-10 are stage 5 (80 -> 112 channels, stride 16)


def trim_borders(image: Image.Image) -> Image.Image:
    """The picture without a uniform border (itself when it has none)."""
    small = image.copy()
    small.thumbnail((256, 256))
    a = np.asarray(small.convert("RGB"), dtype=np.int16)
    ring = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    background = np.median(ring, axis=0)
    if (np.abs(ring - background).max(axis=1) <= TRIM_TOLERANCE).mean() < TRIM_RING_SHARE:
        return image
    ys, xs = np.nonzero(np.abs(a - background).max(axis=2) > TRIM_TOLERANCE)
    if not len(xs):
        return image
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    h, w = a.shape[:2]
    if (x1 - x0) * (y1 - y0) > (1 - TRIM_MIN_GAIN) * w * h:
        return image
    pad = TRIM_MARGIN * max(x1 - x0, y1 - y0)
    sx, sy = image.width / w, image.height / h
    box = (max(0.0, (x0 - pad) * sx), max(0.0, (y0 - pad) * sy), min(image.width, (x1 + pad) * sx), min(image.height, (y1 + pad) * sy))
    return image.crop(tuple(int(round(v)) for v in box))


def _session_with_pooled(pooled_from: Callable[[object], str]):
    """An ONNX Runtime session of the shipped crop graph with one more output, `pooled`: the global
    average of the tensor `pooled_from(model)` names."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from pixseek.analyzers.classifier import ensure_model

    model = onnx.load(str(ensure_model(model_dir())))
    model.graph.node.extend([
        helper.make_node("GlobalAveragePool", [pooled_from(model)], ["pooled_4d"]),
        helper.make_node("Flatten", ["pooled_4d"], ["pooled"], axis=1),
    ])
    model.graph.output.append(helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", None]))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _mid_stage_output(model) -> str:
    """The tensor after the last block of stage 5: the residual Add fed by that block's projection."""
    prefix = f"_blocks.{MID_STAGE_LAST_BLOCK}._project_conv"
    return next(n.output[0] for n in model.graph.node if n.op_type == "Add" and any(i.startswith(prefix) for i in n.input))


def mid_stage_features(images: list[Image.Image]) -> np.ndarray:
    from pixseek.analyzers.classifier import preprocess

    session = _session_with_pooled(_mid_stage_output)
    return np.array([session.run(["pooled"], {"image": preprocess(im)})[0][0] for im in images], np.float32)


def run(quick: bool) -> Result:
    result: Result = {}
    with devset_pictures(quick) as (library, labels, images):
        base = features("lite0", images)
        embeddings, probabilities = base.embeddings, base.probabilities
        variants: dict[str, tuple[np.ndarray, np.ndarray, float]] = {"base": (embeddings, probabilities, 1.0)}
        trimmed = [trim_borders(im) for im in images]
        result["features_trimmed_share"] = rounded(float(np.mean([t is not im for t, im in zip(trimmed, images)])))
        trim = features("lite0", trimmed)
        variants["trim"] = (trim.embeddings, trim.probabilities, 1.0)
        flip = features("lite0", [ImageOps.mirror(im) for im in images])
        variants["flip"] = (unit(embeddings) + unit(flip.embeddings), (probabilities + flip.probabilities) / 2, 2.0)
        variants["full_embedding"] = (np.concatenate([unit(embeddings), unit(base.full_embeddings)], axis=1), probabilities, 1.0)
        mid = mid_stage_features(images)
        variants["mid_features"] = (np.concatenate([unit(embeddings), unit(mid)], axis=1), probabilities, 1.0)
        rows = []
        for name, (e, p, cost) in variants.items():
            p10, _ = categories_p10(library, labels, p)
            teach = teach_p10(library, labels, e, p) if not quick else float("nan")  # (too few examples)
            result[f"features_{name}_categories_p10"] = rounded(p10)
            if not quick:
                result[f"features_{name}_teach_p10_5shot"] = rounded(teach)
            rows.append((name, f"x{cost:.0f}", f"{p10:.3f}", f"{teach:.3f}"))
    result["features_pictures"] = len(images)
    result["features_base_classify_ms"] = rounded(base.ms, 3)
    print_table(["variant", "classifier runs", "categories P@10", "teach P@10 5-shot"], rows, title=f"{len(images)} dev-set pictures")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    finish(run(args.quick), write=not args.quick)


if __name__ == "__main__":
    main()
