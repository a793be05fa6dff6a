"""Re-timing a script with the real speech lengths, after synthesis."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from voiceguide.compiler.options import INTRO_GAP, MIN_GAP
from voiceguide.script import Cue, Script


def layout(script: Script, lengths: Mapping[str, float] | Sequence[float]) -> Script:
    """Re-time a script with the real speech lengths.

    A cue moves only if it would now overlap the one before it, and only
    later; order is kept and no speech is cut. Chapters, steps and beds move
    with the first cue they hold, and the session grows by whatever the last
    cue moved.
    """
    cues = script.cues
    real = [
        lengths[i] if isinstance(lengths, Sequence) else lengths[c.text]  # type: ignore[index]
        for i, c in enumerate(cues)
    ]
    moved: list[Cue] = []
    prev_end = -math.inf
    prev_kind = ""
    for cue, length in zip(cues, real, strict=True):
        # the opening's sentences keep their breath between them
        gap = INTRO_GAP if cue.kind == prev_kind == "intro" else MIN_GAP
        at = max(cue.at, prev_end + gap) if prev_end > cue.at - gap else cue.at
        moved.append(replace(cue, at=at, length=length))
        prev_end, prev_kind = at + length, cue.kind
    shifts = [(c.at, m.at - c.at) for c, m in zip(cues, moved, strict=True)]
    duration = script.duration + (shifts[-1][1] if shifts else 0.0)
    if moved:
        duration = max(duration, moved[-1].end + MIN_GAP)

    planned = [p for p, _ in shifts]

    def shifted(t: float) -> float:
        """A boundary moves with the first cue at or after it."""
        i = bisect.bisect_left(planned, t)
        if i < len(shifts):
            return t + shifts[i][1]
        return t + (shifts[-1][1] if shifts else 0.0)

    chapters = _retime(script.chapters, shifted, duration)
    beds = _retime(script.beds, shifted, duration)
    steps = tuple(replace(s, start=shifted(s.start), end=shifted(s.end)) for s in script.steps)
    ticks = tuple(round(shifted(t), 3) for t in script.ticks)
    return replace(
        script, cues=tuple(moved), chapters=chapters, beds=beds, steps=steps, duration=duration,
        ticks=ticks,
    )  # fmt: skip


def _retime(spans, shifted, duration: float):  # type: ignore[no-untyped-def]
    """Move span starts; each span ends where the next begins, the last at the end."""
    if not spans:
        return ()
    starts = [0.0 if i == 0 else max(shifted(s.start), 0.0) for i, s in enumerate(spans)]
    for i in range(1, len(starts)):
        starts[i] = max(starts[i], starts[i - 1])
    ends = [*starts[1:], duration]
    return tuple(replace(s, start=a, end=b) for s, a, b in zip(spans, starts, ends, strict=True))
