"""Routine + options -> timed script. Pure: no files, no audio, no clock.

Everything about *when* something is said lives here, so it can be tested in
microseconds and reasoned about without listening to anything.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

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
#: How far working times may be squeezed or stretched to meet --length.
SCALE_LIMITS = (0.5, 2.0)
#: A reminder may slide this far from where it was asked for.
REMINDER_SLACK = 20.0


@dataclass(frozen=True)
class Options:
    """How to turn a routine into a session.

    ``pace`` is a tempo: 1 is the routine as written, 0.8 is 20 % slower
    (every working time and settling gap lasts 1/0.8 as long). ``length``
    overrides pace: ranges and working times are fitted to it.
    """

    pace: float = 1.0
    length: float | None = None
    wpm: float = 150.0
    counting: bool | None = None  # None: each step's own `count`
    check_in: float | None = None  # None: the routine's; 0: off
    detail: Detail = "normal"
    ambience: str | None = None  # overrides every bed in the routine; "none" for silence

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
    u, scale, fit = _fit_length(routine, options)
    if options.pace != 1.0:
        fit = replace(fit, note=(fit.note + "; " if fit.note else "")
                      + "--pace has no effect with --length")  # fmt: skip
    plan = _Planner(routine, options, u=u, scale=scale).run()
    return _script(routine, options, plan, fit=fit)


def natural_range(routine: Routine, options: Options | None = None) -> tuple[float, float]:
    """The session lengths the routine's own ranges allow, at the given pace."""
    options = options or Options()
    scale = 1.0 / options.pace
    lo = _Planner(routine, options, u=0.0, scale=scale, skeleton=True).run().duration
    hi = _Planner(routine, options, u=1.0, scale=scale, skeleton=True).run().duration
    return lo, hi


# ---------------------------------------------------------------- fitting


def _fit_length(routine: Routine, options: Options) -> tuple[float, float, Fit]:
    """Find the range position ``u`` and scale that make the session ``length`` long.

    Ranges are resolved first (they are the routine's own flexibility); only
    then are working times scaled, within SCALE_LIMITS and never below what a
    step needs for its own speech.
    """
    target = float(options.length or 0)

    def duration(u: float, scale: float) -> float:
        return _Planner(routine, options, u=u, scale=scale, skeleton=True).run().duration

    lo_scale = max(SCALE_LIMITS[0], _min_scale(routine, options))
    hi_scale = max(SCALE_LIMITS[1], lo_scale)
    natural = max(1.0, lo_scale)
    if duration(0.0, natural) <= target <= duration(1.0, natural):
        u = _bisect(lambda x: duration(x, natural), 0.0, 1.0, target)
        scale = _bisect(lambda s: duration(u, s), lo_scale, hi_scale, target)
    elif target < duration(0.0, natural):
        u, scale = 0.0, _bisect(lambda s: duration(0.0, s), lo_scale, natural, target)
    else:
        u, scale = 1.0, _bisect(lambda s: duration(1.0, s), natural, hi_scale, target)
    achieved = duration(u, scale)
    ok = abs(achieved - target) <= 0.02 * target
    note = "" if ok else _fit_note(target, achieved)
    return u, scale, Fit(target=target, achieved=achieved, ok=ok, note=note)


def _fit_note(target: float, achieved: float) -> str:
    bound = "shortest" if achieved > target else "longest"
    return (
        f"cannot fit {format_duration(target)}: the {bound} this routine can run is "
        f"{format_duration(achieved)}; using that"
    )


def _bisect(f, lo: float, hi: float, target: float, iterations: int = 40) -> float:  # type: ignore[no-untyped-def]
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


def _min_scale(routine: Routine, options: Options) -> float:
    """The smallest scale at which every step has room for its speech, whatever ``u``."""
    need = 0.0
    for step in routine.steps:
        if step.is_pause:
            continue
        if step.duration is not None:
            need = max(need, _step_speech_need(step, options) / step.duration.lo)
        elif _counting(step, options):
            assert step.per_rep is not None and step.reps is not None
            need = max(need, _count_need(int(step.reps.hi), options) / step.per_rep.lo)
    return need


def _count_need(reps: int, options: Options) -> float:
    """The shortest repetition that leaves room to say any of its counts."""
    longest = max(
        (say.estimate_seconds(say.count_line(n, n), options.wpm) for n in range(2, reps + 1)),
        default=0.0,
    )
    return max(MIN_COUNTED_REP, longest + MIN_GAP)


def _counting(step: Step, options: Options) -> bool:
    if step.reps is None:
        return False
    return step.count if options.counting is None else options.counting


# ---------------------------------------------------------------- planning


@dataclass
class _Plan:
    cues: list[Cue]
    chapters: list[Chapter]
    beds: list[BedSpan]
    steps: list[StepInfo]
    duration: float
    warnings: list[str]


class _Timeline:
    """Busy spans of speech, kept sorted, so free slots can be found quickly."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []

    def add(self, start: float, end: float) -> None:
        i = bisect.bisect(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)

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


class _Planner:
    """Lays out one session for a given range position ``u`` and ``scale``.

    With ``skeleton`` it skips the optional cues: only the duration matters
    while fitting a length, and it is identical either way.
    """

    def __init__(
        self, routine: Routine, options: Options, u: float, scale: float, skeleton: bool = False
    ) -> None:
        self.routine = routine
        self.options = options
        self.u = u
        self.scale = scale
        self.skeleton = skeleton
        self.cues: list[Cue] = []
        self.timeline = _Timeline()
        self.warnings: list[str] = []
        self.step_spans: list[tuple[float, float]] = []
        self.segments: list[tuple[int, float, float, str | None]] = []  # step, start, end, side
        self.work: float | None = None  # the current step's working time per side

    # -- helpers

    def length(self, text: str) -> float:
        return say.estimate_seconds(text, self.options.wpm)

    def put(
        self, at: float, text: str, kind: str, step: int | None, side: str | None = None
    ) -> Cue:
        cue = Cue(at=at, text=text, kind=kind, step=step, length=self.length(text), side=side)
        self.cues.append(cue)
        self.timeline.add(cue.at, cue.end)
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
        start = self.timeline.find(earliest, latest_end, self.length(text), OPTIONAL_GAP)
        if start is None:
            return None
        return self.put(start, text, kind, step, side)

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
        )

    def opening(self) -> float:
        t = LEAD_IN
        spoken = False
        for line in self.routine.intro:
            t = self.put(t, line, "intro", None).end + MIN_GAP
            spoken = True
        for line in self.routine.cautions:
            t = self.put(t, line, "caution", None).end + MIN_GAP
            spoken = True
        return t - MIN_GAP + SETTLE * self.scale if spoken else 0.0

    def pause(self, start: float, step: Step) -> float:
        assert step.pause is not None
        return start + step.pause.at(self.u) * self.scale

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
        self.segments.append((index, start, end, side))
        return end

    def reps(self, step: Step) -> int:
        assert step.reps is not None or step.duration is not None
        if step.reps is None:
            return 0
        return math.floor(step.reps.at(self.u) + 0.5)

    def repetitions(self, index: int, speech_end: float, step: Step, side: str | None) -> float:
        assert step.per_rep is not None
        per_rep = step.per_rep.at(self.u) * self.scale
        reps = self.reps(step)
        first_rep = speech_end + REP_LEAD * self.scale
        if _counting(step, self.options):
            if per_rep < _count_need(reps, self.options) - 1e-9:  # fitted scales land on it
                raise CompileError(
                    f"{located(step)}: {per_rep:.1f}s a repetition is too quick to "
                    "count aloud; slow the pace or lengthen per_rep"
                )
            for n in range(2, reps + 1):
                self.put(
                    first_rep + (n - 1) * per_rep, say.count_line(n, reps), "count", index, side
                )
        return first_rep + reps * per_rep

    def timed(self, index: int, start: float, speech_end: float, step: Step, first: bool) -> float:
        assert step.duration is not None
        if not first and self.work is not None:
            return speech_end + self.work
        end = start + step.duration.at(self.u) * self.scale
        if end - speech_end < MIN_WORK:
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
        for index, start, end, side in self.segments:
            step = self.routine.steps[index]
            self.reminders(index, start, end, step, side)
            if self.options.detail != "minimal" and not _counting(step, self.options):
                self.time_left(index, start, end, side)
        if self.options.detail != "minimal":
            self.next_ups()
        self.check_ins(outro_start)

    def reminders(self, index: int, start: float, end: float, step: Step, side: str | None) -> None:
        cues = list(step.cues)
        if self.options.detail == "detailed" and end - start >= 120 and not cues:
            cues = [StepCue("half", say.halfway_line())]
        for cue in cues:
            if cue.at == "half":
                wanted = start + (end - start) / 2
            elif isinstance(cue.at, float) and cue.at < 0:
                wanted = end + cue.at * self.scale
            else:
                wanted = start + float(cue.at) * self.scale
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
        check_in = self.routine.check_in
        every = (
            self.options.check_in
            if self.options.check_in is not None
            else (check_in.every if check_in else 0)
        )
        if not every or not self.step_spans:
            return
        text = check_in.say if check_in else DEFAULT_CHECK_IN
        pauses = [span for span, step in zip(self.step_spans, self.routine.steps, strict=True)
                  if step.is_pause]  # fmt: skip
        first = self.step_spans[0][0]
        k = 1
        while first + k * every < outro_start - 30:
            wanted = first + k * every
            for start, end in pauses:  # a pause is for quiet: ask after it
                if start <= wanted < end:
                    wanted = end
            latest = min([wanted + every / 2, outro_start - 5]
                         + [start for start, _ in pauses if start > wanted])  # fmt: skip
            self.place(wanted, latest, text, "check-in", self.step_at(wanted))
            k += 1

    def step_at(self, t: float) -> int | None:
        for index, (start, end) in enumerate(self.step_spans):
            if start <= t < end:
                return index
        return None

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
                wait=step.wait,
            ))  # fmt: skip
        return infos


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
        detail = say.detail_line(step.technique, step.pressure, step.area)
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
        },
        warnings=tuple(plan.warnings) + ((fit.note,) if fit and fit.note else ()),
        checklist=routine.preparation,
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
    return replace(
        script, cues=tuple(moved), chapters=chapters, beds=beds, steps=steps, duration=duration
    )


def _retime(spans, shifted, duration: float):  # type: ignore[no-untyped-def]
    """Move span starts; each span ends where the next begins, the last at the end."""
    if not spans:
        return ()
    starts = [0.0 if i == 0 else max(shifted(s.start), 0.0) for i, s in enumerate(spans)]
    for i in range(1, len(starts)):
        starts[i] = max(starts[i], starts[i - 1])
    ends = [*starts[1:], duration]
    return tuple(replace(s, start=a, end=b) for s, a, b in zip(spans, starts, ends, strict=True))
