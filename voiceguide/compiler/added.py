"""Lines the compiler adds where there is room: reminders, next-up and time-left
lines, check-ins where the receiver can judge, the routine's cautions early in the
work, and guidance so no working time goes long without a word.

A mixin of the planner: it works on the planner's cues, timeline and segments.
"""

from __future__ import annotations

import bisect
import itertools
import math

from voiceguide import guidance
from voiceguide import narration as say
from voiceguide.compiler.options import (
    CAUTION_STEPS,
    CHECK_IN_AFTER_WORK,
    CHECK_IN_NOT_BEFORE,
    FILL_AFTER,
    MAX_SILENCE,
    REMINDER_SLACK,
    Options,
)
from voiceguide.compiler.steps import _counting, _hands_on, located
from voiceguide.compiler.timeline import _Timeline
from voiceguide.routine import DEFAULT_CHECK_IN, Routine, Step, StepCue
from voiceguide.script import Cue

#: Where a check-in may go: earliest, latest end, step, side, medium-or-firm.
_Window = tuple[float, float, int, str | None, bool]


class AddedLines:
    """The planner's optional lines (see the module docstring)."""

    # set by the planner
    routine: Routine
    options: Options
    cues: list[Cue]
    timeline: _Timeline
    warnings: list[str]
    step_spans: list[tuple[float, float]]
    segments: list[tuple[int, float, float, str | None, float]]
    exempt: list[tuple[float, float]]

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
            soonest = last + every / 2  # the next one no sooner than this
            windows = [(max(w[0], soonest), *w[1:]) for w in windows if w[1] - soonest > 4.0]

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
