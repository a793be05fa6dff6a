"""Live changes to a script: +/- time and repeats keep what must be said."""

from __future__ import annotations

import itertools

import pytest

from voiceguide.compiler import MIN_GAP, compile
from voiceguide.edits import extend_step, repeat_instruction
from voiceguide.routine import loads

SIDED = loads(
    "voiceguide: 1\ntitle: T\nsteps:\n"
    "  - title: Warm up\n    say: Spread the oil.\n    duration: 1m\n"
    "  - title: Circles\n    say: Circle with your thumbs.\n    sides: [left, right, middle]\n"
    "    reps: 3\n    per_rep: 20s\n    count: true\n"
    "  - title: Rest\n    say: Rest your hands.\n    duration: 1m\n"
)


def _well_formed(script) -> None:  # type: ignore[no-untyped-def]
    cues = script.cues
    assert all(b.at >= a.end + MIN_GAP - 1e-6 for a, b in itertools.pairwise(cues))
    assert script.chapters[-1].end == pytest.approx(script.duration)
    for a, b in zip(script.chapters, script.chapters[1:], strict=False):
        assert a.end == b.start


def test_minus_takes_time_off_this_side_only() -> None:
    script = compile(SIDED)
    circles = script.steps[1]
    t = circles.start + 10
    for _ in range(5):  # pressing "-" again and again
        script, _ = extend_step(script, t, -30)
    kinds = [c.kind for c in script.cues if c.step == 1]
    assert kinds.count("side") == 2  # "now the other side" for right and middle survive
    sides_after = {c.side for c in script.cues if c.step == 1 and c.kind == "count"}
    assert {"right", "middle"} <= sides_after  # their counts too
    assert script.steps[1].end - script.steps[1].start < circles.end - circles.start
    _well_formed(script)


def test_plus_adds_time_and_later_steps_move() -> None:
    script = compile(SIDED)
    rest = script.steps[2].start
    longer, added = extend_step(script, script.steps[0].start + 20, 30)
    assert added == 30
    assert longer.steps[2].start == pytest.approx(rest + 30)
    assert longer.duration == pytest.approx(script.duration + 30)
    _well_formed(longer)


def test_minus_never_leaves_less_than_a_few_seconds() -> None:
    script = compile(SIDED)
    t = script.steps[0].end - 3
    same, changed = extend_step(script, t, -30)
    assert changed == 0 and same is script


def test_repeat_says_the_instruction_again_after_current_speech() -> None:
    script = compile(SIDED)
    t = script.steps[0].start + 20
    again_script, again = repeat_instruction(script, t)
    assert again is not None and again.text.startswith("Spread the oil.")
    assert sum(c.text == again.text for c in again_script.cues) == 2
    _well_formed(again_script)
