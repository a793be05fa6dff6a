"""How a session feels to follow: how much is said, the longest quiet, how often.

Pure arithmetic on a Script, so ``show`` can print it and tests can hold the
compiler to it (no stretch of bed alone over 90 s outside pauses and quiet steps).
"""

from __future__ import annotations

from dataclasses import dataclass

from voiceguide.script import Script
from voiceguide.times import format_clock, format_duration


@dataclass(frozen=True)
class Pacing:
    talk_share: float  # fraction of the session with speech
    longest_silence: float  # seconds of bed alone, pauses and quiet steps not counted
    longest_at: float  # where that stretch begins
    cues_per_minute: float


def pacing(script: Script) -> Pacing:
    """Measure a script (planned or laid out with real speech lengths)."""
    spans = sorted((c.at, c.end) for c in script.cues if c.text)
    merged: list[list[float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    talk = sum(end - start for start, end in merged)
    exempt = [(s.start, s.end) for s in script.steps if s.pause or s.quiet]
    longest, longest_at = 0.0, 0.0
    edges = [0.0] + [x for span in merged for x in span] + [script.duration]
    for quiet_from, quiet_to in zip(edges[::2], edges[1::2], strict=True):
        gap = quiet_to - quiet_from
        gap -= sum(max(0.0, min(b, quiet_to) - max(a, quiet_from)) for a, b in exempt)
        if gap > longest:
            longest, longest_at = gap, quiet_from
    minutes = script.duration / 60 if script.duration > 0 else 1.0
    return Pacing(
        talk_share=talk / script.duration if script.duration > 0 else 0.0,
        longest_silence=longest,
        longest_at=longest_at,
        cues_per_minute=len(spans) / minutes,
    )


def pacing_line(script: Script) -> str:
    """One line for ``show``: talk share, longest silence (and where), cues per minute."""
    p = pacing(script)
    where = next(
        (s.title for s in script.steps if s.start <= p.longest_at < s.end),
        "the opening" if p.longest_at < (script.steps[0].start if script.steps else 0) else "",
    )
    at = f" at {format_clock(p.longest_at)}" + (f" in {where}" if where else "")
    return (
        f"pacing: talk {p.talk_share:.0%} of the time, longest silence "
        f"{format_duration(round(p.longest_silence))}{at} (pauses and quiet steps aside), "
        f"{p.cues_per_minute:.1f} cues a minute"
    )
