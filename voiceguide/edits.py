"""Changes to a running session, as pure functions from script to script.

The live player never patches audio: a key press becomes a new script (more
time on this step, an instruction said again) and the mixer makes whatever
comes next from it. Everything before the playhead stays as it was, so the
change is heard only from the next block on.
"""

from __future__ import annotations

from dataclasses import replace

from voiceguide.compiler import MIN_GAP
from voiceguide.script import Cue, Script

#: A step shortened with "-" keeps at least this much time after the playhead.
MIN_LEFT = 5.0


def step_at(script: Script, t: float) -> int | None:
    """Index of the step playing at ``t`` (None in the intro or the closing)."""
    for index, step in enumerate(script.steps):
        if step.start <= t < step.end:
            return index
    return None


def _busy_until(script: Script, t: float) -> float:
    """The end of whatever is being said at ``t`` (or ``t`` if nothing is)."""
    for cue in script.cues:
        if cue.at <= t < cue.end:
            return cue.end
    return t


def insert_time(script: Script, at: float, seconds: float) -> Script:
    """Open ``seconds`` of extra time at ``at``: everything later moves on by that much."""

    def boundary(t: float) -> float:
        """Span edges after ``at`` move; the span holding ``at`` grows (tiling is kept)."""
        return t + seconds if t > at else t

    cues = tuple(replace(c, at=c.at + seconds if c.at >= at else c.at) for c in script.cues)
    return replace(
        script,
        cues=cues,
        chapters=_moved(script.chapters, boundary),
        beds=_moved(script.beds, boundary),
        steps=_moved(script.steps, boundary, keep_empty=True),
        duration=script.duration + seconds,
        ticks=tuple(t + seconds if t >= at else t for t in script.ticks),
    )


def _moved(spans, move, keep_empty: bool = False):  # type: ignore[no-untyped-def]
    """Spans with both edges mapped by ``move``; chapters and beds must tile, so empties go."""
    moved = tuple(replace(s, start=move(s.start), end=move(s.end)) for s in spans)
    return moved if keep_empty else tuple(s for s in moved if s.end > s.start)


def remove_time(script: Script, at: float, seconds: float) -> Script:
    """Take ``seconds`` out from ``at`` on; what was to be said inside that span is dropped."""
    cut_end = at + seconds
    kept = [c for c in script.cues if not at <= c.at < cut_end]

    def move(t: float) -> float:
        if t >= cut_end:
            return t - seconds
        return min(t, at)

    return replace(
        script,
        cues=tuple(replace(c, at=move(c.at)) for c in kept),
        chapters=_moved(script.chapters, move),
        beds=_moved(script.beds, move),
        steps=_moved(script.steps, move, keep_empty=True),
        duration=script.duration - seconds,
        ticks=tuple(move(t) for t in script.ticks if not at <= t < cut_end),
    )


def extend_step(script: Script, t: float, seconds: float) -> tuple[Script, float]:
    """Add (or, negative, remove) time on the step playing at ``t``.

    Time is added after whatever is being said, so no sentence is cut; a
    step is never shortened to less than MIN_LEFT after the playhead.
    Returns the new script and the seconds actually changed.
    """
    index = step_at(script, t)
    if index is None:
        return script, 0.0
    at = _busy_until(script, t) + MIN_GAP
    step = script.steps[index]
    if seconds >= 0:
        return insert_time(script, min(at, step.end), seconds), seconds
    # Time comes off the side being worked now: the next side's switch, its
    # counts and the step's closing lines all stay.
    mine = [c for c in script.cues if c.step == index and c.at >= at]
    side_end = min((c.at for c in mine if c.kind == "side"), default=step.end)
    take = min(-seconds, side_end - max(at, t + MIN_LEFT))
    if take <= 0:
        return script, 0.0
    closing = [c.at for c in mine if c.kind in ("next", "time-left") and c.at < side_end]
    cut_at = max(at, min(closing, default=side_end) - take)
    return remove_time(script, cut_at, take), -take


def repeat_instruction(script: Script, t: float) -> tuple[Script, Cue | None]:
    """Say the current step's instruction again, right after what is being said now."""
    index = step_at(script, t)
    if index is None:
        return script, None
    instruction = next(
        (c for c in script.cues if c.step == index and c.kind == "instruction"), None
    )
    if instruction is None:
        return script, None
    at = _busy_until(script, t) + MIN_GAP
    opened = insert_time(script, at, instruction.length + 2 * MIN_GAP)
    again = replace(instruction, at=at + MIN_GAP)
    cues = tuple(sorted((*opened.cues, again), key=lambda c: c.at))
    return replace(opened, cues=cues), again
