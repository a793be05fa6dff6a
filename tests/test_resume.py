"""Resume points that cannot mislead: one per routine and options, checked on reading,
landing on the same step by index and title even after the routine changed (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.alsa import alsa_home
from support.routines import SHORT, TWO_SIDED

from voiceguide import resume
from voiceguide.compiler import Options, compile
from voiceguide.errors import VoiceguideError
from voiceguide.navigation import segments
from voiceguide.routine import load_file


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path


def routine_file(folder: Path, text: str, name: str = "r.yaml") -> tuple[str, object]:
    path = folder / name
    path.write_text(text)
    loaded = load_file(path)
    return str(path.resolve()), compile(loaded, Options())


def test_a_point_records_step_side_repetition_and_edits_and_comes_back_there(state) -> None:
    key, script = routine_file(state, TWO_SIDED)
    right = next(s for s in segments(script) if s.side == "right")
    at = right.start + 9.0
    point = resume.make_point(key, "Two sides", {"pace": 0.9}, script, at,
                              extensions=[(right.start + 2, 30.0)], volume_db=3.0)  # fmt: skip
    assert (point.step, point.step_title, point.side) == (1, "Kneading", "right")
    assert point.repetition == (2, 3) and point.extra == 30.0 and point.volume_db == 3.0
    assert point.offset == 0.0  # the 30 s were added before: they come back with "extra"
    path = resume.save(point)
    back = resume.load(path)
    assert back == point
    landed = resume.locate(back, script)
    assert landed.note == "" and landed.segment == right


def test_two_routines_keep_their_own_points_and_the_newest_is_resumed(state) -> None:
    first, script_a = routine_file(state, SHORT, "a.yaml")
    second, script_b = routine_file(state, TWO_SIDED, "b.yaml")
    a = resume.save(resume.make_point(first, "A", {}, script_a, 30.0))
    os.utime(a, (1, 1))  # older
    resume.save(resume.make_point(second, "B", {}, script_b, 20.0))
    resume.save(resume.make_point(first, "A", {"length": 600}, script_a, 40.0))  # other options
    assert len(resume.saved_points()) == 3  # a newer session destroyed nothing
    newest, others = resume.latest()
    assert newest.routine in (first, second) and len(others) == 2
    assert {p.routine for p in others} | {newest.routine} == {first, second}
    mine, _ = resume.latest(second)
    assert mine.title == "B"
    assert "voiceguide play" in resume.describe(others[0]) and "--resume" in resume.describe(mine)
    resume.clear(second, {})
    with pytest.raises(VoiceguideError, match="nothing to resume for"):
        resume.latest(second)


def test_an_edited_routine_resumes_at_the_same_step_by_index_and_title_and_says_so(state) -> None:
    key, script = routine_file(state, TWO_SIDED)
    point = resume.make_point(key, "Two sides", {}, script, script.steps[1].start + 20)
    renamed = TWO_SIDED.replace("title: Warm up", "title: Oil first").replace(
        "  - title: Circles",
        "  - title: Rest\n    say: Rest.\n    duration: 5s\n  - title: Circles",
    )
    Path(key).write_text(renamed)
    script2 = compile(load_file(Path(key)), Options())
    landed = resume.locate(point, script2)
    assert landed.position == script2.steps[1].start  # Kneading, from its start
    assert "changed" in landed.note and "step 2" in landed.note and "Kneading" in landed.note
    moved = TWO_SIDED.replace("  - title: Warm up", "  - title: New first\n    say: Hi.\n"
                              "    duration: 5s\n  - title: Warm up")  # fmt: skip
    Path(key).write_text(moved)
    script3 = compile(load_file(Path(key)), Options())
    landed = resume.locate(point, script3)
    assert script3.steps[2].title == "Kneading" and landed.position == script3.steps[2].start
    assert "step 3" in landed.note  # found by title, nearest the old index


@pytest.mark.parametrize(
    "change",
    [
        {"offset": "abc"},
        {"offset": float("nan")},
        {"offset": -100},
        {"step": "2"},
        {"step": -1},
        {"volume_db": 1e9},
        {"version": 1},
        {"options": []},
        {"repetition": [0, 3]},
    ],
)
def test_any_malformed_field_is_damaged_and_nothing_else(state, change: dict) -> None:
    key, script = routine_file(state, TWO_SIDED)
    path = resume.save(resume.make_point(key, "Two sides", {}, script, 30.0))
    data = json.loads(path.read_text())
    data.update(change)
    path.write_text(json.dumps(data))  # json writes NaN as NaN: Python reads it back
    with pytest.raises(resume.DamagedPoint, match="this resume point is damaged"):
        resume.load(path)


def test_cli_resume_with_a_damaged_point_is_one_line(tmp_path: Path) -> None:
    env, _ = alsa_home(tmp_path)
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    folder = tmp_path / "state" / "voiceguide" / "resume"
    folder.mkdir(parents=True)
    (folder / "r-0.json").write_text('{"version": 2, "offset": "abc"}')
    proc = subprocess.run([sys.executable, "-m", "voiceguide", "play", "--resume"], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "this resume point is damaged" in proc.stderr
    nothing = subprocess.run([sys.executable, "-m", "voiceguide", "play"], env=env,
                             capture_output=True, text=True, stdin=subprocess.DEVNULL,
                             timeout=60)  # fmt: skip
    assert nothing.returncode == 2 and "voiceguide play" in nothing.stderr
    assert "python -m" not in nothing.stderr
