"""Meeting --length honestly: ranges, optional steps, shrink, and one line when it cannot."""

from __future__ import annotations

from dataclasses import dataclass, replace

from voiceguide.compiler.options import STRETCH_LIMIT, Options
from voiceguide.compiler.planner import _Planner
from voiceguide.routine import Routine
from voiceguide.script import Fit
from voiceguide.times import format_duration


def natural_range(routine: Routine, options: Options | None = None) -> tuple[float, float]:
    """The honest session lengths: shortest with optional steps left out and every
    ``shrink`` used, longest with every range at its top, nothing stretched.
    Raises CompileError for a step too short for what it says, as written."""
    options = options or Options()
    # As written (low ends, nothing fitted): a step too short for its own words is
    # refused here, though --length would lengthen it to fit them.
    _Planner(routine, options, u=0.0, scale=1.0, skeleton=True).run()
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
