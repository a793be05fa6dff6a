"""Parsing and printing the times people write in routines.

Massage guides say "3-5 minutes" and "repeat 3-4 times", so every time and
count may be a range; resolving a range is the compiler's job, not ours.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MAX_SECONDS = 8 * 3600

_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Range:
    """A closed interval; ``lo == hi`` for a plain value."""

    lo: float
    hi: float

    def at(self, u: float) -> float:
        """The value a fraction ``u`` (0..1) of the way from ``lo`` to ``hi``."""
        return self.lo + (self.hi - self.lo) * u

    @property
    def fixed(self) -> bool:
        return self.lo == self.hi

    def __str__(self) -> str:
        if self.fixed:
            return format_duration(self.lo)
        return f"{format_duration(self.lo)}..{format_duration(self.hi)}"


def parse_seconds(value: object) -> float:
    """``45``, ``"45s"``, ``"2m"``, ``"1m30s"``, ``"1.5m"``, ``"1h"`` -> seconds.

    Raises ValueError with a message fit to show a user.
    """
    if isinstance(value, bool):
        raise ValueError(_TIME_HINT)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if text.startswith("-"):
            raise ValueError("a time must be zero or more")
        if _NUMBER.fullmatch(text):
            seconds = float(text)
        else:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(_TIME_HINT)
            units = [u for _, u in parts]
            if len(set(units)) != len(units) or units != sorted(units, key="hms".index):
                raise ValueError(_TIME_HINT)
            seconds = sum(float(n) * _UNIT[u] for n, u in parts)
    else:
        raise ValueError(_TIME_HINT)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a time must be zero or more")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{format_duration(seconds)} is over the 8 hour limit")
    return seconds


_TIME_HINT = 'expected a time like "45s", "2m" or "1m30s"'


def parse_time_range(value: object) -> Range:
    """A time or a range of times ``"2m..3m"``."""
    if isinstance(value, str) and ".." in value:
        lo_text, _, hi_text = value.partition("..")
        lo, hi = parse_seconds(lo_text), parse_seconds(hi_text)
        if lo > hi:
            raise ValueError(f"range {value!r} runs backwards: write the smaller end first")
        return Range(lo, hi)
    seconds = parse_seconds(value)
    return Range(seconds, seconds)


def parse_count_range(value: object) -> Range:
    """A whole number or a range of whole numbers ``"3..4"``; at least 1."""
    hint = 'expected a whole number like 3 or a range like "3..5"'
    if isinstance(value, bool):
        raise ValueError(hint)
    if isinstance(value, int):
        lo = hi = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+\s*(\.\.\s*\d+\s*)?", value):
        lo_text, _, hi_text = value.partition("..")
        lo = int(lo_text)
        hi = int(hi_text) if hi_text else lo
    else:
        raise ValueError(hint)
    if lo < 1:
        raise ValueError("repetitions must be at least 1")
    if lo > hi:
        raise ValueError(f"range {value!r} runs backwards: write the smaller end first")
    if hi > 1000:
        raise ValueError("more than 1000 repetitions is surely a typo")
    return Range(float(lo), float(hi))


def format_duration(seconds: float) -> str:
    """Compact, round-trippable: ``90`` -> ``"1m30s"``, ``2.5`` -> ``"2.5s"``."""
    seconds = round(seconds, 1)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{int(hours)}h"
    if minutes:
        out += f"{int(minutes)}m"
    if secs or not out:
        out += f"{secs:g}s" if secs != int(secs) else f"{int(secs)}s"
    return out


def format_clock(seconds: float) -> str:
    """``"mm:ss"`` (or ``"h:mm:ss"``) for displays and listings."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"
