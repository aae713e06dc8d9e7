"""Search with a vision-language model (issue 14): the real tiny random CLIP/SigLIP/M-CLIP models
(tests/vlm_models.py), the real stores and the real language layer.

The towers' weights are random, so what an image "shows" to the model is set here: a few images
get as their stored embedding the text tower's own reading of a prompt ("a photo of sunset"), as
a trained model's image tower would give a sunset something close to it; every other image has
the real image tower's embedding of a picture. The classifier's part (categories), faces and text
in the picture are given analyses, as in test_text_search.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixseek.analyzers.vlm import check_folder, load_model
from pixseek.language.concepts import ConceptSpace
from pixseek.library import Library
from pixseek.records import Analysis, Face, FileState, ImageMeta, TextLine
from pixseek.search.engine import DEFAULT_THRESHOLD, QueryError
from pixseek.search.evidence.vlm import PROMPT, Calibration
from pixseek.search.zero_shot import fit_clip_calibration, log_normalisers, vocabulary
from pixseek.store import DEFAULT_OWNER
from pixseek.store.sparse import top_k

OWNER = DEFAULT_OWNER
DOG = 207  # golden retriever
TRAINED_CLIP_SCALE = 100.0  # a trained CLIP's learnt temperature (exp); the random init's is 14.3
# What the model-only images show (their stored embedding is the text tower's reading of it).
SHOWN = {"sunset.jpg": "sunset", "beach.jpg": "beach", "bike.jpg": "person on a bike", "puppy.jpg": "dog"}
BACKGROUND = 12


def with_scale(folder: Path, target: Path, scale: float) -> Path:
    """A copy of a model folder whose learnt temperature is `scale` (the fixtures are shared)."""
    shutil.copytree(folder, target)
    config = json.loads((target / "config.json").read_text())
    config["logit_scale"] = scale
    (target / "config.json").write_text(json.dumps(config))
    return target


@pytest.fixture(scope="module", autouse=True)
def library_cache(cache_dir: Path):
    """The libraries' cache: the session's language tables (the service reads them), where the
    zero-shot vocabulary's embeddings go too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIXSEEK_CACHE_DIR", str(cache_dir))
        yield


@pytest.fixture(scope="module")
def clip_folder(tiny_clip_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return with_scale(tiny_clip_onnx, tmp_path_factory.mktemp("clip") / "clip-test", TRAINED_CLIP_SCALE)


def pictures(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        base = rng.integers(0, 255, 3)
        noise = rng.integers(0, 60, (48, 64, 3))
        out.append(Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)))
    return out


def analysis(seed: int, main_class: int | None = None, lines: list[str] | None = None, face: bool = False) -> Analysis:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(1000, 0.05)).astype(np.float32) * 0.05
    if main_class is not None:
        probs[main_class] += 0.9
    texts = None if lines is None else [TextLine(t, 0.95, (10, 10, 300, 36)) for t in lines]
    faces = [Face((10, 10, 60, 60), 1.5, rng.random(128).astype(np.float32))] if face else []
    return Analysis(ImageMeta(800, 600, "JPEG"), top_k(probs), rng.random(1280).astype(np.float32), faces=faces, texts=texts)


def build_library(home: Path | str, folder: Path, concepts: ConceptSpace, store: str | None = None) -> tuple[Library, dict[str, int]]:
    """A library with the model `folder` active and its images embedded (see the module doc)."""
    library = Library(home, store=store)
    library.concepts = concepts  # the session's language tables
    model = load_model(folder, name="clip-test")
    info = model.info
    st = library.store
    names = [f"photo{i:02d}.jpg" for i in range(BACKGROUND)] + ["dog.jpg", "sign.jpg", "alice.jpg", *SHOWN]
    special = {"dog.jpg": {"main_class": DOG}, "sign.jpg": {"lines": ["BEWARE OF THE DOG"]}, "alice.jpg": {"face": True}}
    ids = {}
    photos = pictures(len(names))
    folder_of_files = Path(home).parent / f"{Path(home).name}-files"
    folder_of_files.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(names):
        photos[seed].save(folder_of_files / name)
        cid = st.add_content(OWNER, f"sha-{name}", "test+vlm", analysis(seed, **special.get(name, {})))
        st.put_file(OWNER, FileState(str(folder_of_files / name), 100 + seed, seed), cid)
        ids[name] = cid
    images = model.embed_images(photos)
    vectors = dict(zip(names, images, strict=True))
    for name, shown in SHOWN.items():
        vectors[name] = model.embed_texts([PROMPT.format(shown)])[0]
    st.spaces.ensure(info.space, info.dim)
    st.spaces.put(OWNER, info.space, [ids[n] for n in names], np.stack([vectors[n] for n in names]))
    face_id = st.faces.of_images(OWNER, [ids["alice.jpg"]])[ids["alice.jpg"]][0].id
    st.faces.assign(OWNER, [face_id], st.faces.create_person(OWNER, "Alice"), by="user")
    st.commit()
    st.refresh_indexes()
    library.models.add(folder, name="clip-test", use=True)  # the registry: `pixseek models add DIR --use`
    assert library.vision is not None and library.vision.space == info.space
    return library, ids


@pytest.fixture(scope="module")
def clip_library(clip_folder: Path, concepts: ConceptSpace, tmp_path_factory: pytest.TempPathFactory):
    library, ids = build_library(tmp_path_factory.mktemp("vlm-lib"), clip_folder, concepts)
    yield library, ids
    library.close()


def names_of(result, ids: dict[str, int]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[h.content_id] for h in result.hits]


def test_model_only_matches_rank_in_one_list_with_categories_faces_and_text(clip_library):
    library, ids = clip_library
    engine = library.engine
    sunset = engine.search(OWNER, "sunset")
    assert names_of(sunset, ids) == ["sunset.jpg"]  # no class, no text: only the model sees it
    assert sunset.model == "clip-test"
    assert sunset.hits[0].why == ["sunset: clip-test 1.00"]
    assert sunset.hits[0].score >= 2 * DEFAULT_THRESHOLD  # its zero-shot probability against the vocabulary

    dog = engine.search(OWNER, "dog")
    found = names_of(dog, ids)
    # The classifier's dog, the dog in the text of a sign and the dog only the model sees.
    assert {"dog.jpg", "sign.jpg", "puppy.jpg"} <= set(found)
    why = {n: h.why for n, h in zip(found, dog.hits)}
    assert why["puppy.jpg"] == ["dog: clip-test 1.00"]
    assert why["sign.jpg"][0].startswith("dog: in its text")
    assert "golden retriever" in why["dog.jpg"][0].lower()

    alice = engine.search(OWNER, "alice")
    assert names_of(alice, ids) == ["alice.jpg"]  # a person's name is for faces, never the model

    both = engine.search(OWNER, "alice beach")  # no image has both: nothing, honestly
    assert both.hits == [] or names_of(both, ids) == ["beach.jpg"]


def test_the_whole_query_is_read_by_the_model_too(clip_library):
    library, ids = clip_library
    result = library.engine.search(OWNER, "person on a bike")
    assert "person on a bike" in result.interpretation  # beside "person AND bike"
    assert names_of(result, ids)[0] == "bike.jpg"
    assert result.hits[0].why == ["person on a bike: clip-test 1.00"]


def test_threshold_means_the_same_with_a_model(clip_library):
    library, ids = clip_library
    engine = library.engine
    for query in ("zebra", "birthday cake", "snow"):  # nothing in the library shows these
        result = engine.search(OWNER, query)
        assert result.hits == [], (query, [(h.path, h.score, h.why) for h in result.hits])
        # The model did rank images for it: the threshold is what left them out.
        loose = engine.search(OWNER, query, threshold=0.0)
        assert loose.hits and max(h.score for h in loose.hits) < DEFAULT_THRESHOLD
    # A model-only match passes it; a background picture never reaches it for a word it does not show.
    beach = engine.search(OWNER, "beach", threshold=0.0)
    scores = {n: h.score for n, h in zip(names_of(beach, ids), beach.hits)}
    assert scores["beach.jpg"] >= DEFAULT_THRESHOLD
    assert all(s < DEFAULT_THRESHOLD for n, s in scores.items() if n.startswith("photo"))


def test_clip_calibration_is_the_zero_shot_softmax(clip_library):
    library, ids = clip_library
    vision = library.vision
    calibration = vision.calibration(OWNER)
    assert calibration.method == "clip-softmax" and calibration.scale == TRAINED_CLIP_SCALE
    vocab = vision.vocabulary()
    assert "beach" in vocab.words and len(vocab.words) > 1000
    # The score of a text is its softmax probability against the vocabulary, per image.
    _, vectors = library.store.spaces.get(OWNER, vision.space, np.array([ids["beach.jpg"], ids["photo00.jpg"]]))
    text = vision.embed([PROMPT.format("beach")])[0]
    logits = TRAINED_CLIP_SCALE * np.concatenate([vectors @ text[:, None], vectors @ vocab.vectors.T], axis=1)
    softmax = np.exp(logits[:, 0] - np.logaddexp.reduce(logits, axis=1))
    scored = calibration.probability(vectors @ text, vision.log_norm(np.array([ids["beach.jpg"], ids["photo00.jpg"]]), vectors))
    assert np.allclose(scored, softmax, atol=1e-3)
    # Kept with the model, versioned: a new process reads it back.
    saved = json.loads(vision.calibration_path().read_text())
    assert saved["method"] == "clip-softmax" and saved["version"] and vision.space in vision.calibration_path().name.replace("_", "@")


def test_multilingual_routing(clip_library, tiny_mclip_onnx: Path, concepts: ConceptSpace, tmp_path: Path):
    library, ids = clip_library
    # An English-only tower gets the dictionary's English: "chien" is read as "a photo of dog".
    chien = library.engine.search(OWNER, "chien")
    assert chien.language == "fr"
    assert "puppy.jpg" in names_of(chien, ids)
    assert next(h for h in chien.hits if h.content_id == ids["puppy.jpg"]).why == ["chien: clip-test 1.00"]

    # A multilingual tower gets the words as typed.
    folder = with_scale(tiny_mclip_onnx, tmp_path / "mclip-test", TRAINED_CLIP_SCALE)
    mlib = Library(tmp_path / "mlib")
    mlib.concepts = concepts
    model = load_model(folder, name="mclip-test")
    st = mlib.store
    cids = []
    for seed, name in enumerate(["chat.jpg", "other.jpg"]):
        cids.append(st.add_content(OWNER, f"sha-{name}", "test+vlm", analysis(seed)))
        st.put_file(OWNER, FileState(f"/m/{name}", 1, seed), cids[-1])
    st.spaces.ensure(model.info.space, model.info.dim)
    st.spaces.put(OWNER, model.info.space, cids, np.stack([model.embed_texts(["chat sur le canapé"])[0], model.embed_images(pictures(1))[0]]))
    st.commit()
    mlib.models.add(folder, name="mclip-test", use=True)
    assert mlib.vision is not None and mlib.vision.multilingual
    mlib.vision.calibration(OWNER)  # the zero-shot vocabulary read first: what follows is the query's
    seen: list[str] = []
    embed = mlib.vision.embed
    mlib.vision.embed = lambda texts: seen.extend(texts) or embed(texts)  # type: ignore[method-assign]
    # (threshold 0: this random XLM-R tower reads every text nearly alike, so against the
    # vocabulary nothing is a confident match; the routing is what is looked at here)
    result = mlib.engine.search(OWNER, "chat sur le canapé", threshold=0.0)
    assert {"chat sur le canapé", "chat", "canapé"} <= set(seen)  # the whole query and its words, as typed
    assert not {PROMPT.format(w) for w in ("chat", "cat", "canapé", "sofa", "chat sur le canapé")} & set(seen)  # no English prompt
    assert result.hits and result.hits[0].content_id == cids[0]
    assert result.hits[0].why == ["chat sur le canapé: mclip-test 1.00"]
    mlib.close()


def test_similar_by_model_or_classifier(clip_library):
    library, ids = clip_library
    engine = library.engine
    by_model = engine.similar(OWNER, ids["beach.jpg"], limit=3)  # the model's, by default
    assert by_model.model == "clip-test" and by_model.hits[0].why[0].startswith("clip-test similarity")
    _, vectors = library.store.spaces.get(OWNER, library.vision.space, np.array(sorted(ids.values())))
    own = dict(zip(sorted(ids.values()), vectors))
    expected = sorted((c for c in ids.values() if c != ids["beach.jpg"]), key=lambda c: -float(own[c] @ own[ids["beach.jpg"]]))
    assert [h.content_id for h in by_model.hits] == expected[:3]
    by_classifier = engine.similar(OWNER, ids["beach.jpg"], limit=3, by="classifier")
    assert by_classifier.model is None and by_classifier.hits[0].why == ["visual similarity"]
    with pytest.raises(QueryError, match="model or classifier"):
        engine.similar(OWNER, ids["beach.jpg"], by="pixels")
    with pytest.raises(QueryError, match="focus"):
        engine.similar(OWNER, ids["beach.jpg"], by="model", focus="dog")


def test_zero_shot_tags(clip_library):
    library, ids = clip_library
    tags = library.engine.tags(OWNER, ids["beach.jpg"], k=5)
    model_tags = [t for t in tags if t.kind == "model"]
    assert model_tags and model_tags[0].name == "beach"
    assert [t for t in tags if t.kind != "model"]  # the classifier's tags are still there
    # The vocabulary's embeddings are cached per model version in the library cache.
    cached = list((library.paths.cache / "vlm").glob(f"{library.vision.space.replace('@', '_')}-vocabulary-*.npz"))
    assert len(cached) == 1


def test_siglip_uses_its_learnt_probability(tiny_siglip_onnx: Path, concepts: ConceptSpace, tmp_path: Path):
    info = check_folder(tiny_siglip_onnx)
    lib = Library(tmp_path / "slib")
    lib.concepts = concepts
    lib.models.add(tiny_siglip_onnx, use=True)
    assert lib.vision is not None
    calibration = lib.vision.calibration(OWNER)
    assert calibration.method == "siglip-learnt"
    assert (calibration.scale, calibration.bias) == (info.logit_scale, info.logit_bias)
    cos = np.array([0.0, 1.0], dtype=np.float32)
    assert np.allclose(calibration.probability(cos), 1 / (1 + np.exp(-(info.logit_scale * cos + info.logit_bias))), atol=1e-6)
    lib.close()


def test_calibration_arithmetic():
    vocab = np.eye(4, dtype=np.float32)
    images = np.array([[1, 0, 0, 0], [0.6, 0.8, 0, 0]], dtype=np.float32)
    fitted = fit_clip_calibration(10.0, vocab, images)
    log_z = log_normalisers(10.0, vocab, images)
    assert np.allclose(log_z, np.log(np.exp(10 * images @ vocab.T).sum(axis=1)), atol=1e-5)
    assert fitted.method == "clip-softmax" and fitted.fitted_on == 2
    assert fitted.cosine_at(0.5) == pytest.approx(-fitted.bias / 10.0)
    learnt = Calibration(10.0, -10.0, "siglip-learnt")
    assert learnt.probability(np.array([1.0], dtype=np.float32))[0] == pytest.approx(0.5)
    assert Calibration.from_dict(learnt.to_dict()) == learnt


def test_a_text_query_without_a_model_loads_nothing_new(clip_library, tmp_path: Path, pixseek_env: dict[str, str]):
    script = (
        "import sys\n"
        "from pixseek.library import Library\n"
        f"lib = Library({str(tmp_path / 'plain')!r})\n"
        "assert lib.vision is None\n"
        "lib.engine.search(1, 'dog')\n"
        "loaded = [m for m in sys.modules if m.startswith(('onnxruntime', 'tokenizers', 'pixseek.analyzers.vlm.towers', 'pixseek.search.zero_shot'))]\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=pixseek_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_vocabulary_is_concrete_nouns_and_class_names(concepts: ConceptSpace):
    words = vocabulary(concepts)
    assert {"dog", "beach", "bicycle", "tree"} <= set(words)
    assert "pessimism" not in words and "the" not in words


def test_api_names_the_model_and_similar_takes_by(clip_folder: Path, concepts: ConceptSpace, tmp_path: Path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from pixseek.service.app import create_app
    from pixseek.service.settings import ServiceSettings

    home = tmp_path / "served"
    library, ids = build_library(home, clip_folder, concepts)
    library.close()
    app = create_app(ServiceSettings(home=home, single_user=True, faces=False, ocr=False))
    with TestClient(app, base_url="http://localhost", headers={"X-Requested-With": "pixseek"}) as client:
        sunset = client.get("/api/search", params={"q": "sunset"})
        assert sunset.status_code == 200, sunset.text
        body = sunset.json()
        assert body["model"] == "clip-test"
        assert [Path(r["image"]["paths"][0]).name for r in body["results"]] == ["sunset.jpg"]
        assert body["results"][0]["why"] == ["sunset: clip-test 1.00"]
        assert client.get("/api/search", params={"q": "zebra"}).json()["results"] == []
        beach_id = client.get("/api/search", params={"q": "beach"}).json()["results"][0]["image"]["id"]
        similar = client.get(f"/api/images/{beach_id}/similar", params={"by": "model", "limit": 3}).json()
        assert similar["model"] == "clip-test" and len(similar["results"]) == 3
        assert client.get(f"/api/images/{beach_id}/similar", params={"by": "classifier"}).json()["model"] is None
        assert client.get(f"/api/images/{beach_id}/similar", params={"by": "pixels"}).status_code == 422
        tags = client.get(f"/api/images/{beach_id}").json()["tags"]
        assert {"name": "beach", "kind": "model"}.items() <= next(t for t in tags if t["kind"] == "model").items()


def test_postgres_store(clip_folder: Path, concepts: ConceptSpace, tmp_path: Path, new_database):
    library, ids = build_library(tmp_path / "pg-home", clip_folder, concepts, store=new_database("vlm_search"))
    try:
        engine = library.engine
        assert names_of(engine.search(OWNER, "sunset"), ids) == ["sunset.jpg"]
        dog = names_of(engine.search(OWNER, "dog"), ids)
        assert {"dog.jpg", "sign.jpg", "puppy.jpg"} <= set(dog)
        assert names_of(engine.search(OWNER, "person on a bike"), ids)[0] == "bike.jpg"
        assert engine.search(OWNER, "zebra").hits == []
        assert engine.similar(OWNER, ids["beach.jpg"], limit=2).model == "clip-test"
    finally:
        library.close()


def test_an_active_model_that_has_embedded_nothing_yet(clip_folder: Path, concepts: ConceptSpace, tmp_path: Path):
    """`models use` before the index run: searches, similar and tags still answer (no model part)."""
    library = Library(tmp_path / "fresh")
    library.concepts = concepts
    cid = library.store.add_content(OWNER, "sha-x", "test+vlm", analysis(1, main_class=DOG))
    library.store.put_file(OWNER, FileState("/x/dog.jpg", 1, 1), cid)
    library.store.commit()
    library.models.add(clip_folder, name="clip-fresh", use=True)
    try:
        result = library.engine.search(OWNER, "dog")
        assert [h.content_id for h in result.hits] == [cid] and result.model == "clip-fresh"
        assert library.engine.search(OWNER, "sunset").hits == []
        assert library.engine.similar(OWNER, cid).hits == []  # falls back to the classifier's: no other image
        assert all(t.kind != "model" for t in library.engine.tags(OWNER, cid))
    finally:
        library.close()


def test_cli_search_similar_and_tags(clip_library, pixseek_env: dict[str, str]):
    library, ids = clip_library
    home = str(library.paths.home)
    env = {**pixseek_env, "PIXSEEK_CACHE_DIR": str(library.paths.cache)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pixseek.cli", *args, "--db", home], env=env, capture_output=True, text=True, timeout=300)

    found = cli("search", "sunset", "--json")
    assert found.returncode == 0, found.stderr
    body = json.loads(found.stdout)
    assert body["model"] == "clip-test" and [Path(r["path"]).name for r in body["results"]] == ["sunset.jpg"]
    beach = library.store.get_images(OWNER, [ids["beach.jpg"]])[0].paths[0]
    similar = cli("similar", beach, "--by", "model", "--json")
    assert similar.returncode == 0, similar.stderr
    assert json.loads(similar.stdout)["model"] == "clip-test"
    refused = cli("similar", beach, "--by", "pixels")
    assert refused.returncode != 0 and "model or classifier" in refused.stderr
    tags = cli("tags", beach, "--json")
    assert tags.returncode == 0, tags.stderr
    assert {"tag": "beach", "kind": "model"}.items() <= next(t for t in json.loads(tags.stdout) if t["kind"] == "model").items()


def test_a_head_with_more_strong_matches_grows_and_answers_the_same(clip_library, monkeypatch: pytest.MonkeyPatch):
    """A text with more strong matches than the head holds: the ANN head grows (fewer vectors read
    one by one), and the ranking is the one an exhaustive head gives."""
    from pixseek.search.evidence import vlm

    library, ids = clip_library
    engine, spaces = library.engine, library.store.spaces
    queries = ("dog", "beach", "person on a bike", "sunset photo00")

    def ranked(query: str) -> list[tuple[int, float]]:
        # Images that can score: a term under MIN_CANDIDATE_SCORE fails an AND and reads as no match
        # (the engine's TERM_FLOOR), so a head need not read the exact cosines below it (~1e-4 scores).
        hits = engine.search(OWNER, query, threshold=0.0).hits
        return [(h.content_id, round(h.score, 5)) for h in hits if h.score >= vlm.MIN_CANDIDATE_SCORE]

    whole = {q: ranked(q) for q in queries}
    assert sum(map(len, whole.values())) >= 2, whole  # the comparison below is not of empty lists

    read: list[int] = []
    real_get = spaces.get
    monkeypatch.setattr(spaces, "get", lambda owner, space, some: read.append(len(some)) or real_get(owner, space, some))
    calls: list[int] = []
    real_nearest = spaces.nearest
    monkeypatch.setattr(spaces, "nearest", lambda owner, space, v, k: calls.append(k) or real_nearest(owner, space, v, k))
    monkeypatch.setattr(vlm, "MODEL_CANDIDATES", 2)
    monkeypatch.setattr(vlm, "HEAD_GROWTH", 3)
    monkeypatch.setattr(vlm, "MODEL_CANDIDATES_MAX", 6)
    for q in queries:
        assert ranked(q) == whole[q], q
    assert 2 in calls and 6 in calls  # heads of 2 grew to 6 ...
    grown = sum(read)

    read.clear()
    monkeypatch.setattr(vlm, "MODEL_CANDIDATES_MAX", 2)  # ... and kept at 2, more vectors are read
    for q in queries:
        assert ranked(q) == whole[q], q
    assert sum(read) > grown


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_concept_is_taught_with_the_active_model_and_says_when_it_is_gone(
    backend: str, clip_folder: Path, concepts: ConceptSpace, tmp_path: Path, request: pytest.FixtureRequest,
):
    """With a model active, a taught concept also learns from the model's image embeddings: ten
    pictures the classifier sees as nothing alike but the model sees alike are found from four
    examples; taught with the classifier alone, they are not. With the model off, the concept says
    it needs a retrain, and a retrain teaches it on what is active then. Both stores."""
    from pixseek.analyzers.classifier import CLASSIFIER_VERSION
    from pixseek.search.taught import TaughtConcept
    from pixseek.search.teaching import Teacher

    store = request.getfixturevalue("new_database")("vlm_teach") if backend == "postgres" else None
    library = Library(tmp_path / "home", store=store)
    library.concepts = concepts
    model = load_model(clip_folder, name="clip-test")
    st = library.store
    names = [f"other{i:02d}.jpg" for i in range(40)] + [f"rex{i}.jpg" for i in range(10)]
    photos = pictures(len(names))
    files = tmp_path / "files"
    files.mkdir()
    ids = {}
    for seed, name in enumerate(names):
        photos[seed].save(files / name)
        cid = st.add_content(OWNER, f"sha-{name}", CLASSIFIER_VERSION, analysis(100 + seed))  # random classes and embeddings
        st.put_file(OWNER, FileState(str(files / name), 100 + seed, seed), cid)
        ids[name] = cid
    vectors = model.embed_images(photos)
    rng = np.random.default_rng(3)
    rex = rng.normal(size=vectors.shape[1]).astype(np.float32)  # not a text's reading: the model's words do not find it
    rex /= np.linalg.norm(rex)
    for i in range(10):  # what a trained model's image tower would make of ten pictures of rex
        v = rex + 0.25 * rng.normal(size=rex.shape).astype(np.float32) / np.sqrt(len(rex))
        vectors[40 + i] = v / np.linalg.norm(v)
    st.spaces.ensure(model.info.space, model.info.dim)
    st.spaces.put(OWNER, model.info.space, [ids[n] for n in names], vectors)
    st.commit()
    st.refresh_indexes()
    library.models.add(clip_folder, name="clip-test", use=True)
    examples = [ids[f"rex{i}.jpg"] for i in range(4)]
    wanted = {ids[f"rex{i}.jpg"] for i in range(4, 10)}

    info = library.teacher().teach("rex", examples)
    assert info.model_space == model.info.space and not info.stale
    hits = library.engine.search(OWNER, "rex", limit=10, threshold=0.0).hits
    assert {h.content_id for h in hits} == wanted | set(examples), [h.why for h in hits]
    assert all(any(w.startswith("concept: rex") for w in h.why) for h in hits)
    # The classifier alone (the same examples, no model): the ten are nothing alike to it.
    Teacher(st, OWNER, CLASSIFIER_VERSION, hierarchy=library.class_hierarchy, seed=0).teach("plainrex", examples)
    plain_hits = library.engine.search(OWNER, "plainrex", limit=10, threshold=0.0).hits
    assert len({h.content_id for h in plain_hits} & wanted) <= 3
    # An example the model has not embedded yet (a re-embed still running): taught without the model, saying why.
    photos[0].save(files / "new.jpg")
    new = st.add_content(OWNER, "sha-new.jpg", CLASSIFIER_VERSION, analysis(99))
    st.put_file(OWNER, FileState(str(files / "new.jpg"), 99, 99), new)
    st.commit()
    assert library.teacher().teach("newrex", [new, *examples]).model_space == ""
    record = st.learned.get(OWNER, "concept", "newrex")
    assert "1 of the examples have no" in TaughtConcept.from_bytes(record.model).info["model"]
    # Tags: the concept names a picture it accepts (at the default threshold, here its examples);
    # one the model has not embedded gets no tag from it.
    accepted = [h.content_id for h in library.engine.search(OWNER, "rex", limit=10).hits]
    assert accepted and any(t.name == "rex" and t.kind == "taught" for t in library.engine.tags(OWNER, accepted[0]))
    assert "rex" not in {t.name for t in library.engine.tags(OWNER, new)}
    library.close()

    library.models.deactivate()
    without = Library(tmp_path / "home", store=store)
    without.concepts = concepts
    assert without.vision is None
    assert without.teacher().info("rex").stale
    with pytest.raises(QueryError, match="vision-language model space"):
        without.engine.search(OWNER, "rex")
    retrained = without.teacher().retrain("rex")
    assert retrained.model_space == "" and not retrained.stale
    without.engine.search(OWNER, "rex")  # answered again, by the classifier's features
    without.close()
