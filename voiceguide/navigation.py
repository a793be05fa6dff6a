"""Where a session is, in the terms a giver thinks in: step, side, repetition.

Pure functions over a :class:`Script` (no audio, no clock), so the player's
next/back keys, the screen and resume points all agree on what "this side"
or "the step before" means. A two-sided step is two segments: the first
starts with the step, each later one at its spoken side switch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from voiceguide.edits import step_at
from voiceguide.screen import View
from voiceguide.script import Script

#: A second "back" within this long of a segment's start goes to the one before.
BACK_AGAIN = 3.0
#: "Next" skips a segment that starts within this long after the playhead.
NEXT_SLACK = 0.5


@dataclass(frozen=True)
class Segment:
    """One pass of a step: the whole step, or one of its sides."""

    step: int
    side: str | None
    start: float
    end: float


def segments(script: Script) -> list[Segment]:
    """Every step's segments in order (pauses are one segment each)."""
    out: list[Segment] = []
    for index, step in enumerate(script.steps):
        switches = sorted(
            (c.at, c.side) for c in script.cues if c.step == index and c.kind == "side"
        )
        first = step.sides[0] if step.sides else None
        starts = [(step.start, first)]
        for at, side in switches:
            if at > step.start and side != starts[-1][1]:  # a recap names the side it is on
                starts.append((at, side))
        for k, (start, side) in enumerate(starts):
            end = starts[k + 1][0] if k + 1 < len(starts) else step.end
            out.append(Segment(index, side, start, end))
    return out


def segment_at(script: Script, t: float) -> Segment | None:
    for segment in segments(script):
        if segment.start <= t < segment.end:
            return segment
    return None


def next_target(script: Script, t: float, whole_steps: bool = False) -> Segment | None:
    """The next side (or, with ``whole_steps``, the next step) after ``t``."""
    current = step_at(script, t)
    for segment in segments(script):
        if segment.start <= t + NEXT_SLACK:
            continue
        if whole_steps and current is not None and segment.step == current:
            continue
        if whole_steps and segment.start != script.steps[segment.step].start:
            continue
        return segment
    return None


def back_target(script: Script, t: float, whole_steps: bool = False) -> Segment | None:
    """The start of this side (step); within BACK_AGAIN of it, the one before."""
    spans = segments(script)
    if whole_steps:
        spans = [s for s in spans if s.start == script.steps[s.step].start]
    before = [s for s in spans if s.start <= t]
    if not before:
        return None
    here = before[-1]
    if t - here.start < BACK_AGAIN and len(before) > 1:
        return before[-2]
    return here


def repetition(script: Script, t: float) -> tuple[int, int] | None:
    """("2", of "5") for a step counted in repetitions, from its count cues or its clock."""
    index = step_at(script, t)
    if index is None or not script.steps[index].reps:
        return None
    total = int(script.steps[index].reps or 0)
    segment = segment_at(script, t)
    if segment is None:
        return None
    mine = [c for c in script.cues if c.step == index and segment.start <= c.at < segment.end]
    counts = [c for c in mine if c.kind == "count"]
    if counts:  # counted from "one" or from "two": the uncounted ones come first
        done = sum(c.at <= t for c in counts) + total - len(counts)
        return min(total, max(1, done)), total
    talk = [c.end for c in mine if c.kind in ("instruction", "caution", "side")]
    work_start = max(talk, default=segment.start)
    per = (segment.end - work_start) / total if total else 0.0
    if per <= 0 or t < work_start:
        return 1, total
    return min(total, 1 + math.floor((t - work_start) / per)), total


def last_said(script: Script, t: float) -> str:
    """The reminder or caution said most recently in this step (what to keep in mind)."""
    index = step_at(script, t)
    said = [
        c.text
        for c in script.cues
        if c.at <= t and c.kind in ("reminder", "caution", "check-in") and c.step == index
    ]
    if index is None:
        said = [c.text for c in script.cues if c.at <= t and c.kind == "caution" and c.step is None]
    return said[-1] if said else ""


def view_at(  # type: ignore[no-untyped-def]
    script: Script, t: float, paused: bool, volume_db: float, message: str, **extra
) -> View:
    """What the screen shows at ``t`` seconds into ``script``."""
    index = step_at(script, t)
    steps = script.steps
    real = [i for i, s in enumerate(steps) if s.say]
    side = None
    if index is None:
        opening = bool(steps) and t < steps[0].start
        title = "Introduction" if opening else "Closing"
        left = (steps[0].start if opening else script.duration) - t
        instruction, detail, number = "", "", None
    else:
        step = steps[index]
        title, instruction = step.title, step.say
        pressure = f"{step.pressure} pressure" if step.pressure else None
        detail = " · ".join(x for x in (step.technique, pressure, step.area) if x)
        left = step.end - t
        number = real.index(index) + 1 if index in real else None
        segment = segment_at(script, t)
        side = segment.side if segment else None
    later = [s for s in segments(script) if s.start > t + 1e-6 and steps[s.step].say]
    following = None
    if later:
        following = steps[later[0].step].title
        if later[0].side and later[0].step == index:
            following = f"{following}, {later[0].side} side"
        elif later[0].side:
            following = f"{following} ({later[0].side} side first)"
    return View(
        title=title, step_number=number, step_count=len(real), instruction=instruction,
        detail=detail, step_left=max(0.0, left), elapsed=min(t, script.duration),
        duration=script.duration, next_title=following, paused=paused, volume_db=volume_db,
        message=message, side=side, repetition=repetition(script, t),
        said=last_said(script, t), **extra,
    )  # fmt: skip
