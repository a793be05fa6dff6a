"""Loading routines: good files load, every broken file gets its own located line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voiceguide.cli import main
from voiceguide.errors import RoutineError
from voiceguide.routine import load_file, loads
from voiceguide.times import (
    Range,
    format_duration,
    parse_count_range,
    parse_seconds,
    parse_time_range,
)

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def _expected(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii", "replace")
    return (
        first.removeprefix("# expect: ") if first.startswith("# expect: ") else "the file is empty"
    )


def test_there_are_at_least_twenty_broken_files() -> None:
    assert len(BROKEN) >= 20


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_file_gives_one_located_line(path: Path, runner) -> None:
    result = runner.invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"{path}:"), lines[0]
    assert _expected(path) in lines[0]
    assert "Traceback" not in result.output


def test_each_broken_file_has_its_own_message(runner) -> None:
    messages = set()
    for path in BROKEN:
        result = runner.invoke(main, ["validate", str(path)])
        messages.add(result.output.split(": ", 1)[1])
    assert len(messages) == len(BROKEN)


def test_validate_reports_every_file_and_fails_if_any_is_bad(runner, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    runner.invoke(main, ["new", str(good)])
    result = runner.invoke(main, ["validate", str(good), str(BROKEN[0]), str(BROKEN[1])])
    assert result.exit_code == 2
    assert f"{good}: ok" in result.output
    assert result.output.count(": ") >= 3


def test_show_of_a_broken_file_is_one_line_and_exit_2_in_a_real_process() -> None:
    path = next(p for p in BROKEN if p.stem == "unknown_key")
    proc = subprocess.run(
        [sys.executable, "-m", "voiceguide", "show", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert 'did you mean "duration"' in proc.stderr


def test_missing_file_and_unknown_routine(runner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["show", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "no such file" in result.output
    result = runner.invoke(main, ["show", "no-such-routine"])
    assert result.exit_code == 2
    assert "no routine or file named 'no-such-routine'" in result.output


def test_new_writes_a_starter_that_validates_and_refuses_to_overwrite(
    runner, tmp_path: Path
) -> None:
    target = tmp_path / "shoulders.yaml"
    assert runner.invoke(main, ["new", str(tmp_path / "shoulders")]).exit_code == 0
    routine = load_file(target)
    assert routine.title == "Shoulders"
    assert any(step.sides for step in routine.steps)
    before = target.read_text()
    result = runner.invoke(main, ["new", str(target)])
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert target.read_text() == before


def test_full_format_loads() -> None:
    routine = loads(
        """
voiceguide: 1
title: Everything
summary: All fields.
based_on: A guide
ambience: rain
intro: [Hello., Settle in.]
outro: Goodbye.
cautions: [Not on the spine.]
check_in: {every: 5m}
voice: {voice: en-gb, rate: 140, pitch: 40, volume: 0.8}
lexicon: {trapezius: tra-pee-zee-us}
sections:
  - title: Upper back
    ambience: music-pad
    steps:
      - title: Glide
        say: Glide.
        technique: effleurage
        area: whole back
        pressure: light
        reps: 3..5
        per_rep: 12s
        count: true
      - pause: 5s..10s
  - title: Lower back
    steps:
      - title: Circles
        say: Circle.
        sides: [left, right]
        duration: 1m30s..2.5m
        caution: Gently.
        cues: [{at: half, say: Halfway.}, {at: 20s, say: Soft.}, {at: -15s, say: Nearly.}]
"""
    )
    assert routine.intro == ("Hello.", "Settle in.")
    assert [s.section for s in routine.steps] == ["Upper back", "Upper back", "Lower back"]
    assert routine.steps[0].ambience == "music-pad"
    assert routine.steps[0].reps == Range(3, 5)
    assert routine.steps[1].pause == Range(5, 10)
    assert routine.steps[2].duration == Range(90, 150)
    assert [c.at for c in routine.steps[2].cues] == ["half", 20.0, -15.0]
    assert routine.check_in is not None and routine.check_in.every == 300
    assert routine.voice == {"voice": "en-gb", "rate": 140, "pitch": 40, "volume": 0.8}


def test_ambience_file_is_resolved_beside_the_routine(tmp_path: Path) -> None:
    (tmp_path / "beds").mkdir()
    (tmp_path / "beds" / "mine.ogg").write_bytes(b"x")
    path = tmp_path / "r.yaml"
    path.write_text(
        "voiceguide: 1\ntitle: T\nambience: beds/mine.ogg\n"
        "steps: [{title: A, say: Do it., duration: 1m}]\n"
    )
    assert load_file(path).ambience == str(tmp_path / "beds" / "mine.ogg")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(45, 45), ("45", 45), ("45s", 45), ("2m", 120), ("1m30s", 90), ("1.5m", 90), ("1h", 3600)],
)
def test_times(text: object, seconds: float) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["2 mins", "m", "1s30m", "1m1m", "", "soon", True, None, "-5s"])
def test_bad_times(text: object) -> None:
    with pytest.raises(ValueError):
        parse_seconds(text)


def test_ranges() -> None:
    assert parse_time_range("2m..3m") == Range(120, 180)
    assert parse_count_range("3..4") == Range(3, 4)
    assert parse_count_range(5) == Range(5, 5)
    with pytest.raises(ValueError, match="backwards"):
        parse_count_range("5..3")


@pytest.mark.parametrize("seconds", [0, 2.5, 45, 90, 125.5, 3600, 3725])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_seconds(format_duration(seconds)) == seconds


def test_error_type_carries_location() -> None:
    with pytest.raises(RoutineError) as info:
        loads(
            "voiceguide: 1\ntitle: T\nsteps:\n  - title: A\n    say: B\n    duration: x\n",
            file="f.yaml",
        )
    err = info.value
    assert (err.file, err.line, err.col, err.path) == ("f.yaml", 6, 15, "steps[0].duration")
