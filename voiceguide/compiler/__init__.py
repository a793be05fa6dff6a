"""Routine + options -> timed script. Pure: no files, no audio, no clock.

Everything about *when* something is said lives here, so it can be tested in
microseconds and reasoned about without listening to anything. The parts:
``options`` (knobs and timing constants), ``steps`` (what a step says and
needs), ``planner`` (the walk), ``added`` (lines added where there is room),
``fit`` (meeting --length honestly) and ``layout`` (real speech lengths).
"""

from __future__ import annotations

from dataclasses import replace

from voiceguide.compiler.fit import Kept, _fit_length, natural_range
from voiceguide.compiler.layout import layout
from voiceguide.compiler.options import (
    CAUTION_STEPS,
    CHECK_IN_AFTER_WORK,
    CHECK_IN_NOT_BEFORE,
    CHIME_LEAD,
    FILL_AFTER,
    INTRO_GAP,
    LEAD_IN,
    MAX_SILENCE,
    MIN_COUNTED_REP,
    MIN_GAP,
    MIN_WORK,
    OPENING_BUDGET,
    OPTIONAL_GAP,
    REMINDER_SLACK,
    REP_LEAD,
    SETTLE,
    STRETCH_LIMIT,
    TAIL,
    Detail,
    Options,
)
from voiceguide.compiler.planner import _Plan, _Planner
from voiceguide.compiler.steps import instruction_text, located
from voiceguide.routine import Routine
from voiceguide.script import Fit, Script


def compile(routine: Routine, options: Options | None = None) -> Script:
    """Plan the session: when every cue is said, the chapters and the beds."""
    options = options or Options()
    if options.length is None:
        plan = _Planner(routine, options, u=0.5, scale=1.0 / options.pace).run()
        return _script(routine, options, plan, fit=None)
    kept, u, scale, fit = _fit_length(routine, options)
    if options.pace != 1.0:
        fit = replace(fit, note=(fit.note + "; " if fit.note else "")
                      + "--pace has no effect with --length")  # fmt: skip
    plan = _Planner(kept.routine, options, u=u, scale=scale, honest=True).run()
    return replace(_script(kept.routine, options, plan, fit=fit), dropped=kept.dropped)


def _script(routine: Routine, options: Options, plan: _Plan, fit: Fit | None) -> Script:
    return Script(
        title=routine.title,
        duration=plan.duration,
        cues=tuple(plan.cues),
        chapters=tuple(plan.chapters),
        beds=tuple(plan.beds),
        steps=tuple(plan.steps),
        routine_id=routine.id,
        based_on=routine.based_on or None,
        fit=fit,
        options={
            "pace": options.pace,
            "length": options.length,
            "wpm": options.wpm,
            "counting": options.counting,
            "check_in": options.check_in,
            "detail": options.detail,
            "ambience": options.ambience,
            "tempo": options.tempo,
        },
        warnings=tuple(plan.warnings) + ((fit.note,) if fit and fit.note else ()),
        checklist=tuple(plan.checklist),
        ticks=tuple(plan.ticks),
    )


__all__ = [
    "CAUTION_STEPS",
    "CHECK_IN_AFTER_WORK",
    "CHECK_IN_NOT_BEFORE",
    "CHIME_LEAD",
    "FILL_AFTER",
    "INTRO_GAP",
    "LEAD_IN",
    "MAX_SILENCE",
    "MIN_COUNTED_REP",
    "MIN_GAP",
    "MIN_WORK",
    "OPENING_BUDGET",
    "OPTIONAL_GAP",
    "REMINDER_SLACK",
    "REP_LEAD",
    "SETTLE",
    "STRETCH_LIMIT",
    "TAIL",
    "Detail",
    "Kept",
    "Options",
    "_fit_length",
    "compile",
    "instruction_text",
    "layout",
    "located",
    "natural_range",
]
