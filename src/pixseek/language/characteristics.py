"""Query words for image characteristics (colours, black-and-white, dark, screenshot, portrait...).

The characteristics are concept ids from records.CLASS_COUNT on, computed from the pixels, the faces
and the text of each picture (analyzers/characteristics.py) and stored in the same sparse rows as
the class probabilities. Here: which words mean them. English words are read by
ConceptSpace.encode_term; other languages reach them through their dictionaries ("rouge" -> red,
"Nacht" -> night), and the phrases and words the FreeDict dictionaries lack are in FOREIGN below
("noir et blanc", "Bildschirmfoto", "captura de pantalla").
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from pixseek.records import CHARACTERISTIC_IDS, characteristic_name

# English word or phrase -> (characteristic, weight). A word that only suggests the characteristic
# ("night": dark pictures, most taken at night) weighs a little less than its name.
_ENGLISH: dict[str, tuple[str, ...]] = {
    "red": ("red", "reddish", "crimson", "scarlet"),
    "orange": ("orange", "orangey"),
    "yellow": ("yellow", "yellowish"),
    "green": ("green", "greenish"),
    "blue": ("blue", "bluish", "turquoise", "cyan", "azure"),
    "purple": ("purple", "violet", "magenta", "lilac", "lavender"),
    "pink": ("pink", "pinkish"),
    "brown": ("brown", "brownish"),
    "black": ("black",),
    "white": ("white",),
    "grey": ("grey", "gray", "greyish", "grayish"),
    "black and white": (
        "black and white", "black-and-white", "black white", "monochrome", "monochromatic", "greyscale",
        "grayscale", "grey scale", "gray scale", "bw",
    ),
    "dark": ("dark", "darkness", "night", "nighttime", "night time", "dim", "underexposed", "under exposed"),
    "bright": ("bright", "overexposed", "over exposed", "high key", "brightness"),
    "screenshot": ("screenshot", "screen capture", "screencap", "screengrab", "screen grab", "print screen"),
    "document": ("document", "documents", "page", "pages", "scan", "scans", "scanned document", "paperwork"),
    "portrait": ("portrait", "portraits", "headshot", "headshots", "head shot", "close up portrait"),
    "selfie": ("selfie", "selfies"),
    "group photo": (
        "group photo", "group picture", "group shot", "group portrait", "group", "groups", "crowd", "crowds",
        "group of people",
    ),
    "panorama": ("panorama", "panoramas", "panoramic", "pano"),
}  # fmt: skip
_WEAKER = {"night": 0.9, "nighttime": 0.9, "night time": 0.9, "crowd": 0.9, "crowds": 0.9, "scan": 0.9, "scans": 0.9}

# What the dictionaries lack, per language: foreign word or phrase -> English word (of _ENGLISH).
FOREIGN: dict[str, dict[str, str]] = {
    "fr": {
        "noir et blanc": "black and white", "noir-blanc": "black and white", "monochrome": "monochrome",
        "capture d'écran": "screenshot", "capture d'ecran": "screenshot", "copie d'écran": "screenshot",
        "photo de groupe": "group photo", "groupe": "group", "selfie": "selfie", "égoportrait": "selfie",
        "panorama": "panorama", "panoramique": "panorama", "portrait": "portrait", "nuit": "night",
        "sombre": "dark", "surexposé": "overexposed", "surexposée": "overexposed", "lumineux": "bright",
        "lumineuse": "bright", "document": "document", "page": "page", "violet": "purple", "rose": "pink",
        "marron": "brown", "brun": "brown", "gris": "grey",
    },
    "de": {
        "schwarzweiß": "black and white", "schwarz-weiß": "black and white", "schwarzweiss": "black and white",
        "schwarz-weiss": "black and white", "schwarz weiß": "black and white", "schwarz und weiß": "black and white",
        "bildschirmfoto": "screenshot", "bildschirmaufnahme": "screenshot", "screenshot": "screenshot",
        "gruppenfoto": "group photo", "gruppenbild": "group photo", "gruppe": "group", "selfie": "selfie",
        "porträt": "portrait", "portrait": "portrait", "panorama": "panorama", "nacht": "night",
        "dunkel": "dark", "hell": "bright", "überbelichtet": "overexposed", "dokument": "document",
        "seite": "page", "lila": "purple", "violett": "purple", "rosa": "pink", "braun": "brown", "grau": "grey",
    },
    "es": {
        "blanco y negro": "black and white", "captura de pantalla": "screenshot", "foto de grupo": "group photo",
        "grupo": "group", "selfi": "selfie", "selfie": "selfie", "autofoto": "selfie", "retrato": "portrait",
        "panorama": "panorama", "panorámica": "panorama", "noche": "night", "oscuro": "dark", "oscura": "dark",
        "brillante": "bright", "sobreexpuesto": "overexposed", "documento": "document", "página": "page",
        "morado": "purple", "violeta": "purple", "rosa": "pink", "marrón": "brown", "gris": "grey",
    },
    "it": {
        "bianco e nero": "black and white", "bianco nero": "black and white", "schermata": "screenshot",
        "foto di gruppo": "group photo", "gruppo": "group", "selfie": "selfie", "autoscatto": "selfie",
        "ritratto": "portrait", "panorama": "panorama", "panoramica": "panorama", "notte": "night",
        "scuro": "dark", "scura": "dark", "luminoso": "bright", "luminosa": "bright", "sovraesposto": "overexposed",
        "documento": "document", "pagina": "page", "viola": "purple", "rosa": "pink", "marrone": "brown",
        "grigio": "grey",
    },
    "pt": {
        "preto e branco": "black and white", "captura de tela": "screenshot", "captura de ecrã": "screenshot",
        "foto de grupo": "group photo", "grupo": "group", "selfie": "selfie", "retrato": "portrait",
        "panorama": "panorama", "panorâmica": "panorama", "noite": "night", "escuro": "dark", "escura": "dark",
        "claro": "bright", "brilhante": "bright", "documento": "document", "página": "page", "roxo": "purple",
        "rosa": "pink", "castanho": "brown", "marrom": "brown", "cinzento": "grey", "cinza": "grey",
    },
    "nl": {
        "zwart-wit": "black and white", "zwartwit": "black and white", "zwart wit": "black and white",
        "schermafbeelding": "screenshot", "screenshot": "screenshot", "groepsfoto": "group photo",
        "groep": "group", "selfie": "selfie", "portret": "portrait", "panorama": "panorama", "nacht": "night",
        "donker": "dark", "helder": "bright", "overbelicht": "overexposed", "document": "document",
        "pagina": "page", "paars": "purple", "roze": "pink", "bruin": "brown", "grijs": "grey",
    },
}  # fmt: skip

TAG_MIN_WEIGHT = 0.3  # a characteristic this strong is shown among an image's tags


class Meaning(NamedTuple):
    """The characteristic concept ids a word means, with weights, and a reason to show."""

    weights: dict[int, float]
    why: str


def _key(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").replace("’", "'").split())


_WORDS: dict[str, tuple[str, float]] = {
    _key(word): (name, _WEAKER.get(word, 1.0)) for name, words in _ENGLISH.items() for word in words
}
_FOREIGN = {lang: {_key(k): v for k, v in table.items()} for lang, table in FOREIGN.items()}


def english_meaning(term: str) -> Meaning | None:
    """What an English word or phrase means among the characteristics; None if nothing."""
    key = _key(term)
    found = _WORDS.get(key)
    if found is None and key.endswith("s") and len(key) > 3:
        found = _WORDS.get(key[:-1])
    if found is None:
        return None
    name, weight = found
    return Meaning({CHARACTERISTIC_IDS[name]: weight}, f"{name} (image characteristic)")


def is_english_phrase(words: list[str]) -> bool:
    return len(words) > 1 and _key(" ".join(words)) in _WORDS


def foreign_english(lang: str, term: str) -> str | None:
    """The English word of a foreign word or phrase for a characteristic the dictionaries lack."""
    return _FOREIGN.get(lang, {}).get(_key(term))


def foreign_phrases(tokens: list[str]) -> dict[str, int]:
    """Per language, how many of its multi-word characteristic phrases the query's tokens hold
    (language detection: "captura de pantalla" is Spanish though "captura" alone is no evidence)."""
    text = f" {_key(' '.join(tokens))} "
    found: dict[str, int] = {}
    for lang, table in _FOREIGN.items():
        n = sum(1 for phrase in table if " " in phrase and f" {phrase} " in text)
        if n:
            found[lang] = n
    return found


def characteristic_tags(ids: NDArray[np.int32], weights: NDArray[np.float32]) -> list[tuple[str, float]]:
    """(name, weight) of an image's characteristics strong enough to show, strongest first."""
    found = [(name, float(w)) for c, w in zip(ids, weights) for name in [characteristic_name(int(c))] if name]
    return sorted(((n, w) for n, w in found if w >= TAG_MIN_WEIGHT), key=lambda nw: -nw[1])
