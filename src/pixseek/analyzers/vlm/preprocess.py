"""Pictures -> the image tower's input, as the model's `visual/preprocess_cfg.json` (open_clip's
preprocess config, which Immich ships) says: size, mean/std, interpolation and resize mode.

    "shortest"  shorter side to `size`, centre crop (OpenAI CLIP, open_clip's default)
    "squash"    both sides to `size`, aspect ratio ignored (SigLIP)
    "longest"   longer side to `size`, centred on `fill_color` (open_clip's letterbox)

Only the pixels that end up in the crop are resampled (PIL's `box`), with PIL's reducing gap for big
pictures: a 12 MP photo costs about what its 224 px crop costs, and a 1 x 100000 strip stays small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from pixseek.imageio.decode import to_rgb

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's training statistics
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SIGLIP_MEAN = SIGLIP_STD = (0.5, 0.5, 0.5)
RESIZE_MODES = ("shortest", "squash", "longest")
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX, "hamming": Image.Resampling.HAMMING,
}
# PIL's `reducing_gap`: box-reduce by whole factors first while the picture stays 3x the output;
# PIL documents >= 3 as indistinguishable from resampling the whole picture.
REDUCING_GAP = 3.0


@dataclass(frozen=True)
class ImagePreprocess:
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"
    fill_color: int = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any], defaults: "ImagePreprocess") -> "ImagePreprocess":
        """From a preprocess_cfg.json dict; missing keys take the family's `defaults`. Raises
        ValueError with what is wrong (the folder check turns it into a refusal)."""
        size = config.get("size", defaults.size)
        if isinstance(size, Sequence) and not isinstance(size, str):
            if len(size) != 2 or size[0] != size[1]:
                raise ValueError(f"size {list(size)}: only square inputs are supported")
            size = size[0]
        if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 4096:
            raise ValueError(f"size {size!r} is not a picture side in pixels")
        mean = _triple(config.get("mean", defaults.mean), "mean")
        std = _triple(config.get("std", defaults.std), "std")
        if min(std) <= 0:
            raise ValueError(f"std {list(std)} must be positive")
        interpolation = str(config.get("interpolation", defaults.interpolation)).lower()
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation {interpolation!r} is not one of {', '.join(INTERPOLATIONS)}")
        resize_mode = str(config.get("resize_mode", defaults.resize_mode))
        if resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode {resize_mode!r} is not one of {', '.join(RESIZE_MODES)}")
        fill = config.get("fill_color", defaults.fill_color)
        fill_color = int(fill) if isinstance(fill, (int, float)) and not isinstance(fill, bool) else 0
        return cls(size, mean, std, interpolation, resize_mode, fill_color)

    def resized(self, image: Image.Image) -> Image.Image:
        """Any PIL picture -> RGB `size` x `size`, as the resize mode says."""
        image = to_rgb(image)
        side, resample = self.size, INTERPOLATIONS[self.interpolation]
        width, height = image.size
        if self.resize_mode == "squash":
            return image.resize((side, side), resample, reducing_gap=REDUCING_GAP)
        if self.resize_mode == "longest":
            scale = side / max(width, height)
            new = (max(1, round(width * scale)), max(1, round(height * scale)))
            canvas = Image.new("RGB", (side, side), (self.fill_color,) * 3)
            canvas.paste(image.resize(new, resample, reducing_gap=REDUCING_GAP), ((side - new[0]) // 2, (side - new[1]) // 2))
            return canvas
        # shortest: the centre square of the picture scaled so its shorter side is `side`; the longer
        # side truncated and the crop offset floored, as torchvision, transformers and Immich do
        if width <= height:
            new_w, new_h = side, max(side, int(side * height / width))
        else:
            new_w, new_h = max(side, int(side * width / height)), side
        left, top = (new_w - side) // 2, (new_h - side) // 2
        to_x, to_y = width / new_w, height / new_h
        box = (left * to_x, top * to_y, (left + side) * to_x, (top + side) * to_y)
        return image.resize((side, side), resample, box=box, reducing_gap=REDUCING_GAP)

    def pixels(self, image: Image.Image) -> NDArray[np.float32]:
        """(3, size, size) float32, normalised by mean/std."""
        x = np.asarray(self.resized(image), dtype=np.float32) * np.float32(1 / 255)
        x -= np.asarray(self.mean, dtype=np.float32)
        x /= np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def batch(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        """(n, 3, size, size) float32 for the image tower."""
        out = np.empty((len(images), 3, self.size, self.size), dtype=np.float32)
        for i, image in enumerate(images):
            out[i] = self.pixels(image)
        return out


def _triple(value: Any, name: str) -> tuple[float, float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * 3
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 3:
        raise ValueError(f"{name} {value!r} is not three numbers (R, G, B)")
    try:
        r, g, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {value!r} is not three numbers (R, G, B)") from None
    return r, g, b
