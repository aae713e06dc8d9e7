"""The vision-language model layer (analyzers/vlm/): tiny random CLIP, SigLIP and M-CLIP models made
at test time (tests/vlm_models.py), exported to Immich's ONNX layout by pixseek's exporter or written
by hand the way Immich's own exports are; ONNX Runtime must agree with torch, and every folder that
cannot work must be refused with a message that says why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pixseek.analyzers.vlm import ModelFolderError, check_folder, load_model
from pixseek.analyzers.vlm.export import ExportError, export_hf_folder
from pixseek.analyzers.vlm.preprocess import ImagePreprocess

os.environ["HF_HUB_OFFLINE"] = "1"
TOLERANCE = 1e-4
TEXTS = ["a photo of a dog", "un chat sur le canapé", "", "A   Tree, in the SNOW!", "birthday cake " * 40]


def _pictures() -> list[Image.Image]:
    """Every kind of picture the pipeline may hand over: modes, sizes and shapes."""
    rng = np.random.default_rng(3)
    rgb = Image.fromarray(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8))
    return [
        rgb,
        rgb.convert("L"),
        rgb.convert("RGBA"),
        rgb.convert("P"),
        rgb.convert("CMYK"),
        Image.fromarray((rng.integers(0, 65535, (40, 30))).astype(np.uint16)),  # I;16
        Image.fromarray(rng.integers(0, 255, (1, 500, 3), dtype=np.uint8)),  # a strip
        rgb.resize((3000, 2000)),  # a big photo
        Image.new("1", (33, 33), 1),
    ]


# --- torch references (transformers, the model as trained) -------------------------------------


def _torch_image(model: Any, pixels: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = model.get_image_features(pixel_values=torch.from_numpy(pixels))
        out = out if hasattr(out, "shape") else out.pooler_output
        return torch.nn.functional.normalize(out, dim=-1).numpy()


def _torch_text(model: Any, ids: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = model.get_text_features(input_ids=torch.from_numpy(ids).long())
        out = out if hasattr(out, "shape") else out.pooler_output
        return torch.nn.functional.normalize(out, dim=-1).numpy()


def _hf(folder: Path, family: str) -> Any:
    from transformers import CLIPModel, SiglipModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model_class = CLIPModel if family == "clip" else SiglipModel
        return model_class.from_pretrained(str(folder), local_files_only=True).eval()


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_onnx_towers_agree_with_torch(family: str, request: pytest.FixtureRequest) -> None:
    hf_folder = request.getfixturevalue(f"tiny_{family}_hf")
    model = load_model(request.getfixturevalue(f"tiny_{family}_onnx"))
    reference = _hf(hf_folder, family)
    assert model.info.family == family

    pictures = _pictures()
    got = model.embed_images(pictures)
    expected = _torch_image(reference, model.preprocess.batch(pictures))
    assert got.shape == (len(pictures), model.info.dim)
    assert np.abs(got - expected).max() <= TOLERANCE

    tokens = model.tokenizer.encode(TEXTS)
    got_text = model.embed_texts(TEXTS)
    assert np.abs(got_text - _torch_text(reference, tokens.ids)).max() <= TOLERANCE
    for embeddings in (got, got_text):
        np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_tokens_are_what_transformers_gives(family: str, request: pytest.FixtureRequest) -> None:
    from transformers import AutoTokenizer

    model = load_model(request.getfixturevalue(f"tiny_{family}_onnx"))
    hf_tokenizer = AutoTokenizer.from_pretrained(str(request.getfixturevalue(f"tiny_{family}_hf")), local_files_only=True)
    length = model.info.context_length
    expected = hf_tokenizer([" ".join(t.split()) for t in TEXTS], padding="max_length", truncation=True, max_length=length)
    tokens = model.tokenizer.encode(TEXTS)
    assert tokens.ids.tolist() == expected["input_ids"]
    assert tokens.ids.shape == (len(TEXTS), length)
    end = hf_tokenizer.convert_tokens_to_ids("<|endoftext|>" if family == "clip" else "</s>")
    assert (tokens.ids[-1] == end).sum() >= 1  # truncation keeps the end token


def test_multilingual_text_tower_agrees_with_torch(tiny_mclip_onnx: Path, tiny_vlm_dir: Path, tiny_clip_onnx: Path) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    model = load_model(tiny_mclip_onnx)
    assert (model.info.family, model.info.multilingual, model.info.dim) == ("mclip", True, 24)
    xlmr = tiny_vlm_dir / "xlmr-hf"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encoder = AutoModel.from_pretrained(str(xlmr), local_files_only=True, add_pooling_layer=False).eval()
    projection = load_file(str(xlmr / "projection.safetensors"))
    hf_tokenizer = AutoTokenizer.from_pretrained(str(xlmr), local_files_only=True)
    batch = hf_tokenizer([" ".join(t.split()) for t in TEXTS], padding="max_length", truncation=True, max_length=77, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
        mask = batch["attention_mask"].unsqueeze(2).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        expected = torch.nn.functional.normalize(pooled @ projection["weight"].T + projection["bias"], dim=-1).numpy()
    assert np.abs(model.embed_texts(TEXTS) - expected).max() <= TOLERANCE
    # The image tower is the CLIP's: the same pictures land on the same points.
    clip = load_model(tiny_clip_onnx)
    pictures = _pictures()[:3]
    assert np.abs(model.embed_images(pictures) - clip.embed_images(pictures)).max() <= 1e-6
    assert model.info.version != clip.info.version


def test_batches_equal_one_by_one(tiny_clip_onnx: Path) -> None:
    model = load_model(tiny_clip_onnx, threads=2)
    pictures = _pictures()
    together = model.embed_images(pictures)
    alone = np.concatenate([model.embed_images([p]) for p in pictures])
    assert np.abs(together - alone).max() <= 1e-5
    texts = model.embed_texts(TEXTS)
    assert np.abs(texts - np.concatenate([model.embed_texts([t]) for t in TEXTS])).max() <= 1e-5
    assert model.embed_images([]).shape == (0, model.info.dim) and model.embed_texts([]).shape == (0, model.info.dim)


def test_model_info(tiny_clip_onnx: Path, tiny_siglip_onnx: Path, tmp_path: Path) -> None:
    info = check_folder(tiny_clip_onnx, name="my-clip")
    assert (info.family, info.name, info.dim, info.image_size, info.context_length) == ("clip", "my-clip", 24, 32, 77)
    assert not info.multilingual and info.space == f"my-clip@{info.version}" and len(info.version) == 16
    assert info.logit_bias == 0.0 and info.logit_scale == pytest.approx(np.exp(np.log(1 / 0.07)), rel=1e-4)
    siglip = load_model(tiny_siglip_onnx)
    assert (siglip.info.family, siglip.info.context_length, siglip.info.dim) == ("siglip", 16, 32)
    assert siglip.logit_scale == pytest.approx(10.0) and siglip.logit_bias == pytest.approx(-10.0)
    # The version is the content: a copy keeps it, any changed tower file changes it.
    copy = shutil.copytree(tiny_clip_onnx, tmp_path / "copy")
    assert check_folder(copy).version == info.version and check_folder(copy).name == "copy"
    tokenizer_config = copy / "textual" / "tokenizer_config.json"
    tokenizer_config.write_text(tokenizer_config.read_text().replace("}", ', "comment": "x"}'))
    assert check_folder(copy).version != info.version


def test_the_version_is_remembered_until_a_file_changes(tiny_clip_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model checks its files' digest; hashing them again (~600 MB for a real model) is
    skipped while no file's size, times or inode changed, and any change is still seen."""
    from pixseek.analyzers.vlm import layout

    copy = shutil.copytree(tiny_clip_onnx, tmp_path / "copy")
    (copy / layout.DIGEST_CACHE).unlink(missing_ok=True)  # the fixture's own, if it was loaded before
    version = check_folder(copy).version
    assert json.loads((copy / layout.DIGEST_CACHE).read_text())["digest"] == version

    hashed: list[int] = []
    real_sha256 = layout.hashlib.sha256
    monkeypatch.setattr(layout.hashlib, "sha256", lambda *a: hashed.append(1) or real_sha256(*a))
    assert check_folder(copy).version == version and not hashed  # remembered
    config = copy / "config.json"
    text = config.read_text()
    assert " " in text
    config.write_text(text.replace(" ", "\t", 1))  # other bytes, same size: only the times tell
    assert check_folder(copy).version != version and hashed  # changed: hashed again
    (copy / layout.DIGEST_CACHE).write_text("{not json")  # a damaged memory is only a cache
    assert check_folder(copy).version == check_folder(shutil.copytree(copy, tmp_path / "again")).version


def test_preprocessing_follows_the_resize_mode() -> None:
    """A wide picture, red in its centre square, blue at the sides: CLIP's crop sees only red,
    SigLIP's squash keeps the blue sides, the letterbox pads above and below."""
    picture = Image.new("RGB", (300, 100), (0, 0, 255))
    picture.paste((255, 0, 0), (100, 0, 200, 100))
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    crop = ImagePreprocess(20, mean, std, "bicubic", "shortest").pixels(picture)
    # (the outermost columns blend a little of their neighbours in, as resizing the whole picture would)
    assert crop.shape == (3, 20, 20) and crop[0].min() > 0.85 and crop[2, :, 1:-1].max() < 0.02
    squash = ImagePreprocess(30, mean, std, "bilinear", "squash").pixels(picture)
    assert squash[2, :, :5].min() > 0.95 and squash[0, :, 13:17].min() > 0.95
    letterbox = ImagePreprocess(30, mean, std, "bicubic", "longest", fill_color=0).pixels(picture)
    assert letterbox[:, :5].max() == 0.0 and letterbox[2, 15, :5].min() > 0.95
    normalised = ImagePreprocess(8, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic", "squash").pixels(Image.new("L", (9, 9), 255))
    np.testing.assert_allclose(normalised, 1.0, atol=1e-6)


# --- folders as Immich's exporter writes them ----------------------------------------------------


def _immich_style_folder(hf_folder: Path, family: str, target: Path) -> Path:
    """What Immich's export scripts write: open_clip's config.json, towers traced with a FIXED batch of
    1 (no dynamic axes), int32 "text" of the full context length, output "embedding", the tokenizer as
    transformers saves it (special tokens as dicts)."""
    import torch

    model = _hf(hf_folder, family)
    vision, text = model.config.vision_config, model.config.text_config
    size, context = vision.image_size, (77 if family == "clip" else 16)

    class Visual(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, image: Any) -> Any:
            out = model.get_image_features(pixel_values=image)
            return torch.nn.functional.normalize(out if hasattr(out, "shape") else out.pooler_output, dim=-1)

    class Textual(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, text: Any) -> Any:
            out = model.get_text_features(input_ids=text.long())
            return torch.nn.functional.normalize(out if hasattr(out, "shape") else out.pooler_output, dim=-1)

    for name, module, example, input_name in (
        ("visual", Visual(), torch.randn(1, 3, size, size), "image"),
        ("textual", Textual(), torch.ones(1, context, dtype=torch.int32), "text"),
    ):
        (target / name).mkdir(parents=True)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), (example,), str(target / name / "model.onnx"), input_names=[input_name],
                              output_names=["embedding"], opset_version=17, dynamo=False)
    dim = model.config.projection_dim if family == "clip" else vision.hidden_size
    config: dict[str, Any] = {
        "embed_dim": dim, "quick_gelu": True,
        "vision_cfg": {"image_size": size, "layers": 2, "width": 32, "patch_size": 8},
        "text_cfg": {"context_length": context, "vocab_size": text.vocab_size, "width": 32, "heads": 2, "layers": 2},
    }
    if family == "siglip":
        config.update(init_logit_bias=-10, custom_text=True)
        config["vision_cfg"]["timm_model_name"] = "vit_base_patch16_siglip_224"
        config["text_cfg"].update(hf_tokenizer_name="timm/ViT-B-16-SigLIP", tokenizer_kwargs={"clean": "canonicalize"})
    (target / "config.json").write_text(json.dumps(config))
    clip = family == "clip"
    (target / "visual" / "preprocess_cfg.json").write_text(json.dumps({
        "size": [size, size], "mode": "RGB",
        "mean": [0.48145466, 0.4578275, 0.40821073] if clip else [0.5, 0.5, 0.5],
        "std": [0.26862954, 0.26130258, 0.27577711] if clip else [0.5, 0.5, 0.5],
        "interpolation": "bicubic", "resize_mode": "shortest" if clip else "squash", "fill_color": 0,
    }))
    shutil.copy(hf_folder / "tokenizer.json", target / "textual")
    pad = "<|endoftext|>" if clip else "</s>"
    token = {"content": pad, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    (target / "textual" / "tokenizer_config.json").write_text(json.dumps({"pad_token": pad, "model_max_length": context}))
    (target / "textual" / "special_tokens_map.json").write_text(json.dumps({"pad_token": token, "eos_token": token}))
    return target


@pytest.fixture(scope="module")
def immich_clip(tiny_clip_hf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _immich_style_folder(tiny_clip_hf, "clip", tmp_path_factory.mktemp("immich") / "ViT-tiny__openai")


def test_immich_style_folders_load_and_agree_with_torch(
    immich_clip: Path, tiny_clip_hf: Path, tiny_siglip_hf: Path, tmp_path: Path
) -> None:
    model = load_model(immich_clip)
    assert (model.info.family, model.info.dim, model.info.context_length) == ("clip", 24, 77)
    reference = _hf(tiny_clip_hf, "clip")
    pictures = _pictures()[:4]  # batch of 4 through a graph fixed at batch 1: row by row
    assert np.abs(model.embed_images(pictures) - _torch_image(reference, model.preprocess.batch(pictures))).max() <= TOLERANCE
    tokens = model.tokenizer.encode(TEXTS)
    assert np.abs(model.embed_texts(TEXTS) - _torch_text(reference, tokens.ids)).max() <= TOLERANCE
    assert model.info.logit_scale == 100.0  # Immich's config carries no learnt temperature: CLIP's usual

    siglip_folder = _immich_style_folder(tiny_siglip_hf, "siglip", tmp_path / "ViT-tiny-SigLIP__webli")
    siglip = load_model(siglip_folder)
    assert siglip.info.family == "siglip" and siglip.info.context_length == 16 and not siglip.info.multilingual
    # open_clip's "canonicalize": lowercase, punctuation dropped, before the tokenizer
    np.testing.assert_allclose(siglip.embed_texts(["A Photo, of a DOG!"]), siglip.embed_texts(["a photo of a dog"]), atol=1e-6)
    ids = siglip.tokenizer.encode(["a photo of a dog"]).ids
    assert np.abs(siglip.embed_texts(["a photo of a dog"]) - _torch_text(_hf(tiny_siglip_hf, "siglip"), ids)).max() <= TOLERANCE


def test_clip_vocab_and_merges_instead_of_tokenizer_json(immich_clip: Path, tmp_path: Path) -> None:
    """OpenAI's BPE files (vocab.json + merges.txt) give the same tokens as tokenizer.json."""
    from tokenizers import Tokenizer

    folder = shutil.copytree(immich_clip, tmp_path / "bpe")
    Tokenizer.from_file(str(folder / "textual" / "tokenizer.json")).model.save(str(folder / "textual"))
    with_json = load_model(folder).tokenizer.encode(TEXTS).ids
    (folder / "textual" / "tokenizer.json").unlink()
    assert (folder / "textual" / "vocab.json").is_file() and (folder / "textual" / "merges.txt").is_file()
    assert load_model(folder).tokenizer.encode(TEXTS).ids.tolist() == with_json.tolist()


# --- refusals ----------------------------------------------------------------------------------


def _text_graph(path: Path, inputs: list[str], dim: int, length: int = 77) -> None:
    """A hand-made ONNX "text tower": int32 (n, length) ids -> (n, dim) (a fixed projection of the ids)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, graph_inputs = [], []
    for name in inputs:
        graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.INT32, ["n", length]))
    nodes.append(helper.make_node("Cast", [inputs[0]], ["as_float"], to=TensorProto.FLOAT))
    nodes.append(helper.make_node("MatMul", ["as_float", "w"], ["embedding"]))
    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((length, dim)).astype(np.float32), "w")
    graph = helper.make_graph(nodes, "text", graph_inputs, [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", dim])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _refused(folder: Path, *expected: str) -> str:
    with pytest.raises(ModelFolderError) as caught:
        check_folder(folder)
    message = str(caught.value)
    for part in expected:
        assert part in message, message
    return message


def test_refused_folders_say_what_is_wrong(tiny_clip_onnx: Path, tiny_clip_hf: Path, tmp_path: Path) -> None:
    def copy(name: str) -> Path:
        return shutil.copytree(tiny_clip_onnx, tmp_path / name)

    _refused(tmp_path / "nowhere", "not a folder")
    folder = copy("no-visual")
    (folder / "visual" / "model.onnx").unlink()
    _refused(folder, "missing the image tower", "visual/model.onnx")
    folder = copy("no-textual")
    shutil.rmtree(folder / "textual")
    _refused(folder, "missing the text tower", "textual/model.onnx")
    folder = copy("no-config")
    (folder / "config.json").unlink()
    _refused(folder, "no config.json")
    folder = copy("bad-config")
    (folder / "config.json").write_text("{not json")
    _refused(folder, "config.json", "not readable JSON")
    folder = copy("wrong-dim")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "embed_dim": 25}))
    _refused(folder, "embed_dim 25", "towers embed into 24")
    folder = copy("towers-disagree")
    _text_graph(folder / "textual" / "model.onnx", ["text"], 16)
    _refused(folder, "image tower embeds into 24", "text tower into 16")
    folder = copy("corrupt-visual")
    data = (folder / "visual" / "model.onnx").read_bytes()
    (folder / "visual" / "model.onnx").write_bytes(data[: len(data) // 3])
    _refused(folder, "visual/model.onnx", "not a loadable ONNX model")
    folder = copy("garbage-textual")
    (folder / "textual" / "model.onnx").write_bytes(b"this is not a graph" * 100)
    _refused(folder, "textual/model.onnx", "the text tower is not a loadable ONNX model")
    folder = copy("sentencepiece-only")
    (folder / "textual" / "tokenizer.json").unlink()
    (folder / "textual" / "spiece.model").write_bytes(b"\x0a\x0b")
    _refused(folder, "unknown tokenizer", "spiece.model", "tokenizer.json")
    folder = copy("no-tokenizer")
    (folder / "textual" / "tokenizer.json").unlink()
    _refused(folder, "no tokenizer")
    folder = copy("bad-tokenizer")
    (folder / "textual" / "tokenizer.json").write_text(json.dumps({"model": {"type": "NoSuchModel"}}))
    _refused(folder, "tokenizer.json", "is not a tokenizer the tokenizers package can read")
    folder = copy("bad-pad")
    (folder / "textual" / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<nothing>"}))
    (folder / "textual" / "special_tokens_map.json").unlink()
    _refused(folder, "pad token '<nothing>' is not in the tokenizer's vocabulary")
    folder = copy("unknown-kind")
    _text_graph(folder / "textual" / "model.onnx", ["ids", "mask", "segments"], 24)
    _refused(folder, "unknown kind of model", "ids, mask, segments")
    folder = copy("wrong-size")
    preprocess = json.loads((folder / "visual" / "preprocess_cfg.json").read_text())
    (folder / "visual" / "preprocess_cfg.json").write_text(json.dumps({**preprocess, "size": [64, 64]}))
    _refused(folder, "image_size 32", "size 64")
    folder = copy("bad-resize")
    (folder / "visual" / "preprocess_cfg.json").write_text(json.dumps({**preprocess, "resize_mode": "zoom"}))
    _refused(folder, "preprocess_cfg.json", "resize_mode 'zoom'")
    folder = copy("wrong-context")
    (folder / "config.json").write_text(json.dumps({**config, "text_cfg": {**config["text_cfg"], "context_length": 64}}))
    _text_graph(folder / "textual" / "model.onnx", ["text"], 24, length=77)
    _refused(folder, "takes 77 tokens", "context_length 64")
    _refused(tiny_clip_hf, "Hugging Face transformers folder", "export it first")


def test_export_refuses_and_leaves_nothing_behind(
    tiny_clip_hf: Path, tiny_clip_onnx: Path, tiny_mclip_onnx: Path, tiny_vlm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (tiny_mclip_onnx made the XLM-R folder, an HF folder of a kind that is not exported)
    with pytest.raises(ExportError, match="model_type is 'xlm-roberta'"):
        export_hf_folder(tiny_vlm_dir / "xlmr-hf", tmp_path / "out")
    no_weights = shutil.copytree(tiny_clip_hf, tmp_path / "no-weights")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(ExportError, match="no weights"):
        export_hf_folder(no_weights, tmp_path / "out")
    no_tokenizer = shutil.copytree(tiny_clip_hf, tmp_path / "no-tokenizer")
    (no_tokenizer / "tokenizer.json").unlink()
    with pytest.raises(ExportError, match="no tokenizer.json, spiece.model or vocab.json"):
        export_hf_folder(no_tokenizer, tmp_path / "out")
    # OpenAI's BPE files alone are enough: CLIP's tokenizer is built from them, same tokens.
    from tokenizers import Tokenizer

    Tokenizer.from_file(str(tiny_clip_hf / "tokenizer.json")).model.save(str(no_tokenizer))
    bpe_only = load_model(export_hf_folder(no_tokenizer, tmp_path / "bpe-only"))
    assert bpe_only.tokenizer.encode(TEXTS).ids.tolist() == load_model(tiny_clip_onnx).tokenizer.encode(TEXTS).ids.tolist()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("x")
    with pytest.raises(ExportError, match="not empty"):
        export_hf_folder(tiny_clip_hf, tmp_path / "full")
    # A graph that does not match torch is refused after it was written: nothing is left behind.
    import pixseek.analyzers.vlm.export as export

    monkeypatch.setattr(export, "TOLERANCE", -1.0)
    with pytest.raises(ExportError, match="differs from torch"):
        export_hf_folder(tiny_clip_hf, tmp_path / "out" / "model")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_pixseek_never_imports_torch_or_transformers() -> None:
    code = (
        "import sys; import pixseek.analyzers.vlm, pixseek.analyzers.vlm.export, pixseek.library, pixseek.cli; "
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_one_tower_only(tiny_mclip_onnx: Path) -> None:
    """Indexing workers open the image tower alone, the search side the text tower: same model info,
    same embeddings, and the tower left closed says so."""
    both = load_model(tiny_mclip_onnx)
    image_only = load_model(tiny_mclip_onnx, towers="image")
    text_only = load_model(tiny_mclip_onnx, towers="text")
    assert image_only.info == text_only.info == both.info
    pictures = _pictures()[:2]
    np.testing.assert_array_equal(image_only.embed_images(pictures), both.embed_images(pictures))
    np.testing.assert_array_equal(text_only.embed_texts(TEXTS), both.embed_texts(TEXTS))
    with pytest.raises(RuntimeError, match="text tower was not loaded"):
        image_only.embed_texts(["a dog"])
    with pytest.raises(RuntimeError, match="image tower was not loaded"):
        text_only.embed_images(pictures)


def test_one_tower_only_still_checks_the_other(tiny_clip_onnx: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_clip_onnx, tmp_path / "corrupt-text")
    (folder / "textual" / "model.onnx").write_bytes(b"\x08\x07garbage" * 50)
    with pytest.raises(ModelFolderError, match="the text tower is not a loadable ONNX model"):
        load_model(folder, towers="image")


def _spiece_model(tokenizer_json: Path, target: Path) -> None:
    """A sentencepiece Unigram model file (protobuf) with the pieces and scores of a Unigram tokenizer.json."""
    from transformers.convert_slow_tokenizer import import_protobuf

    model = json.loads(tokenizer_json.read_text())["model"]
    specials = {"<pad>": 3, "</s>": 3, "<unk>": 2}  # CONTROL, UNKNOWN
    proto = import_protobuf().ModelProto()
    for piece, score in model["vocab"]:
        proto.pieces.add(piece=piece, score=score, type=specials.get(piece, 1))
    proto.trainer_spec.model_type = 1
    proto.trainer_spec.unk_id = model["unk_id"]
    proto.normalizer_spec.name = "identity"
    proto.normalizer_spec.add_dummy_prefix = True
    target.write_bytes(proto.SerializeToString())


def test_siglip_folder_with_sentencepiece_only(tiny_siglip_hf: Path, tmp_path: Path) -> None:
    """google/siglip-* folders carry spiece.model and SiglipTokenizer's config, no tokenizer.json:
    the export converts it (protobuf, no sentencepiece) and canonicalises texts as SiglipTokenizer."""
    folder = shutil.copytree(tiny_siglip_hf, tmp_path / "siglip-spm")
    _spiece_model(folder / "tokenizer.json", folder / "spiece.model")
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "SiglipTokenizer", "do_lower_case": True, "model_max_length": 16,
        "eos_token": "</s>", "pad_token": "</s>", "unk_token": "<unk>",
    }))
    model = load_model(export_hf_folder(folder, tmp_path / "siglip-spm-onnx"))
    reference = load_model(export_hf_folder(tiny_siglip_hf, tmp_path / "siglip-json-onnx"))
    canonical = ["a photo of a dog", "der hund im schnee", "un chat sur le canapé", ""]
    assert model.tokenizer.encode(canonical).ids.tolist() == reference.tokenizer.encode(canonical).ids.tolist()
    np.testing.assert_allclose(model.embed_texts(["A Photo, of a DOG!"]), reference.embed_texts(["a photo of a dog"]), atol=1e-5)
    ids = model.tokenizer.encode(canonical).ids
    assert np.abs(model.embed_texts(canonical) - _torch_text(_hf(tiny_siglip_hf, "siglip"), ids)).max() <= TOLERANCE


@pytest.mark.parametrize("size", [(500, 300), (300, 501), (999, 1000), (4000, 3000)])
def test_preprocessing_equals_transformers_image_processors(size: tuple[int, int]) -> None:
    """The pixels the towers get are the ones the models were trained with: transformers' own (PIL)
    image processors for CLIP (shorter side, centre crop, CLIP mean/std) and SigLIP (squash, 0.5)."""
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    from pixseek.analyzers.vlm.preprocess import CLIP_MEAN, CLIP_STD

    smooth = np.random.default_rng(1).integers(0, 255, (30, 50, 3), dtype=np.uint8)
    picture = Image.fromarray(smooth).resize(size, Image.Resampling.BICUBIC)
    clip = CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}, resample=3)
    siglip = SiglipImageProcessorPil(size={"height": 224, "width": 224}, resample=2)
    for processor, ours in (
        (clip, ImagePreprocess(224, CLIP_MEAN, CLIP_STD, "bicubic", "shortest")),
        (siglip, ImagePreprocess(224, (0.5,) * 3, (0.5,) * 3, "bilinear", "squash")),
    ):
        expected = processor(images=[picture], return_tensors="np")["pixel_values"]
        difference = np.abs(ours.batch([picture]) - expected)
        # equal but for a level or two of 255 here and there (resampling only the crop's box; PIL's
        # reducing gap on a 12 MP picture): a 255th is 0.015 after CLIP's std
        assert difference.mean() < 5e-3 and difference.max() < 0.035, (difference.mean(), difference.max())
