"""Guide notation turned into the words a person would say aloud.

Massage guides write "3-5 min", "30-60s", "10x", "~10 s", "L4/L5" and "1/2";
read literally, a speech engine says "three dash five min" or "tilde ten ess".
:func:`speakable` rewrites that notation before synthesis, for every engine,
and the user's lexicon applies after it. Emoji and decorative symbols are
dropped from speech only: the screen and the subtitles keep the text as written.

Pure string work, no I/O, so the same function serves synthesis, the cache key
and ``voiceguide say --words``.
"""

from __future__ import annotations

import re
import unicodedata

_DASH = "\u2010\u2011\u2012\u2013\u2014\u2212-"  # "-" last: literal in a [class]
_NUM = r"\d+(?:\.\d+)?"

#: Unit spellings after a number -> (singular, plural).
_UNITS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), ("second", "seconds")),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), ("minute", "minutes")),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), ("hour", "hours")),
}
_UNIT = r"(?:seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h)"

_NUMERATORS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_DENOMINATORS: dict[int, tuple[str, str]] = {
    2: ("half", "halves"),
    3: ("third", "thirds"),
    4: ("quarter", "quarters"),
    5: ("fifth", "fifths"),
    6: ("sixth", "sixths"),
    8: ("eighth", "eighths"),
    10: ("tenth", "tenths"),
}
_VULGAR = {"½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅛": "1/8"}

_ABBREVIATIONS = [
    (re.compile(r"(?<!\w)e\.g\.(?=\s|$|,)", re.I), "for example"),
    (re.compile(r"(?<!\w)i\.e\.(?=\s|$|,)", re.I), "that is"),
    (re.compile(r"(?<!\w)approx\.?(?=\s)", re.I), "about"),
    (re.compile(r"(?<!\w)vs\.?(?=\s)", re.I), "versus"),
]

# "1m30s" as routines write times
_COMPOUND = re.compile(r"(?<![\w.])(\d+)m(\d+)s(?!\w)")
# "3-5 min", "30-60s", "2–3 times", "3 - 4": a range of numbers
_RANGE = re.compile(
    rf"(?<![\w.{_DASH}])({_NUM})\s*[{_DASH}]\s*({_NUM})(?:\s?({_UNIT})(?![\w'’]))?(?![{_DASH}]\d)",
    re.I,
)
# "~10 s", "≈ 5 min": about
_ABOUT = re.compile(r"[~≈]\s*(?=\d)")
# "10 s", "45s", "2 min", "1.5m"
_SHORT_UNIT = r"(?:secs|sec|s|mins|min|m|hrs|hr|h)"
_WITH_UNIT = re.compile(rf"(?<![\w.])(\d+(?:\.\d+)?|\d/\d+)\s?({_SHORT_UNIT})(?![\w'’])", re.I)
# "10x", "3 x", "4×": times
_TIMES = re.compile(r"(?<![\w.])(\d+)\s?[x×](?![\w'’])", re.I)
# "L4/L5", "C7-T1": vertebrae
_VERTEBRA = r"[CTLS]\d{1,2}"
_VERTEBRAE_PAIR = re.compile(rf"(?<!\w)({_VERTEBRA})\s*/\s*({_VERTEBRA})(?!\w)")
_VERTEBRAE_RANGE = re.compile(rf"(?<!\w)({_VERTEBRA})\s*[{_DASH}]\s*({_VERTEBRA})(?!\w)")
# "1/2", "3/4": fractions (not dates like 12/05/2024)
_FRACTION = re.compile(r"(?<![\w/.])(\d)/(\d{1,2})(?![\w/])")
# "left/right", "and/or": either word
_WORD_SLASH = re.compile(r"(?<=[A-Za-z])/(?=[A-Za-z])")
_DEGREES = re.compile(r"(\d)\s?°")
_ARROW = re.compile(r"\s*(?:->|→|⟶|➔|➜)\s*")
_AMPERSAND = re.compile(r"\s*&\s*")
_PLUS_MINUS = re.compile(r"\s*±\s*")

#: Plain ASCII symbols that are decoration in a guide, never words.
_DROP_ASCII = set("*#_|`^<>=[]{}\\~@")
#: Invisible joiners and selectors that travel with emoji.
_DROP_ALWAYS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}


def speakable(text: str) -> str:
    """``text`` with guide notation spelled out and symbols removed, for the voice."""
    for old, new in _VULGAR.items():
        text = text.replace(old, f" {new}")
    for pattern, words in _ABBREVIATIONS:
        text = pattern.sub(words, text)
    text = _COMPOUND.sub(lambda m: f"{m[1]} {_unit_word(m[1], 'm')} {m[2]} seconds", text)
    text = _ABOUT.sub("about ", text)
    text = _VERTEBRAE_PAIR.sub(r"\1 and \2", text)
    text = _VERTEBRAE_RANGE.sub(r"\1 to \2", text)
    text = _RANGE.sub(_range_words, text)
    text = _WITH_UNIT.sub(lambda m: f"{m[1]} {_unit_word(m[1], m[2])}", text)
    text = _TIMES.sub(r"\1 times", text)
    text = _FRACTION.sub(_fraction_words, text)
    text = _WORD_SLASH.sub(" or ", text)
    text = _DEGREES.sub(r"\1 degrees", text)
    text = _ARROW.sub(" to ", text)
    text = _AMPERSAND.sub(" and ", text)
    text = _PLUS_MINUS.sub(" plus or minus ", text)
    return _tidy(_drop_symbols(text))


def _range_words(match: re.Match[str]) -> str:
    unit = f" {_UNITS[match[3].lower()][1]}" if match[3] else ""
    return f"{match[1]} to {match[2]}{unit}"


def _unit_word(number: str, unit: str) -> str:
    singular, plural = _UNITS[unit.lower()]
    one = number == "1" or ("/" in number and int(number.split("/")[0]) < int(number.split("/")[1]))
    return singular if one else plural


def _fraction_words(match: re.Match[str]) -> str:
    top, bottom = int(match[1]), int(match[2])
    names = _DENOMINATORS.get(bottom)
    if names is None or top == 0:
        return f"{top} over {bottom}"
    return f"{_NUMERATORS[top]} {names[0] if top == 1 else names[1]}"


def _drop_symbols(text: str) -> str:
    """Emoji, pictographs and decorative marks say nothing (espeak would name them)."""
    kept = []
    for ch in text:
        if ch in _DROP_ALWAYS or ch in _DROP_ASCII:
            kept.append(" ")
            continue
        category = unicodedata.category(ch)
        if category in ("So", "Sk", "Sm", "Co", "Cs", "Cn") and ch not in "+%":
            kept.append(" ")
            continue
        kept.append(ch)
    return "".join(kept)


_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)])")
_EMPTY_PARENS = re.compile(r"\(\s*\)")


def _tidy(text: str) -> str:
    text = _EMPTY_PARENS.sub(" ", text)
    text = " ".join(text.split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)
