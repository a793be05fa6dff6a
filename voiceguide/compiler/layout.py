"""Re-timing a script with the real speech lengths, after synthesis."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from voiceguide.compiler.options import MIN_GAP
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
    for cue, length in zip(cues, real, strict=True):
        at = max(cue.at, prev_end + MIN_GAP) if prev_end > cue.at - MIN_GAP else cue.at
        moved.append(replace(cue, at=at, length=length))
        prev_end = at + length
    shifts = [(c.at, m.at - c.at) for c, m in zip(cues, moved, strict=True)]
    duration = script.duration + (shifts[-1][1] if shifts else 0.0)
    if moved:
        duration = max(duration, moved[-1].end + MIN_GAP)

    def shifted(t: float) -> float:
        """A boundary moves with the first cue at or after it."""
        for planned, delta in shifts:
            if planned >= t:
                return t + delta
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
