"""Multilingual text search on the dev set: the label queries in French, German, Spanish, Italian,
Portuguese and Dutch, against the same images as English.

    python -m bench.multilingual [--quick] [--per-class 50]

The dev set and its library are bench.quality's (indexed once into bench/.cache). Every English
label query of bench.quality has a hand-written translation per language (TRANSLATIONS, what a
native speaker would type: singular or plural as in English, no articles). Each is searched as a
user would, at the engine's default threshold:

* auto: no language given, detected from the query alone (words spelled like English words,
  "animal", "document", "portrait", are then read as English, which is right);
* forced: `lang=` set, as the CLI's `--lang` does.

precision@10 and relevance are bench.quality's (a hit is relevant if the English label is among its
labels). `multilingual_p10_{lang}_{auto,forced}` is the mean over the label queries;
`multilingual_p10_ratio_{lang}_{mode}` that over English's; `multilingual_p10_ratio_min` the worst
language's ratio in auto mode (`_forced`: in forced mode). `multilingual_detected_{lang}` is the
share of queries detected as their language, among those not spelled like an English word.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.common import (
    CACHE_DIR,
    Result,
    print_table,
    rounded,
    setup_env,
)
from bench.corpus import dev_set
from bench.quality import K, _precision_at_k, _relevance, dev_set_main
from pixseek.store import DEFAULT_OWNER

LANGUAGES = ("fr", "de", "es", "it", "pt", "nl")

# English label query -> (fr, de, es, it, pt, nl).
TRANSLATIONS: dict[str, tuple[str, str, str, str, str, str]] = {
    "animal": ("animal", "Tier", "animal", "animale", "animal", "dier"),
    "ankle boot": ("bottine", "Stiefelette", "botín", "stivaletto", "botina", "enkellaars"),
    "architecture": ("architecture", "Architektur", "arquitectura", "architettura", "arquitetura", "architectuur"),
    "astronaut": ("astronaute", "Astronaut", "astronauta", "astronauta", "astronauta", "astronaut"),
    "astronomy": ("astronomie", "Astronomie", "astronomía", "astronomia", "astronomia", "sterrenkunde"),
    "bag": ("sac", "Tasche", "bolso", "borsa", "bolsa", "tas"),
    "black and white": ("noir et blanc", "schwarzweiß", "blanco y negro", "bianco e nero", "preto e branco", "zwart-wit"),
    "boot": ("botte", "Stiefel", "bota", "stivale", "bota", "laars"),
    "box": ("boîte", "Schachtel", "caja", "scatola", "caixa", "doos"),
    "brick": ("brique", "Ziegelstein", "ladrillo", "mattone", "tijolo", "baksteen"),
    "building": ("bâtiment", "Gebäude", "edificio", "edificio", "edifício", "gebouw"),
    "camera": ("appareil photo", "Kamera", "cámara", "macchina fotografica", "câmera", "fototoestel"),
    "cat": ("chat", "Katze", "gato", "gatto", "gato", "kat"),
    "cells": ("cellules", "Zellen", "células", "cellule", "células", "cellen"),
    "clothing": ("vêtements", "Kleidung", "ropa", "abbigliamento", "roupa", "kleding"),
    "coat": ("manteau", "Mantel", "abrigo", "cappotto", "casaco", "jas"),
    "coffee": ("café", "Kaffee", "café", "caffè", "café", "koffie"),
    "coins": ("pièces de monnaie", "Münzen", "monedas", "monete", "moedas", "munten"),
    "craters": ("cratères", "Krater", "cráteres", "crateri", "crateras", "kraters"),
    "cup": ("tasse", "Tasse", "taza", "tazza", "xícara", "kopje"),
    "dahlia": ("dahlia", "Dahlie", "dalia", "dalia", "dália", "dahlia"),
    "document": ("document", "Dokument", "documento", "documento", "documento", "document"),
    "dress": ("robe", "Kleid", "vestido", "vestito", "vestido", "jurk"),
    "drink": ("boisson", "Getränk", "bebida", "bevanda", "bebida", "drankje"),
    "espresso": ("expresso", "Espresso", "café expreso", "espresso", "café expresso", "espresso"),
    "eye": ("œil", "Auge", "ojo", "occhio", "olho", "oog"),
    "flower": ("fleur", "Blume", "flor", "fiore", "flor", "bloem"),
    "footwear": ("chaussures", "Schuhe", "calzado", "calzature", "calçado", "schoeisel"),
    "galaxies": ("galaxies", "Galaxien", "galaxias", "galassie", "galáxias", "sterrenstelsels"),
    "gift": ("cadeau", "Geschenk", "regalo", "regalo", "presente", "cadeau"),
    "glasses": ("lunettes", "Brille", "gafas", "occhiali", "óculos", "bril"),
    "grass": ("herbe", "Gras", "hierba", "erba", "grama", "gras"),
    "gravel": ("gravier", "Kies", "grava", "ghiaia", "cascalho", "grind"),
    "handwriting": ("écriture manuscrite", "Handschrift", "escritura a mano", "scrittura a mano", "caligrafia", "handschrift"),
    "jacket": ("veste", "Jacke", "chaqueta", "giacca", "jaqueta", "jack"),
    "launch pad": (
        "pas de tir",
        "Startrampe",
        "plataforma de lanzamiento",
        "rampa di lancio",
        "plataforma de lançamento",
        "lanceerplatform",
    ),
    "man": ("homme", "Mann", "hombre", "uomo", "homem", "man"),
    "math": ("mathématiques", "Mathematik", "matemáticas", "matematica", "matemática", "wiskunde"),
    "medical": ("médical", "medizinisch", "médico", "medico", "médico", "medisch"),
    "microscopy": ("microscopie", "Mikroskopie", "microscopía", "microscopia", "microscopia", "microscopie"),
    "money": ("argent", "Geld", "dinero", "soldi", "dinheiro", "geld"),
    "moon": ("lune", "Mond", "luna", "luna", "lua", "maan"),
    "motorbike": ("moto", "Motorrad", "moto", "moto", "moto", "motor"),
    "motorcycle": ("motocyclette", "Motorrad", "motocicleta", "motocicletta", "motocicleta", "motorfiets"),
    "night": ("nuit", "Nacht", "noche", "notte", "noite", "nacht"),
    "page": ("page", "Seite", "página", "pagina", "página", "pagina"),
    "pagoda": ("pagode", "Pagode", "pagoda", "pagoda", "pagode", "pagode"),
    "pants": ("pantalon", "Hose", "pantalones", "pantaloni", "calças", "broek"),
    "paper": ("papier", "Papier", "papel", "carta", "papel", "papier"),
    "person": ("personne", "Person", "persona", "persona", "pessoa", "persoon"),
    "pet": ("animal de compagnie", "Haustier", "mascota", "animale domestico", "animal de estimação", "huisdier"),
    "photographer": ("photographe", "Fotograf", "fotógrafo", "fotografo", "fotógrafo", "fotograaf"),
    "plant": ("plante", "Pflanze", "planta", "pianta", "planta", "plant"),
    "portrait": ("portrait", "Porträt", "retrato", "ritratto", "retrato", "portret"),
    "present": ("cadeau", "Geschenk", "regalo", "regalo", "presente", "cadeau"),
    "pullover": ("pull-over", "Pullover", "jersey", "maglione", "pulôver", "trui"),
    "retina": ("rétine", "Netzhaut", "retina", "retina", "retina", "netvlies"),
    "rocket": ("fusée", "Rakete", "cohete", "razzo", "foguete", "raket"),
    "sandal": ("sandale", "Sandale", "sandalia", "sandalo", "sandália", "sandaal"),
    "shirt": ("chemise", "Hemd", "camisa", "camicia", "camisa", "overhemd"),
    "shoe": ("chaussure", "Schuh", "zapato", "scarpa", "sapato", "schoen"),
    "sneaker": ("basket", "Turnschuh", "zapatilla", "scarpa da ginnastica", "tênis", "sportschoen"),
    "space": ("espace", "Weltraum", "espacio", "spazio", "espaço", "ruimte"),
    "spacesuit": ("combinaison spatiale", "Raumanzug", "traje espacial", "tuta spaziale", "traje espacial", "ruimtepak"),
    "stars": ("étoiles", "Sterne", "estrellas", "stelle", "estrelas", "sterren"),
    "stones": ("pierres", "Steine", "piedras", "pietre", "pedras", "stenen"),
    "sweater": ("pull", "Pullover", "suéter", "maglione", "suéter", "trui"),
    "t-shirt": ("t-shirt", "T-Shirt", "camiseta", "maglietta", "camiseta", "T-shirt"),
    "temple": ("temple", "Tempel", "templo", "tempio", "templo", "tempel"),
    "text": ("texte", "Text", "texto", "testo", "texto", "tekst"),
    "texture": ("texture", "Textur", "textura", "texture", "textura", "textuur"),
    "tissue": ("tissu", "Gewebe", "tejido", "tessuto", "tecido", "weefsel"),
    "tripod": ("trépied", "Stativ", "trípode", "treppiede", "tripé", "statief"),
    "trousers": ("pantalon", "Hose", "pantalones", "pantaloni", "calças", "broek"),
    "uniform": ("uniforme", "Uniform", "uniforme", "uniforme", "uniforme", "uniform"),
    "vehicle": ("véhicule", "Fahrzeug", "vehículo", "veicolo", "veículo", "voertuig"),
    "wall": ("mur", "Mauer", "pared", "muro", "parede", "muur"),
    "woman": ("femme", "Frau", "mujer", "donna", "mulher", "vrouw"),
}


def translation(query: str, lang: str) -> str:
    return TRANSLATIONS[query][LANGUAGES.index(lang)]


def _p10(engine: Any, query: str, relevant: set[str], lang: str | None) -> tuple[float, str, str]:
    """precision@10 of one search, the language it was read in, and its interpretation (or error)."""
    from pixseek.search.engine import QueryError

    try:
        result = engine.search(DEFAULT_OWNER, query, limit=K, lang=lang)
    except QueryError as exc:
        return 0.0, lang or "?", f"error: {exc}"
    return _precision_at_k(result.hits, relevant), result.language, " OR ".join(result.interpretation)


def run(per_class: int) -> Result:
    setup_env()
    from pixseek.library import Library

    root, images = dev_set(per_class)
    relevance = _relevance(images)
    queries = sorted(relevance)
    missing = [q for q in queries if q not in TRANSLATIONS]
    if missing:
        raise SystemExit(f"no translations for label queries: {', '.join(missing)}")
    home = CACHE_DIR / f"quality-library-{per_class}"
    english: dict[str, float] = {}
    scores: dict[tuple[str, str], list[float]] = {}
    detected: dict[str, list[bool]] = {lang: [] for lang in LANGUAGES}
    rows = []
    with Library(home) as library:
        report = library.indexer(workers=2).index(root)
        print(f"dev set: {len(images)} images; index run: {report.indexed} new, {report.unchanged} unchanged")
        engine = library.engine
        for q in queries:
            english[q], _, _ = _p10(engine, q, relevance[q], None)
        for lang in LANGUAGES:
            for q in queries:
                text = translation(q, lang)
                auto, read_as, _ = _p10(engine, text, relevance[q], None)
                forced, _, shown_forced = _p10(engine, text, relevance[q], lang)
                scores.setdefault((lang, "auto"), []).append(auto)
                scores.setdefault((lang, "forced"), []).append(forced)
                if text.lower() != q:
                    detected[lang].append(read_as == lang)
                rows.append((lang, q, text, round(english[q], 2), round(auto, 2), read_as, round(forced, 2), shown_forced))

    print_table(
        ["lang", "english query", "query", "P@10 en", "P@10 auto", "read as", "P@10 forced", "forced: read as"],
        rows,
        title="label queries",
    )
    en_mean = float(np.mean(list(english.values())))
    results: Result = {"multilingual_p10_en": rounded(en_mean), "multilingual_queries": len(queries)}
    summary = []
    for lang in LANGUAGES:
        auto, forced = (float(np.mean(scores[(lang, m)])) for m in ("auto", "forced"))
        results[f"multilingual_p10_{lang}_auto"] = rounded(auto)
        results[f"multilingual_p10_{lang}_forced"] = rounded(forced)
        results[f"multilingual_p10_ratio_{lang}_auto"] = rounded(auto / en_mean)
        results[f"multilingual_p10_ratio_{lang}_forced"] = rounded(forced / en_mean)
        results[f"multilingual_detected_{lang}"] = rounded(float(np.mean(detected[lang])))
        summary.append((lang, round(auto, 3), round(forced, 3), round(auto / en_mean, 3), round(forced / en_mean, 3)))
    print_table(
        ["lang", "P@10 auto", "P@10 forced", "ratio auto", "ratio forced"],
        [("en", round(en_mean, 3), round(en_mean, 3), 1.0, 1.0), *summary],
        title=f"precision@10 over {len(queries)} label queries (default threshold)",
    )
    results["multilingual_p10_ratio_min"] = min(results[f"multilingual_p10_ratio_{lang}_auto"] for lang in LANGUAGES)
    results["multilingual_p10_ratio_min_forced"] = min(
        results[f"multilingual_p10_ratio_{lang}_forced"] for lang in LANGUAGES
    )
    return results


def main(argv: Sequence[str] | None = None) -> None:
    dev_set_main(argv, __doc__.splitlines()[0], run)


if __name__ == "__main__":
    main()
