"""Guidance that fits the hands: routine fields, honest lengths, pacing, placement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voiceguide.cli import main
from voiceguide.compiler import Options, compile
from voiceguide.errors import CompileError
from voiceguide.routine import WAIT_SECONDS, loads
from voiceguide.script import Script

FIELDS = """\
voiceguide: 1
title: Fields
preparation:
  - Warm the room and dim the light.
  - Two towels, oil within reach.
steps:
  - title: Spread the oil
    say: Spread the oil with long, slow strokes.
    duration: 1m
    shrink: 0.7
  - title: Turn over
    say: Help your partner turn onto their back.
    wait: true
  - title: Quiet circles
    say: Slow circles over the lower back.
    duration: 2m
    quiet: true
    optional: true
  - pause: 10s
    optional: true
"""


def test_new_fields_load_and_reach_the_script() -> None:
    routine = loads(FIELDS, file="fields.yaml")
    spread, turn, circles, pause = routine.steps
    assert routine.preparation == (
        "Warm the room and dim the light.",
        "Two towels, oil within reach.",
    )
    assert spread.shrink == 0.7 and not spread.wait and not spread.optional
    assert turn.wait and turn.duration is not None and turn.duration.lo == WAIT_SECONDS
    assert circles.quiet and circles.optional
    assert pause.optional and pause.is_pause
    assert spread.origin == "fields.yaml:7:5"

    script = compile(routine)
    assert script.checklist == routine.preparation
    assert [s.wait for s in script.steps] == [False, True, False, False]
    said = [c for c in script.cues if c.step == 1]
    assert [c.kind for c in said] == ["instruction", "wait"]  # announced, then the chime


def test_script_round_trips_with_the_new_fields() -> None:
    script = compile(loads(FIELDS, file="fields.yaml"))
    again = Script.from_dict(json.loads(script.to_json()))
    assert again.to_dict() == script.to_dict()
    assert again.checklist == script.checklist and isinstance(again.checklist, tuple)
    assert [s.wait for s in again.steps] == [s.wait for s in script.steps]


def test_compile_errors_name_the_file_and_line(runner, tmp_path: Path) -> None:
    path = tmp_path / "short.yaml"
    path.write_text(
        "voiceguide: 1\ntitle: Short\nsteps:\n"
        "  - title: S1\n"
        "    say: With flat, relaxed hands, spread the oil over the whole back slowly.\n"
        "    duration: 4s\n"
    )
    for command in (["show", str(path)], ["validate", str(path)]):
        result = runner.invoke(main, command)
        assert result.exit_code == 2, result.output
        line = result.output.strip().removeprefix("voiceguide: ")
        assert line.startswith(f"{path}:4:5: steps[0] (S1): 4s is too short"), line
        assert len(line.splitlines()) == 1


def test_compile_without_a_file_still_names_the_step() -> None:
    routine = loads(FIELDS.replace("duration: 1m", "duration: 2s"))
    with pytest.raises(CompileError, match=r"^steps\[0\] \(Spread the oil\): 2s is too short"):
        compile(routine, Options())
