"""The walk through a routine: every mandatory cue, the steps' spans, chapters, beds.

Pure: no files, no audio, no clock. The optional lines come from :mod:`added`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from voiceguide import guidance
from voiceguide import narration as say
from voiceguide.compiler.added import AddedLines
from voiceguide.compiler.options import (
    CHIME_LEAD,
    INTRO_GAP,
    LEAD_IN,
    MIN_GAP,
    MIN_WORK,
    OPENING_BUDGET,
    OPTIONAL_GAP,
    REP_LEAD,
    SETTLE,
    TAIL,
    Options,
)
from voiceguide.compiler.steps import (
    _bed,
    _count_need,
    _countable_reps,
    _counting,
    _floor_scale,
    _hands_on,
    _sentences,
    instruction_text,
    located,
)
from voiceguide.compiler.timeline import _Timeline
from voiceguide.errors import CompileError
from voiceguide.routine import Routine, Step
from voiceguide.script import BedSpan, Chapter, Cue, StepInfo
from voiceguide.times import format_duration

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


class _Planner(AddedLines):
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
        return say.estimate_seconds(text, self.options.wpm, self.options.timing)

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
        if not self.honest:
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
            wanted = max(1, math.ceil(scaled - 1e-9) if scaled < n else math.floor(scaled + 0.5))
            if _counting(step, self.options) and step.per_rep is not None:
                per_rep = step.per_rep.at(self.u) * self.gap_scale()
                return _countable_reps(wanted, math.floor(n + 0.5), per_rep, self.options)
            return wanted
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
