"""What a step says and needs: its instruction, its counts, how far it may shrink.

Shared by the planner and the length fitting, so both measure a step the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from voiceguide import guidance
from voiceguide import narration as say
from voiceguide.compiler.options import CHIME_LEAD, MIN_COUNTED_REP, MIN_GAP, MIN_WORK, Options
from voiceguide.routine import Step


def _count_need(reps: int, options: Options) -> float:
    """The shortest repetition that leaves room to say any of its counts."""
    longest = max(
        (
            say.estimate_seconds(say.count_line(n, n), options.wpm, options.timing)
            for n in range(1, reps + 1)
        ),
        default=0.0,
    )
    return max(MIN_COUNTED_REP, longest + MIN_GAP)


def _counting(step: Step, options: Options) -> bool:
    if step.reps is None:
        return False
    return step.count if options.counting is None else options.counting


def _floor_scale(step: Step, options: Options) -> float:
    """The least a step's working time may be scaled by --length: its ``shrink``
    (1 without one), and never so far that its own words no longer fit. Where the
    words need more than the routine wrote (a slow rate, detailed narration), the
    floor is above 1: fitting lengthens the step rather than planning it too short."""
    floor = min(step.shrink, 1.0) if step.shrink is not None else 1.0
    if step.duration is not None and not step.is_pause and step.duration.lo > 0:
        floor = max(floor, _step_speech_need(step, options) / step.duration.lo)
    return floor


def _countable_reps(wanted: int, written: int, per_rep: float, options: Options) -> int:
    """At most ``wanted`` repetitions, but no more added beyond ``written`` than can
    still be counted aloud at ``per_rep`` (higher numbers take longer to say)."""
    n = wanted
    while n > written and per_rep < _count_need(n, options) - 1e-9:
        n -= 1
    return n


def _hands_on(step: Step) -> bool:
    return guidance.hands_on(
        step.technique, step.pressure, step.area, step.reps is not None, step.say
    )


def _sentences(lines: Sequence[str]) -> list[str]:
    """Each line split into sentences, so each can be its own cue with a breath between."""
    out = []
    for line in lines:
        out += [part for part in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'“])", line) if part]
    return out


def located(step: Step) -> str:
    """``file:line:col: steps[3] (Title)``: where a message about a step points."""
    where = f"{step.origin}: " if step.origin else ""
    return f"{where}{step.path} ({step.title})"


def _bed(name: str | None) -> str | None:
    """A bed name as the script holds it: None is silence."""
    return None if name is None or name.lower() == "none" else name


def instruction_text(step: Step, options: Options, reps: int) -> str:
    """What is said as a step begins, at the chosen level of detail."""
    parts = [step.say]
    if options.detail == "detailed":
        detail = guidance.detail_line(step.technique, step.pressure, step.area, step.say)
        if detail:
            parts.append(detail)
    counting = _counting(step, options)
    if reps and (options.detail != "minimal" or counting):  # counts need announcing
        parts.append(say.reps_line(reps, counting))
    if step.sides:
        parts.append(say.first_side_line(step.sides[0]))
    return " ".join(parts)


def _step_speech_need(step: Step, options: Options) -> float:
    """Seconds a duration step needs on each side for its own speech plus a little work."""
    text = instruction_text(step, options, 0)
    need = CHIME_LEAD + say.estimate_seconds(text, options.wpm, options.timing) + MIN_GAP + MIN_WORK
    if step.caution:
        need += say.estimate_seconds(step.caution, options.wpm, options.timing) + MIN_GAP
    if step.wait:
        need += say.estimate_seconds(say.wait_line(), options.wpm, options.timing) + MIN_GAP
    switch = max(
        (
            say.estimate_seconds(
                say.side_switch_line(s, len(step.sides)), options.wpm, options.timing
            )
            for s in step.sides
        ),
        default=0.0,
    )
    return max(need, switch + MIN_GAP + MIN_WORK)
