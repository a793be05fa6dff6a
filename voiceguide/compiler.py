"""Routine + options -> timed script. Pure: no files, no audio, no clock.

Everything about *when* something is said lives here, so it can be tested in
microseconds and reasoned about without listening to anything.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from voiceguide import guidance
from voiceguide import narration as say
from voiceguide.errors import CompileError
from voiceguide.routine import DEFAULT_CHECK_IN, Routine, Step, StepCue
from voiceguide.script import BedSpan, Chapter, Cue, Fit, Script, StepInfo
from voiceguide.times import format_duration

Detail = Literal["minimal", "normal", "detailed"]

#: Silence kept between two cues so speech never runs together.
MIN_GAP = 0.5
#: Optional lines (next-up, time-left, check-ins, reminders) keep this much
#: quiet around them, so they never crowd a count or an instruction.
OPTIONAL_GAP = 1.5
#: Bed alone before the first word, and after the last, for the fades.
LEAD_IN = 2.0
TAIL = 6.0
#: From a step's start (where the chime sounds) to its instruction.
CHIME_LEAD = 1.5
#: Settling time after the intro and before the hands start a repetition.
SETTLE = 2.0
REP_LEAD = 1.0
#: The least working time a duration step must keep after its own speech.
MIN_WORK = 3.0
#: The shortest repetition we will count aloud.
MIN_COUNTED_REP = 1.5
#: How far --length may stretch working times (never below 1: see ``Step.shrink``).
STRETCH_LIMIT = 3.0
#: A reminder may slide this far from where it was asked for.
REMINDER_SLACK = 20.0
#: The hands get their first instruction within this long of the first word.
OPENING_BUDGET = 20.0
#: Quiet kept between the opening's sentences.
INTRO_GAP = 1.5
#: Working time outside pauses and quiet steps never goes longer than this
#: without a word; guidance lines are placed when the quiet reaches FILL_AFTER.
MAX_SILENCE = 90.0
FILL_AFTER = 60.0
#: Check-ins wait until the hands have worked this long in a step, and never
#: come in the session's first working minute.
CHECK_IN_AFTER_WORK = 45.0
CHECK_IN_NOT_BEFORE = 60.0
#: Routine cautions are said in the first few hands-on steps, or not at all.
CAUTION_STEPS = 3


@dataclass(frozen=True)
class Options:
    """How to turn a routine into a session.

    ``pace`` is a tempo: 1 is the routine as written, 0.8 is 20 % slower
    (every working time and settling gap lasts 1/0.8 as long). ``length``
    overrides pace: ranges and working times are fitted to it, never below
    what the routine allows. ``tempo`` plans a soft tick at each step's stroke rate.
    """

    pace: float = 1.0
    length: float | None = None
    wpm: float = 150.0
    counting: bool | None = None  # None: each step's own `count`
    check_in: float | None = None  # None: the routine's; 0: off
    detail: Detail = "normal"
    ambience: str | None = None  # overrides every bed in the routine; "none" for silence
    tempo: bool = False

    def __post_init__(self) -> None:
        if not 0.25 <= self.pace <= 4.0:
            raise CompileError(f"pace {self.pace:g} is out of range (0.25 to 4)")
        if self.length is not None and not 60 <= self.length <= 8 * 3600:
            raise CompileError("--length must be between 1 minute and 8 hours")
        if not 80 <= self.wpm <= 300:
            raise CompileError(f"speech rate {self.wpm:g} wpm is out of range (80 to 300)")
        if self.check_in is not None and 0 < self.check_in < 60:
            raise CompileError("check in at most once a minute")


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


def natural_range(routine: Routine, options: Options | None = None) -> tuple[float, float]:
    """The honest session lengths: shortest with optional steps left out and every
    ``shrink`` used, longest with every range at its top, nothing stretched."""
    options = options or Options()
    essential = _without(routine, {i for i, s in enumerate(routine.steps) if s.optional})
    lo = _duration(essential, options, 0.0, 0.0)
    hi = _duration(routine, options, 1.0, 1.0)
    return lo, hi


# ---------------------------------------------------------------- fitting


def _duration(routine: Routine, options: Options, u: float, scale: float) -> float:
    return _Planner(routine, options, u=u, scale=scale, honest=True, skeleton=True).run().duration


def _without(routine: Routine, drop: set[int]) -> Routine:
    """The routine minus some steps (at least one step always stays)."""
    steps = tuple(s for i, s in enumerate(routine.steps) if i not in drop)
    return replace(routine, steps=steps or routine.steps[:1])


@dataclass(frozen=True)
class Kept:
    """The routine --length runs, and the titles of the optional steps left out."""

    routine: Routine
    dropped: tuple[str, ...] = ()


def _fit_length(routine: Routine, options: Options) -> tuple[Kept, float, float, Fit]:
    """Meet ``--length`` honestly: the routine that runs, range position ``u`` and scale.

    In order: ranges move between their ends; optional steps are left out
    (last first) while even the low ends are too long; then steps with
    ``shrink`` shorten down to their factor. Nothing else goes below what the
    routine wrote. Longer targets stretch working times (reps by adding
    repetitions) up to STRETCH_LIMIT.
    """
    target = float(options.length or 0)
    optional = [i for i, s in enumerate(routine.steps) if s.optional]
    drop: set[int] = set()
    kept = routine
    while (
        optional
        and len(drop) + 1 < len(routine.steps)
        and _duration(kept, options, 0.0, 1.0) > target
    ):
        drop.add(optional.pop())
        kept = _without(routine, drop)

    def duration(u: float, scale: float) -> float:
        return _duration(kept, options, u, scale)

    if duration(0.0, 1.0) <= target <= duration(1.0, 1.0):
        u, scale = _bisect(lambda x: duration(x, 1.0), 0.0, 1.0, target), 1.0
    elif target > duration(1.0, 1.0):
        u, scale = 1.0, _bisect(lambda s: duration(1.0, s), 1.0, STRETCH_LIMIT, target)
    else:
        u, scale = 0.0, _bisect(lambda s: duration(0.0, s), 0.0, 1.0, target)
    achieved = duration(u, scale)
    ok = abs(achieved - target) <= 0.02 * target
    notes = []
    if drop:
        names = ", ".join(f"'{routine.steps[i].title}'" for i in sorted(drop))
        notes.append(f"left out the optional {'step' if len(drop) == 1 else 'steps'} {names}")
    if not ok:
        notes.append(_fit_note(target, achieved, kept, options, u, scale))
    fit = Fit(target=target, achieved=achieved, ok=ok, note="; ".join(notes))
    dropped = tuple(routine.steps[i].title for i in sorted(drop))
    return Kept(kept, dropped), u, scale, fit


def _fit_note(
    target: float, achieved: float, kept: Routine, options: Options, u: float, scale: float
) -> str:
    """One honest line: the nearest length, and what would have to go to get closer."""
    head = f"cannot fit {format_duration(target)}"
    if achieved < target:
        if scale >= STRETCH_LIMIT - 1e-6:
            return (
                f"{head}: the longest this routine can run is {format_duration(achieved)} "
                f"(working times at most {STRETCH_LIMIT:g} times as long); using that"
            )
        return f"{head}: the nearest is {format_duration(achieved)} (whole repetitions); using that"
    if u > 0.0 or scale > 0.0:
        return f"{head}: the nearest is {format_duration(achieved)} (whole repetitions); using that"
    hint = _what_to_drop(kept, options, target)
    return (
        f"{head}: the shortest this routine can honestly run is {format_duration(achieved)}; "
        f"using that. {hint}"
    )


def _what_to_drop(kept: Routine, options: Options, target: float) -> str:
    """Name the shortest step whose removal would make the target reachable."""
    fits = []
    for i, step in enumerate(kept.steps):
        if len(kept.steps) > 1 and _duration(_without(kept, {i}), options, 0.0, 0.0) <= target:
            fits.append((i, step))
    if not fits:
        return "To go shorter, mark steps optional: true or give them shrink."
    shortest = min(fits, key=lambda item: _duration(_without(kept, {item[0]}), options, 0, 0) * -1)
    return f"Leaving out '{shortest[1].title}' would fit (mark it optional: true)."


def _bisect(f, lo: float, hi: float, target: float, iterations: int = 30) -> float:  # type: ignore[no-untyped-def]
    """The x in [lo, hi] where the non-decreasing f(x) comes closest to target."""
    if f(lo) >= target:
        return lo
    if f(hi) <= target:
        return hi
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return lo if abs(f(lo) - target) <= abs(f(hi) - target) else hi


def _count_need(reps: int, options: Options) -> float:
    """The shortest repetition that leaves room to say any of its counts."""
    longest = max(
        (say.estimate_seconds(say.count_line(n, n), options.wpm) for n in range(1, reps + 1)),
        default=0.0,
    )
    return max(MIN_COUNTED_REP, longest + MIN_GAP)


def _counting(step: Step, options: Options) -> bool:
    if step.reps is None:
        return False
    return step.count if options.counting is None else options.counting


def _floor_scale(step: Step, options: Options) -> float:
    """The least a step's working time may be scaled by --length: its ``shrink``
    (1 without one), and never so far that its own words no longer fit."""
    floor = step.shrink if step.shrink is not None else 1.0
    if step.duration is not None and not step.is_pause:
        floor = max(floor, _step_speech_need(step, options) / step.duration.lo)
    return min(floor, 1.0) if step.shrink is not None else 1.0


# ---------------------------------------------------------------- planning


@dataclass
class _Plan:
    cues: list[Cue]
    chapters: list[Chapter]
    beds: list[BedSpan]
    steps: list[StepInfo]
    duration: float
    warnings: list[str]
    checklist: list[str]
    ticks: list[float]


class _Timeline:
    """Busy spans of speech, kept sorted, so free slots can be found quickly."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.texts: list[str] = []

    def add(self, start: float, end: float, text: str = "") -> None:
        i = bisect.bisect(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        self.texts.insert(i, text)

    def is_free(self, start: float, end: float, gap: float = MIN_GAP) -> bool:
        i = bisect.bisect(self.starts, end + gap)
        for j in range(i - 1, -1, -1):
            if self.ends[j] + gap <= start:
                # spans are disjoint, so once one ends early enough all before it do
                return True
            if self.starts[j] < end + gap:
                return False
        return True

    def find(
        self, earliest: float, latest_end: float, length: float, gap: float = MIN_GAP
    ) -> float | None:
        """The first start >= earliest where ``length`` of speech fits before latest_end."""
        t = earliest
        while t + length <= latest_end:
            if self.is_free(t, t + length, gap):
                return t
            # spans are disjoint and sorted, so the last one starting before our
            # end is the one that ends latest: jump past it
            i = bisect.bisect(self.starts, t + length + gap)
            t = self.ends[i - 1] + gap
        return None


#: Where a check-in may go: earliest, latest end, step, side, medium-or-firm.
_Window = tuple[float, float, int, str | None, bool]


class _Planner:
    """Lays out one session for a given range position ``u`` and ``scale``.

    ``honest`` (fitting --length): ``scale`` below 1 only shortens steps that
    allow it (``shrink``), repetitions are added or removed rather than made
    faster or slower, and settling gaps keep their length. Otherwise ``scale``
    is the tempo (1 / pace) and applies to everything. With ``skeleton`` the
    optional cues are skipped: only the duration matters while fitting, and it
    is identical either way.
    """

    def __init__(
        self,
        routine: Routine,
        options: Options,
        u: float,
        scale: float,
        skeleton: bool = False,
        honest: bool = False,
    ) -> None:
        self.routine = routine
        self.options = options
        self.u = u
        self.scale = scale
        self.skeleton = skeleton
        self.honest = honest
        self.cues: list[Cue] = []
        self.timeline = _Timeline()
        self.warnings: list[str] = []
        self.step_spans: list[tuple[float, float]] = []
        # step, start, end, side, and where the hands start working (after the speech)
        self.segments: list[tuple[int, float, float, str | None, float]] = []
        self.work: float | None = None  # the current step's working time per side
        self.checklist: list[str] = list(routine.preparation)
        self.exempt: list[tuple[float, float]] = []
        self.step_beds = self._step_beds()

    # -- helpers

    def length(self, text: str) -> float:
        return say.estimate_seconds(text, self.options.wpm)

    def put(
        self, at: float, text: str, kind: str, step: int | None, side: str | None = None
    ) -> Cue:
        text = guidance.with_bed(text, self.bed_at(step))
        cue = Cue(at=at, text=text, kind=kind, step=step, length=self.length(text), side=side)
        if not text:  # a line about a bed that is not playing: nothing to say
            return replace(cue, length=-MIN_GAP)
        self.cues.append(cue)
        self.timeline.add(cue.at, cue.end, cue.text)
        return cue

    def place(
        self,
        earliest: float,
        latest_end: float,
        text: str,
        kind: str,
        step: int | None,
        side: str | None = None,
    ) -> Cue | None:
        text = guidance.with_bed(text, self.bed_at(step))
        if not text:
            return None
        start = self.timeline.find(earliest, latest_end, self.length(text), OPTIONAL_GAP)
        if start is None:
            return None
        return self.put(start, text, kind, step, side)

    def work_scale(self, step: Step) -> float:
        """How much this step's working time is scaled (see the class docstring)."""
        if not self.honest or self.scale >= 1.0:
            return self.scale
        return max(self.scale, _floor_scale(step, self.options))

    def gap_scale(self) -> float:
        return 1.0 if self.honest else self.scale

    # -- the walk

    def run(self) -> _Plan:
        t = self.opening()
        for index, step in enumerate(self.routine.steps):
            start = t
            t = self.pause(start, step) if step.is_pause else self.step(index, start, step)
            self.step_spans.append((start, t))
        outro_start = t
        for line in self.routine.outro:
            t = self.put(t, line, "outro", None).end + MIN_GAP
        duration = (t - MIN_GAP if self.routine.outro else t) + TAIL
        if not self.skeleton:
            self.optional_cues(outro_start)
        self.cues.sort(key=lambda c: c.at)
        return _Plan(
            cues=self.cues,
            chapters=self.chapters(outro_start, duration),
            beds=self.beds(duration),
            steps=self.step_infos(),
            duration=duration,
            warnings=self.warnings,
            checklist=self.checklist,
            ticks=self.ticks() if self.options.tempo and not self.skeleton else [],
        )

    def opening(self) -> float:
        """The intro, sentence by sentence, short enough that the hands start within
        OPENING_BUDGET of the first word; what does not fit joins the checklist.
        Routine cautions join the checklist too, and are said later, during work."""
        self.checklist += [c for c in self.routine.cautions if c not in self.checklist]
        latest_end = LEAD_IN + OPENING_BUDGET - CHIME_LEAD - SETTLE * self.gap_scale()
        t = LEAD_IN
        spoken = False
        moved = []
        for sentence in _sentences(self.routine.intro):
            if moved or t + self.length(sentence) > latest_end:
                moved.append(sentence)
                continue
            t = self.put(t, sentence, "intro", None).end + INTRO_GAP
            spoken = True
        if moved:
            self.checklist[len(self.routine.preparation) : len(self.routine.preparation)] = moved
            self.warnings.append(
                f"the intro is too long to start the hands within {OPENING_BUDGET:g}s; "
                f"{len(moved)} of its sentences moved to the checklist shown before the start"
            )
        return t - INTRO_GAP + SETTLE * self.gap_scale() if spoken else 0.0

    def pause(self, start: float, step: Step) -> float:
        assert step.pause is not None
        return start + step.pause.at(self.u) * self.work_scale(step)

    def step(self, index: int, start: float, step: Step) -> float:
        sides: Sequence[str | None] = step.sides or (None,)
        t = start
        self.work = None
        for number, side in enumerate(sides):
            t = self.segment(index, t, step, side, first=number == 0)
        return t

    def segment(self, index: int, start: float, step: Step, side: str | None, first: bool) -> float:
        """One pass of a step (one side): its speech, then the working time.

        Every side gets the working time the first side had, so the longer
        instruction at the start does not leave the first side short.
        """
        at = start + CHIME_LEAD if first else start
        if first:
            text = instruction_text(step, self.options, self.reps(step))
            at = self.put(at, text, "instruction", index, side).end + MIN_GAP
            if step.caution:
                at = self.put(at, step.caution, "caution", index, side).end + MIN_GAP
            if step.wait:  # a file cannot wait for a key: say so, and pause until the chime
                at = self.put(at, say.wait_line(), "wait", index, side).end + MIN_GAP
        else:
            assert side is not None
            line = say.side_switch_line(side, len(step.sides))
            at = self.put(at, line, "side", index, side).end + MIN_GAP
        speech_end = at - MIN_GAP
        if step.reps is not None:
            end = self.repetitions(index, speech_end, step, side)
        else:
            end = self.timed(index, start, speech_end, step, first)
        self.segments.append((index, start, end, side, speech_end))
        return end

    def reps(self, step: Step) -> int:
        """How many repetitions: the range's value, and with --length whole ones added
        (or, for a step that may shrink, taken away)."""
        assert step.reps is not None or step.duration is not None
        if step.reps is None:
            return 0
        n = step.reps.at(self.u)
        if self.honest and self.scale != 1.0:
            scaled = n * self.work_scale(step)
            return max(1, math.ceil(scaled - 1e-9) if scaled < n else math.floor(scaled + 0.5))
        return math.floor(n + 0.5)

    def repetitions(self, index: int, speech_end: float, step: Step, side: str | None) -> float:
        assert step.per_rep is not None
        per_rep = step.per_rep.at(self.u) * self.gap_scale()
        reps = self.reps(step)
        first_rep = speech_end + REP_LEAD * self.gap_scale()
        if _counting(step, self.options) and reps > 1:
            if per_rep < _count_need(reps, self.options) - 1e-9:  # fitted scales land on it
                raise CompileError(
                    f"{located(step)}: {per_rep:.1f}s a repetition is too quick to "
                    "count aloud; slow the pace or lengthen per_rep"
                )
            for n in range(1, reps + 1):
                self.put(
                    first_rep + (n - 1) * per_rep, say.count_line(n, reps), "count", index, side
                )
        return first_rep + reps * per_rep

    def timed(self, index: int, start: float, speech_end: float, step: Step, first: bool) -> float:
        assert step.duration is not None
        if not first and self.work is not None:
            return speech_end + self.work
        end = start + step.duration.at(self.u) * self.work_scale(step)
        if end - speech_end < MIN_WORK - 1e-9:
            need = speech_end - start + MIN_WORK
            raise CompileError(
                f"{located(step)}: {format_duration(end - start)} is too short for "
                f"what it says (about {format_duration(need)} with a few seconds of work); "
                "lengthen the step or say less"
            )
        self.work = end - speech_end
        return end

    # -- optional cues, placed only where there is room

    def optional_cues(self, outro_start: float) -> None:
        for index, start, end, side, _ in self.segments:
            step = self.routine.steps[index]
            self.reminders(index, start, end, step, side)
            if self.options.detail != "minimal" and not _counting(step, self.options):
                self.time_left(index, start, end, side)
        if self.options.detail != "minimal":
            self.next_ups()
        self.check_ins(outro_start)
        self.spread_cautions()
        self.fill_silences()

    def reminders(self, index: int, start: float, end: float, step: Step, side: str | None) -> None:
        cues = list(step.cues)
        if self.options.detail == "detailed" and end - start >= 120 and not cues:
            cues = [StepCue("half", say.halfway_line())]
        for cue in cues:
            if cue.at == "half":
                wanted = start + (end - start) / 2
            elif isinstance(cue.at, float) and cue.at < 0:
                wanted = end + cue.at * self.work_scale(step)
            else:
                wanted = start + float(cue.at) * self.work_scale(step)
            placed = self.place(
                max(start, wanted),
                min(end, wanted + REMINDER_SLACK),
                cue.say,
                "reminder",
                index,
                side,
            )
            if placed is None:
                placed = self.place(
                    max(start, wanted - REMINDER_SLACK), end, cue.say, "reminder", index, side
                )
            if placed is None:
                self.warnings.append(f"{located(step)}: no room for the reminder {cue.say!r}")

    def time_left(self, index: int, start: float, end: float, side: str | None) -> None:
        if end - start >= 150:
            sides = self.routine.steps[index].sides
            line = say.time_left_line(on_this_side=bool(sides) and side != sides[-1])
            self.place(end - 60, end - 45, line, "time-left", index, side)

    def next_ups(self) -> None:
        real = [i for i, s in enumerate(self.routine.steps) if not s.is_pause]
        minimum = 20.0 if self.options.detail == "detailed" else 40.0
        for current, following in itertools.pairwise(real):
            start, end = self.step_spans[current]
            if end - start < minimum:
                continue
            line = say.next_up_line(self.routine.steps[following].title)
            length = self.length(line)
            self.place(end - length - 8.0, end - 1.0, line, "next", current)

    def check_ins(self, outro_start: float) -> None:
        """About every ``every`` seconds, where the receiver can judge the pressure:
        after CHECK_IN_AFTER_WORK of work in a step, not in the session's first
        working minute, not in pauses, quiet or waiting steps, nor in the closing
        light strokes; medium or firm steps preferred."""
        check_in = self.routine.check_in
        every = (
            self.options.check_in
            if self.options.check_in is not None
            else (check_in.every if check_in else 0)
        )
        if not every or not self.segments:
            return
        text = check_in.say if check_in else DEFAULT_CHECK_IN
        windows = self.check_in_windows(outro_start)
        last = self.segments[0][1]
        while True:
            wanted = last + every
            if wanted > outro_start:
                return
            best = _best_window(windows, wanted, every)
            if best is None:
                return
            lo, hi, index, side, _ = best
            placed = self.place(max(lo, min(wanted, hi)), hi, text, "check-in", index, side)
            if placed is None:
                placed = self.place(lo, hi, text, "check-in", index, side)
            if placed is None:
                windows.remove(best)
                continue
            last = placed.at
            windows = [w for w in windows if w[0] > last + every / 2]

    def check_in_windows(
        self, outro_start: float
    ) -> list[tuple[float, float, int, str | None, bool]]:
        """(earliest, latest end, step, side, firm) spans where a check-in may go."""
        hands = [seg for seg in self.segments if _hands_on(self.routine.steps[seg[0]])]
        if not hands:
            return []
        first_work = hands[0][4]
        closing = _closing_steps(self.routine)
        windows = []
        for index, _, end, side, work_start in hands:
            step = self.routine.steps[index]
            if step.quiet or step.wait or index in closing:
                continue
            lo = max(work_start + CHECK_IN_AFTER_WORK, first_work + CHECK_IN_NOT_BEFORE)
            hi = min(end - 3.0, outro_start - 5.0)
            if hi - lo > 4.0:
                firm = guidance.pressure_level(step.pressure) in ("medium", "firm")
                windows.append((lo, hi, index, side, firm))
        return windows

    def spread_cautions(self) -> None:
        """Routine cautions, said one by one early in the first hands-on steps (they
        are on the checklist too); any left by then stay on the checklist only, since
        a caution late in the session comes too late."""
        pending = list(self.routine.cautions)
        hands = [seg for seg in self.segments if _hands_on(self.routine.steps[seg[0]])]
        for index, _, end, side, work_start in hands[:CAUTION_STEPS]:
            if not pending:
                return
            if self.routine.steps[index].quiet:
                continue
            if self.place(work_start + 3.0, end - 3.0, pending[0], "caution", index, side):
                pending.pop(0)

    def fill_silences(self) -> None:
        """No more than MAX_SILENCE of bed alone in working time: short guidance
        lines for the technique once the quiet reaches FILL_AFTER."""
        last_line: dict[int, str] = {}
        turn: dict[int, int] = {}
        # pause and quiet steps: their silence is asked for
        self.exempt = [span for span, step in zip(self.step_spans, self.routine.steps, strict=True)
                       if step.is_pause or step.quiet]  # fmt: skip
        for index, _, end, side, work_start in self.segments:
            step = self.routine.steps[index]
            if step.quiet:
                continue
            lines = guidance.pool(step.technique, step.say, step.pressure, _hands_on(step))
            t = work_start
            while (due := self.next_due(t)) < end - 4.0:
                text = self.next_line(lines, index, turn, last_line, due)
                latest = due + (MAX_SILENCE - FILL_AFTER) - 2.0
                following = self.following(due)
                placed = self.place(due, min(end, latest, following), text, "guidance",
                                    index, side)  # fmt: skip
                if placed is None and following < min(end, latest):
                    t = following  # that line breaks the quiet soon enough
                    continue
                if placed is None:
                    placed = self.place(max(work_start, due - 20.0), end, text, "guidance",
                                        index, side)  # fmt: skip
                if placed is None:
                    break
                last_line[index] = placed.text
                t = placed.end

    def next_due(self, t: float) -> float:
        """The first moment after ``t`` when the quiet (not counting pauses and
        quiet steps) has lasted FILL_AFTER."""
        starts, ends = self.timeline.starts, self.timeline.ends
        i = bisect.bisect_right(starts, t)
        quiet_from = max(ends[max(0, i - 4) : i], default=0.0)  # spans barely overlap
        while i < len(starts) and self.due_after(quiet_from) > starts[i]:
            quiet_from = max(quiet_from, ends[i])
            i += 1
        return self.due_after(quiet_from)

    def due_after(self, quiet_from: float) -> float:
        due = quiet_from + FILL_AFTER
        for _ in range(3):  # pause time does not count: push the due time past it
            skipped = sum(
                max(0.0, min(end, due) - max(start, quiet_from))
                for start, end in self.exempt
                if start < due and end > quiet_from
            )
            due = quiet_from + FILL_AFTER + skipped
        return due

    def following(self, t: float) -> float:
        """Where the first speech at or after ``t`` starts."""
        i = bisect.bisect_left(self.timeline.starts, t)
        return self.timeline.starts[i] if i < len(self.timeline.starts) else math.inf

    def next_line(
        self, lines: list[str], index: int, turn: dict[int, int], last: dict[int, str], at: float
    ) -> str:
        """The step's next line in rotation, never the line said just before."""
        i = bisect.bisect_right(self.timeline.starts, at)
        before = self.timeline.texts[i - 1] if i else None
        for _ in range(len(lines)):
            n = turn.get(index, 0)
            turn[index] = n + 1
            text = lines[n % len(lines)]
            if text != last.get(index) and text != before:
                return text
        return lines[0]

    def step_at(self, t: float) -> int | None:
        for index, (start, end) in enumerate(self.step_spans):
            if start <= t < end:
                return index
        return None

    def ticks(self) -> list[float]:
        """--tempo: a soft tick at each stroke of the technique, under the bed, where
        nothing is being said (the voice keeps the count when it counts)."""
        out: list[float] = []
        for index, _, end, _, work_start in self.segments:
            step = self.routine.steps[index]
            if not _hands_on(step):
                continue
            if step.reps is not None and step.per_rep is not None:
                period = step.per_rep.at(self.u) * self.gap_scale()
            else:
                period = guidance.stroke_seconds(step.technique, step.say)
            t = work_start + 1.0
            while t < end - 1.0:
                if self.timeline.is_free(t - 0.3, t + 0.3, 0.0):
                    out.append(round(t, 3))
                t += period
        return out

    # -- beds

    def _step_beds(self) -> list[str | None]:
        """The bed playing during each step (None: silence or a user's file)."""
        override = self.options.ambience
        if override is not None:
            return [_bed(override)] * len(self.routine.steps)
        current = _bed(self.routine.ambience)
        beds = []
        for step in self.routine.steps:
            if step.ambience is not None:
                current = _bed(step.ambience)
            beds.append(current)
        return beds

    def bed_at(self, step: int | None) -> str | None:
        if step is not None:
            return self.step_beds[step]
        if self.options.ambience is not None:
            return _bed(self.options.ambience)
        if self.step_beds and len(self.step_spans) == len(self.routine.steps):
            return self.step_beds[-1]  # the outro: the last step's bed plays on
        return _bed(self.routine.ambience)  # the intro

    # -- chapters, beds, step infos

    def chapters(self, outro_start: float, duration: float) -> list[Chapter]:
        bounds: list[tuple[float, str, int | None]] = []
        first_start = self.step_spans[0][0]
        if first_start > 0:
            bounds.append((0.0, "Introduction", None))
        for index, (start, _) in enumerate(self.step_spans):
            bounds.append((start, self.routine.steps[index].title, index))
        if self.routine.outro:
            bounds.append((outro_start, "Closing", None))
        chapters = []
        for n, (start, title, step) in enumerate(bounds):
            end = bounds[n + 1][0] if n + 1 < len(bounds) else duration
            chapters.append(Chapter(title=title, start=start, end=end, step=step))
        return [c for c in chapters if c.end > c.start]

    def beds(self, duration: float) -> list[BedSpan]:
        override = self.options.ambience
        if override is not None:
            bed = None if override.lower() == "none" else override
            return [BedSpan(bed, 0.0, duration)]
        spans = [BedSpan(_bed(self.routine.ambience), 0.0, duration)]
        for index, step in enumerate(self.routine.steps):
            if step.ambience is None or _bed(step.ambience) == spans[-1].bed:
                continue
            at = self.step_spans[index][0]
            spans[-1] = replace(spans[-1], end=at)
            spans.append(BedSpan(_bed(step.ambience), at, duration))
        return [s for s in spans if s.end > s.start]

    def step_infos(self) -> list[StepInfo]:
        infos = []
        for index, step in enumerate(self.routine.steps):
            start, end = self.step_spans[index]
            infos.append(StepInfo(
                title=step.title, start=start, end=end, say=step.say, section=step.section,
                technique=step.technique, area=step.area, pressure=step.pressure,
                reps=self.reps(step) if step.reps is not None else None, sides=step.sides,
                wait=step.wait, pause=step.is_pause, quiet=step.quiet,
            ))  # fmt: skip
        return infos


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


def _closing_steps(routine: Routine) -> set[int]:
    """The closing light strokes: the trailing steps (after the last medium or firm
    one) that are light or plain strokes. No check-in belongs there."""
    closing: set[int] = set()
    for index in range(len(routine.steps) - 1, -1, -1):
        step = routine.steps[index]
        if step.is_pause:
            continue
        level = guidance.pressure_level(step.pressure)
        family = guidance.family(step.technique, step.say)
        if level in ("medium", "firm") or family not in ("effleurage", "breath", "general"):
            break
        if level == "light" or family == "effleurage":
            closing.add(index)
            continue
        break
    return closing


def _best_window(windows: list[_Window], wanted: float, every: float) -> _Window | None:
    """The window nearest to ``wanted``; a medium or firm step wins when it is
    within a quarter of the interval of the nearest one."""
    if not windows:
        return None

    def distance(window: _Window) -> float:
        lo, hi = window[0], window[1]
        return 0.0 if lo <= wanted <= hi else min(abs(lo - wanted), abs(hi - wanted))

    nearest = min(distance(w) for w in windows)
    firm = [w for w in windows if w[4] and distance(w) <= nearest + every / 4]
    return min(firm or windows, key=distance)


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
    need = CHIME_LEAD + say.estimate_seconds(text, options.wpm) + MIN_GAP + MIN_WORK
    if step.caution:
        need += say.estimate_seconds(step.caution, options.wpm) + MIN_GAP
    if step.wait:
        need += say.estimate_seconds(say.wait_line(), options.wpm) + MIN_GAP
    switch = max(
        (
            say.estimate_seconds(say.side_switch_line(s, len(step.sides)), options.wpm)
            for s in step.sides
        ),
        default=0.0,
    )
    return max(need, switch + MIN_GAP + MIN_WORK)


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


# ---------------------------------------------------------------- layout


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
