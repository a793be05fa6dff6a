"""What the voice is given to read: respellings, whitespace, and scripts it can read.

The lexicon applies to every engine: it works on text, before synthesis.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

from voiceguide.errors import SpeechError

# Respellings checked against espeak-ng 1.52 (en-us) phoneme output; only words
# espeak gets wrong, plus sacral (kept consistent with sacrum, SAY-krum).
DEFAULT_LEXICON: dict[str, str] = {
    "effleurage": "efflurrahzh",  # EF-lur-ahzh, not "eff-lyoo-rij"
    "effleurages": "efflurrahzhez",
    "petrissage": "paytreesahzh",  # PAY-tree-sahzh, not "PET-riss-ij"
    "tapotement": "tuh poatment",  # tuh-POHT-ment, not "TAP-oht-ment"
    "sacral": "saykrul",
    "spinae": "spynee",  # erector SPY-nee
    "latissimus": "la tissimus",  # luh-TISS-imus
    "dorsi": "dorsigh",
    "quadratus": "kwodraytus",
    "infraspinatus": "infra-spy-naytus",
    "supraspinatus": "soopra-spy-naytus",
    "teres": "teereez",
    "fascia": "fasha",
    "myofascial": "myo-fashial",
    "shiatsu": "sheeahtsoo",
    "sacroiliac": "saykro-illy-ak",
    "occiput": "oxi putt",
}


def merge_lexicons(*lexicons: Mapping[str, str] | None) -> dict[str, str]:
    """Later maps win; keys are compared case-insensitively."""
    merged: dict[str, str] = {}
    for lexicon in lexicons:
        for word, respelling in (lexicon or {}).items():
            if not isinstance(word, str) or not isinstance(respelling, str):
                raise SpeechError(f"lexicon: {word!r}: expected text, got {respelling!r}")
            if not word.strip():
                raise SpeechError("lexicon: an entry has an empty word")
            merged[word.strip().lower()] = respelling
    return merged


@lru_cache(maxsize=32)
def _lexicon_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation, longest first, so 'effleurages' wins over 'effleurage'."""
    ordered = sorted(words, key=len, reverse=True)
    body = "|".join(re.escape(w) for w in ordered)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def apply_lexicon(text: str, lexicon: Mapping[str, str]) -> str:
    """Replace whole words (case-insensitive) by their respellings."""
    if not lexicon:
        return text
    lowered = {k.lower(): v for k, v in lexicon.items()}
    pattern = _lexicon_pattern(tuple(sorted(lowered)))
    return pattern.sub(lambda m: lowered[m.group(0).lower()], text)


def normalize_text(text: str) -> str:
    """Collapse whitespace; refuse text with nothing to say."""
    if not isinstance(text, str):
        raise SpeechError(f"expected text to speak, got {type(text).__name__}")
    cleaned = " ".join(text.split())
    if not any(ch.isalnum() for ch in cleaned):
        shown = f" {text!r}" if text.strip() else ""
        raise SpeechError(f"nothing to say: the text{shown} is empty")
    return cleaned


# --------------------------------------------------------------------------- scripts

_SCRIPTS_BY_LANGUAGE: dict[str, frozenset[str]] = {}
for _langs, _scripts in [
    ("ru uk bg be mk kk ky tt ba cv sr", {"CYRILLIC"}),
    ("el grc", {"GREEK"}),
    ("ar fa ur sd ug ku", {"ARABIC"}),
    ("he", {"HEBREW"}),
    ("hi mr ne kok", {"DEVANAGARI"}),
    ("bn as bpy", {"BENGALI"}),
    ("gu", {"GUJARATI"}),
    ("pa", {"GURMUKHI"}),
    ("ta", {"TAMIL"}),
    ("te", {"TELUGU"}),
    ("kn", {"KANNADA"}),
    ("ml", {"MALAYALAM"}),
    ("si", {"SINHALA"}),
    ("or", {"ORIYA"}),
    ("th", {"THAI"}),
    ("ka", {"GEORGIAN"}),
    ("hy", {"ARMENIAN"}),
    ("am ti", {"ETHIOPIC"}),
    ("my", {"MYANMAR"}),
    ("ja", {"CJK", "HIRAGANA", "KATAKANA"}),
    ("cmn yue hak zh", {"CJK"}),
    ("ko", {"HANGUL", "CJK"}),
    ("chr", {"CHEROKEE"}),
]:
    for _lang in _langs.split():
        # espeak reads Latin words in any voice (it switches to English), so Latin always passes.
        _SCRIPTS_BY_LANGUAGE[_lang] = frozenset(_scripts | {"LATIN"})
_LATIN_ONLY = frozenset({"LATIN"})


def _script_of(ch: str) -> str | None:
    """Unicode script of a letter, from its character name ('CYRILLIC SMALL LETTER A')."""
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else None


def check_script(text: str, language: str, voice: str = "") -> None:
    """Refuse text written in a script the voice's language cannot read.

    espeak would otherwise spell unknown letters out one by one (or say
    nothing), which is worse than a clear error.
    """
    allowed = _SCRIPTS_BY_LANGUAGE.get(language.split("-")[0].lower(), _LATIN_ONLY)
    for ch in text:
        script = _script_of(ch)
        if script and script not in allowed:
            who = f"voice {voice} ({language})" if voice else f"language {language}"
            raise SpeechError(
                f"{who} cannot read {script.title()} text: {preview(text)}; "
                "choose a voice for that language (see `voiceguide voices`)"
            )


def preview(text: str, width: int = 40) -> str:
    return repr(text if len(text) <= width else text[: width - 1] + "…")
