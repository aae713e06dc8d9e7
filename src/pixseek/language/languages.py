"""The languages queries may be in: codes, stopwords, word forms, and what dictionary domains mean.

Facts about the six languages that multilingual search needs and no dictionary gives: the words
to ignore in a query ("le", "der", "photo"), elided articles ("l'oiseau"), and cheap plural and
inflection stripping ("chiens" -> "chien", "Vögel" -> "Vogel", "katten" -> "kat"), tried only when
a word is no headword itself.
"""

from __future__ import annotations

import re

from pixseek.language.query import STOPWORDS

# Code -> (name, FreeDict code).
SUPPORTED: dict[str, tuple[str, str]] = {
    "en": ("English", "eng"),
    "fr": ("French", "fra"),
    "de": ("German", "deu"),
    "es": ("Spanish", "spa"),
    "it": ("Italian", "ita"),
    "pt": ("Portuguese", "por"),
    "nl": ("Dutch", "nld"),
}

# Function words, plus words that describe the photo rather than what is in it.
STOPWORDS_BY_LANGUAGE: dict[str, frozenset[str]] = {
    "en": STOPWORDS,
    "fr": frozenset(
        """le la les l de du des d un une et ou avec sans sur sous dans au aux en à par pour près
        chez entre mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs ce cet cette ces
        qui que est sont il elle ils elles je tu nous vous on y très tout tous toutes quelques
        plusieurs montre montrer trouve trouver cherche chercher deux trois quatre cinq six sept
        huit neuf dix photo photos image images cliché clichés""".split()
    ),
    "de": frozenset(
        """der die das den dem des ein eine einer eines einem einen und oder mit ohne am im in an auf
        unter über vor hinter neben bei beim zum zur von vom zu aus für ist sind mein meine dein
        deine sein seine ihr ihre unser unsere sehr alle viele einige zeige zeig finde such suche
        zwei drei vier fünf sechs sieben acht neun zehn foto fotos photo photos bild bilder
        aufnahme aufnahmen""".split()
    ),
    "es": frozenset(
        """el la los las lo un una unos unas y o e con sin en del de al a por para sobre bajo entre
        mi mis tu tus su sus es son muy todo todos todas algunos algunas muestra muestrame buscar
        busca dos tres cuatro cinco seis siete ocho nueve diez foto fotos imagen imágenes
        fotografía fotografías""".split()
    ),
    "it": frozenset(
        """il lo la i gli le l un uno una e ed o con senza su sul sullo sulla sui sugli sulle di del
        dello della dei degli delle da dal dallo dalla dai in nel nello nella nei negli nelle a al
        allo alla ai agli alle per tra fra mio mia miei mie suo sua molto tutti tutte alcuni alcune
        mostra mostrami cerca trova due tre quattro cinque sei sette otto nove dieci foto immagine
        immagini fotografia fotografie""".split()
    ),
    "pt": frozenset(
        """o a os as um uma uns umas e ou com sem em no na nos nas do da dos das de ao aos à às por
        pelo pela para sobre sob entre meu minha seu sua muito todos todas alguns algumas mostra
        mostrar procurar dois duas três quatro cinco seis sete oito nove dez foto fotos imagem
        imagens fotografia fotografias""".split()
    ),
    "nl": frozenset(
        """de het een en of met zonder op in aan bij van voor naar onder boven tussen uit is zijn
        mijn jouw haar ons onze heel alle enkele sommige toon zoek vind twee drie vier vijf zes
        zeven acht negen tien foto fotos foto's afbeelding afbeeldingen plaatje plaatjes""".split()
    ),
}

# Elided articles and prepositions glued to the next word: "l'oiseau", "dell'auto".
_ELISION = {
    "fr": re.compile(r"^(?:l|d|j|qu|n|s|c|m|t|jusqu|lorsqu|puisqu)'(?=\w)"),
    "it": re.compile(r"^(?:l|un|dell|dall|nell|sull|all|coll|quell|bell)'(?=\w)"),
}

# Cheap plural/inflection stripping, tried only when the word itself is no headword:
# (suffix, replacement), first hit that is a headword wins.
_INFLECTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "fr": (("aux", "al"), ("eaux", "eau"), ("x", ""), ("s", ""), ("es", ""), ("e", "")),
    "de": (("nen", ""), ("en", ""), ("er", ""), ("es", ""), ("em", ""), ("e", ""), ("n", ""), ("s", "")),
    "es": (("ces", "z"), ("es", ""), ("s", ""), ("as", "o"), ("a", "o")),
    "it": (
        ("chi", "co"), ("ghi", "go"), ("che", "ca"), ("ghe", "ga"), ("i", "o"), ("i", "e"), ("e", "a"),
        ("e", "o"), ("a", "o"),
    ),
    "pt": (
        ("ões", "ão"), ("ães", "ão"), ("ãos", "ão"), ("ns", "m"), ("is", "l"), ("es", ""), ("s", ""),
        ("as", "o"), ("a", "o"),
    ),
    "nl": (("'s", ""), ("en", ""), ("s", ""), ("e", "")),
}
_UMLAUTS = str.maketrans({"ä": "a", "ö": "o", "ü": "u"})

# Dictionary domains (German dictionary labels such as [zool.], [techn.]).
TECHNICAL_FACTOR = 0.5
# Photos show animals and plants: the German dictionary's zoological/botanical senses come first.
DOMAIN_FACTOR = {"zool.": 1.3, "bot.": 1.3, "ornith.": 1.3}
# German dictionary domains of trade and science: rarely what a photo search means.
TECHNICAL_DOMAINS = frozenset(
    """techn. constr. min. mus. econ. fin. jur. math. chem. phys. electr. comp. mach. aviat. mil.
    adm. statist. geol. print. telco. textil. mining ling. pol. insur. agr. pharm. biochem. sport""".split()
)


class UnsupportedLanguageError(ValueError):
    """A language code that is not one of SUPPORTED."""


def check_language(code: str) -> str:
    """'fr', 'FR', 'fr-CA', 'fr_FR' -> 'fr'; anything else raises UnsupportedLanguageError."""
    base = (code or "").strip().lower().replace("_", "-").split("-", 1)[0]
    if base not in SUPPORTED:
        supported = ", ".join(f"{c} ({name})" for c, (name, _) in SUPPORTED.items())
        raise UnsupportedLanguageError(f"unsupported language {code!r}: supported are {supported}")
    return base


def preferred_language(accept_language: str | None) -> str | None:
    """The first supported language of a code or an Accept-Language header ("de-CH,de;q=0.9,en;q=0.8")."""
    if not accept_language:
        return None
    ranked = []
    for i, part in enumerate(accept_language.split(",")):
        code, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, code.strip()))
    for _, _, code in sorted(ranked):
        try:
            return check_language(code)
        except UnsupportedLanguageError:
            continue
    return None


def domain_factor(domain: str) -> float:
    """How much a sense in this dictionary domain counts for photo search."""
    return DOMAIN_FACTOR.get(domain, TECHNICAL_FACTOR if domain in TECHNICAL_DOMAINS else 1.0)


def strip_elision(lang: str, word: str) -> str:
    pattern = _ELISION.get(lang)
    return pattern.sub("", word) if pattern else word


def inflections(lang: str, word: str) -> list[str]:
    """The word, then its plural-stripped forms (last word of a phrase only), most likely first."""
    out = [word]
    head, sep, last = word.rpartition(" ")
    for suffix, repl in _INFLECTIONS.get(lang, ()):
        if last.endswith(suffix) and len(last) - len(suffix) + len(repl) >= 3:
            stem = last[: len(last) - len(suffix)] + repl
            forms = [stem]
            if lang == "de":
                forms.append(stem.translate(_UMLAUTS))  # Vögel -> Vogel
            if lang == "nl" and suffix in ("en", "e"):
                if len(stem) > 3 and stem[-1] == stem[-2]:
                    forms.append(stem[:-1])  # katten -> kat
                if len(stem) >= 3 and stem[-2] in "aeou" and stem[-1] not in "aeiou":
                    forms.append(stem[:-1] + stem[-2] + stem[-1])  # bomen -> boom
            for f in forms:
                cand = head + sep + f
                if cand not in out:
                    out.append(cand)
    return out
