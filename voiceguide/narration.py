"""The words voiceguide adds around a routine's own lines, and how long they take.

Kept apart from the timing code so the phrasing can be tuned (or translated)
without touching when things are said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]  # fmt: skip
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_word(n: int) -> str:
    """English words for 0..999, which covers every count a massage needs."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    hundreds, rest = divmod(n, 100)
    return f"{_ONES[hundreds]} hundred" + (f" and {number_word(rest)}" if rest else "")


def count_line(n: int, total: int) -> str:
    """What is said as repetition ``n`` of ``total`` begins (from one)."""
    word = number_word(n).capitalize()
    if n == total and total >= 3:
        return f"{word}. Last one."
    return f"{word}."


def reps_line(reps: int, counting: bool) -> str:
    times = {1: "once", 2: "twice"}.get(reps, f"{number_word(reps)} times")
    return f"Do this {times}; I will count." if counting and reps > 1 else f"Do this {times}."


def first_side_line(side: str) -> str:
    return f"Start on the {side} side."


def side_switch_line(side: str, sides: int = 2) -> str:
    """ "The other side" only makes sense when there are two."""
    return f"Now the other side: the {side}." if sides == 2 else f"Now the {side} side."


def next_up_line(title: str) -> str:
    return f"Coming up next: {_lower_first(title)}."


def time_left_line(on_this_side: bool = False) -> str:
    return "About one minute left on this side." if on_this_side else "About one minute left."


def wait_line() -> str:
    """Said in a file where the live player would wait for a key."""
    return "Take the time you need; the guide goes on at the chime."


def halfway_line() -> str:
    return "Halfway there."


def detail_line(technique: str | None, pressure: str | None, area: str | None) -> str:
    """The extra sentence ``--detail detailed`` adds to an instruction."""
    parts = []
    if technique:
        parts.append(f"The technique is {technique}.")
    if pressure and area:
        parts.append(f"Use {pressure} pressure over the {area}.")
    elif pressure:
        parts.append(f"Use {pressure} pressure.")
    elif area:
        parts.append(f"Work over the {area}.")
    return " ".join(parts)


def _lower_first(title: str) -> str:
    """Lower-case a title's first word unless it looks like a name or acronym."""
    first, _, rest = title.partition(" ")
    if first[1:2].isupper():
        return title
    return first[:1].lower() + first[1:] + (f" {rest}" if rest else "")


# ---------------------------------------------------------------- estimates

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*")
_SENTENCE_END = re.compile(r"[.!?;:]+(?=\s|$)")
_COMMA = re.compile(r"[,–—]")


@dataclass(frozen=True)
class SpeechTiming:
    """How long an engine takes to say things at 150 words per minute, fitted to real clips.

    Letters, not words, drive the time ("effleurage" takes three times as
    long as "rub"); sentence ends and commas inside a clip add pauses (the
    last is trimmed). The compiler receives one through its options, so it
    stays pure: it never asks which engine will speak.

    ``pace_slope`` says how the spoken time follows the rate: the time at 150
    wpm is scaled by ``pace_slope * 150 / wpm + (1 - pace_slope)``. espeak
    follows ``150 / wpm`` (slope 1); Piper's length scale, mapped from the
    rate, changes the time a little faster than that (slope above 1).
    """

    per_letter: float
    sentence_pause: float
    comma_pause: float
    per_clip: float
    per_word: float = 0.0
    pace_slope: float = 1.0


#: espeak-ng through pyttsx3: fitted (least squares) to 747 real clips of the built-in
#: routines at 120, 150 and 180 wpm, trimmed as the mixer uses them. Median error per cue 3 %,
#: 99 % of cues within 15 % (docs/benchmarks.md).
ESPEAK_TIMING = SpeechTiming(0.0697, 0.46, 0.37, 0.17)
#: Piper's joe voice (neural): fitted to its real clips of the 202 built-in lines at 120, 150
#: and 180 wpm together, as made since long sentences go in clauses (a per-word term and the
#: rate slope added; the fit maximizes the share of lines within 15 % at the worst rate):
#: 97.0 / 96.0 / 97.5 % of lines within 15 %, median error 4-5 % (scripts/bench.py --speech;
#: docs/benchmarks.md).
PIPER_TIMING = SpeechTiming(0.0462, 0.535, 0.330, 0.133, per_word=0.095, pace_slope=1.14)
#: By engine name; an engine missing here is planned with espeak's timing.
TIMINGS = {"pyttsx3": ESPEAK_TIMING, "piper": PIPER_TIMING}

# Kept for readers of the old constants (bench, player).
SECONDS_PER_LETTER_AT_150WPM = ESPEAK_TIMING.per_letter
SENTENCE_PAUSE_AT_150WPM = ESPEAK_TIMING.sentence_pause
COMMA_PAUSE_AT_150WPM = ESPEAK_TIMING.comma_pause
PER_CLIP = ESPEAK_TIMING.per_clip


def estimate_seconds(text: str, wpm: float, timing: SpeechTiming = ESPEAK_TIMING) -> float:
    """How long the voice takes to say ``text`` at ``wpm`` words per minute.

    The compiler plans with this; the layout pass later replaces it with the
    real clip length, so it only has to be close.
    """
    words = _WORD.findall(text)
    if not words:
        return 0.0
    letters = sum(len(w) for w in words)
    inner_ends = max(0, len(_SENTENCE_END.findall(text)) - 1)
    commas = len(_COMMA.findall(text))
    spoken = (
        letters * timing.per_letter
        + len(words) * timing.per_word
        + inner_ends * timing.sentence_pause
        + commas * timing.comma_pause
    )
    pace = timing.pace_slope * 150.0 / wpm + (1.0 - timing.pace_slope)
    return spoken * pace + timing.per_clip
