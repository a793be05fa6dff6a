"""Guidance that fits the hands: routine fields, honest lengths, pacing, placement."""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiceguide.ambience import decode
from voiceguide.cli import main
from voiceguide.compiler import MAX_SILENCE, Options, _fit_length, compile, layout
from voiceguide.edits import insert_time, remove_time
from voiceguide.errors import CompileError
from voiceguide.guidance import pressure_level
from voiceguide.pacing import pacing
from voiceguide.routine import (
    WAIT_SECONDS,
    CheckIn,
    Routine,
    Step,
    builtin_ids,
    load_builtin,
    loads,
)
from voiceguide.script import Script
from voiceguide.times import Range

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


# ---------------------------------------------------------------- lengths and silences

SENTENCES = [
    "Glide up.",
    "With flat hands, glide from the lower back up to the shoulders and back down.",
    "Knead the muscle beside the spine, slowly and evenly, like soft dough.",
    "Lean in gently; keep your weight off the spine, and breathe.",
]


@st.composite
def guided_steps(draw: st.DrawFn, index: int) -> Step:
    kind = draw(st.sampled_from(["duration", "duration", "reps", "pause"]))
    optional = draw(st.booleans())
    if kind == "pause":
        lo = draw(st.floats(5, 120))
        return Step(title="Pause", pause=Range(lo, lo + draw(st.sampled_from([0, 30]))),
                    optional=optional, path=f"steps[{index}]")  # fmt: skip
    common = dict(
        title=draw(st.sampled_from(["Glide", "Knead", "Circles", "Stretch"])),
        say=draw(st.sampled_from(SENTENCES)),
        sides=draw(st.sampled_from([(), ("left", "right")])),
        technique=draw(st.sampled_from([None, "effleurage", "kneading", "thumb pressure"])),
        pressure=draw(st.sampled_from([None, "light", "medium", "firm"])),
        optional=optional,
        shrink=draw(st.sampled_from([None, 0.5, 0.8])),
        quiet=draw(st.booleans()) and draw(st.booleans()),
        path=f"steps[{index}]",
    )
    if kind == "duration":
        lo = draw(st.floats(20, 900))
        return Step(duration=Range(lo, lo + draw(st.sampled_from([0, 60, 300]))), **common)
    reps = sorted((draw(st.integers(1, 8)), draw(st.integers(1, 8))))
    per_rep = draw(st.floats(4, 40))
    return Step(reps=Range(float(reps[0]), float(reps[1])), per_rep=Range(per_rep, per_rep),
                count=draw(st.booleans()), **common)  # fmt: skip


@st.composite
def guided_routines(draw: st.DrawFn) -> Routine:
    n = draw(st.integers(1, 7))
    steps = tuple(draw(guided_steps(i)) for i in range(n))
    if all(s.is_pause for s in steps):
        steps = (*steps, Step(title="Glide", say="Glide up.", duration=Range(60, 60)))
    return Routine(
        title="Generated",
        steps=steps,
        intro=draw(st.sampled_from([(), ("Settle your partner face down. Warm the oil.",)])),
        outro=("Lift your hands away slowly.",),
        cautions=draw(st.sampled_from([(), ("Never press on the spine.",)])),
        check_in=draw(st.sampled_from([None, CheckIn(every=120.0)])),
    )


def _floor(step: Step) -> float:
    """The least working time --length may give a step."""
    factor = step.shrink if step.shrink is not None else 1.0
    if step.pause is not None:
        return step.pause.lo
    if step.duration is not None:
        return step.duration.lo * factor
    assert step.reps is not None and step.per_rep is not None
    return step.reps.lo * factor * step.per_rep.lo


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routine=guided_routines(), length=st.floats(60, 4 * 3600), noise=st.integers(0, 2**16))
def test_no_long_silence_and_no_step_below_its_floor(
    routine: Routine, length: float, noise: int
) -> None:
    try:
        script = compile(routine, Options(length=length))
    except CompileError:
        return  # a step too short for its own words: refused with a located line
    kept = _fit_length(routine, Options(length=length))[0]
    assert kept.dropped == script.dropped
    assert all(s.optional for s in routine.steps if s not in kept.routine.steps)
    kept = list(kept.routine.steps)
    assert len(kept) == len(script.steps)
    for step, info in zip(kept, script.steps, strict=True):
        if step.reps is not None:
            factor = step.shrink if step.shrink is not None else 1.0
            assert info.reps is not None and info.reps >= step.reps.lo * factor - 1e-9
        else:
            assert info.end - info.start >= _floor(step) - 1e-6, (step, info)
    assert pacing(script).longest_silence <= MAX_SILENCE, pacing(script)
    # real speech is a little longer or shorter than planned: still no long silence
    rng = random.Random(noise)
    laid = layout(script, [c.length * rng.uniform(0.85, 1.15) for c in script.cues])
    assert pacing(laid).longest_silence <= MAX_SILENCE + 2.0, pacing(laid)
    # a guidance line never repeats the line said just before it
    for before, cue in itertools.pairwise(script.cues):
        assert cue.kind != "guidance" or cue.text != before.text, (before, cue)


def test_optional_steps_go_first_and_are_named(runner) -> None:
    routine = loads(FIELDS.replace("duration: 2m\n", "duration: 6m\n"), file="fields.yaml")
    script = compile(routine, Options(length=150))
    assert script.dropped == ("Quiet circles", "Pause")
    assert "left out the optional steps 'Quiet circles', 'Pause'" in script.fit.note
    spread = script.steps[0]
    assert spread.end - spread.start >= 0.7 * 60 - 1e-6


def test_a_target_too_short_says_the_nearest_honest_length_and_what_to_drop() -> None:
    routine = loads(
        "voiceguide: 1\ntitle: T\nsteps:\n"
        "  - {title: Long strokes, say: Glide., duration: 8m}\n"
        "  - {title: Knead, say: Knead., duration: 2m}\n"
    )
    script = compile(routine, Options(length=300))
    assert not script.fit.ok
    assert "the shortest this routine can honestly run is" in script.fit.note
    assert "Leaving out 'Knead' would fit" not in script.fit.note  # 8m alone is too long
    assert script.steps[0].end - script.steps[0].start >= 480 - 1e-6
    script = compile(routine, Options(length=9 * 60))
    assert "Leaving out 'Knead' would fit" in script.fit.note


def test_routines_json_range_is_honest(runner) -> None:
    rows = json.loads(runner.invoke(main, ["routines", "--json"]).output)
    for row in rows:
        routine = load_builtin(row["id"])
        for length in (row["min_seconds"], row["max_seconds"]):
            script = compile(routine, Options(length=max(60.0, length)))
            assert script.fit is not None and script.fit.ok, (row["id"], script.fit)


# ---------------------------------------------------------------- built-in routines

LENGTHS = [None, 15 * 60, 60 * 60]


@pytest.mark.parametrize("length", LENGTHS, ids=["own", "15m", "60m"])
@pytest.mark.parametrize("routine_id", builtin_ids())
def test_builtin_sessions_are_guided(routine_id: str, length: float | None) -> None:
    script = compile(load_builtin(routine_id), Options(length=length))
    assert pacing(script).longest_silence <= MAX_SILENCE
    cues = list(script.cues)
    # the hands have something to do within 20 s of the first word
    first_word = cues[0].at
    first_step = next(c for c in cues if c.kind == "instruction")
    assert first_step.at - first_word <= 20.0
    laid = layout(script, [c.length * 1.15 for c in cues])  # real speech a little slower
    for s in (script, laid):
        intro = [c for c in s.cues if c.kind == "intro"]
        for a, b in itertools.pairwise(intro):
            assert b.at - a.end >= 1.5 - 1e-9
    # counting starts at one
    for step in {c.step for c in cues if c.kind == "count"}:
        counts = [c.text for c in cues if c.kind == "count" and c.step == step]
        assert counts[0] == "One."
    _check_ins_are_well_placed(script, load_builtin(routine_id))


def _check_ins_are_well_placed(script: Script, routine: Routine) -> None:
    hands = [i for i, s in enumerate(script.steps) if s.technique or s.pressure or s.area or s.reps]
    first_work = script.steps[hands[0]].start
    for cue in (c for c in script.cues if c.kind == "check-in"):
        info = script.steps[cue.step]
        assert cue.at >= first_work + 60, cue
        said = [c for c in script.cues if c.step == cue.step and c.kind == "instruction"]
        assert cue.at - said[0].end >= 45 - 1e-9, cue
        assert not info.pause and not info.quiet
    closing = script.steps[-1]
    assert all(c.step != len(script.steps) - 1 for c in script.cues if c.kind == "check-in") or (
        closing.pressure not in ("light", "very light")
    )


WORDS = {
    "light": re.compile(r"\b(light|lightly|gentle|gently|soft|softly)\b", re.I),
    "firm": re.compile(r"\b(firm|firmly|deep|deeper|hard)\b", re.I),
}


@pytest.mark.parametrize("routine_id", builtin_ids())
def test_screen_and_voice_agree_on_pressure(routine_id: str) -> None:
    for step in load_builtin(routine_id).steps:
        level = pressure_level(step.pressure)
        if level is None:
            continue
        text = " ".join([step.say, *(c.say for c in step.cues)])  # cautions may say "never hard"
        if level == "light":
            assert not WORDS["firm"].search(text), (step.title, step.pressure, text)
        else:
            assert not WORDS["light"].search(text), (step.title, step.pressure, text)


def test_lines_that_name_the_bed_follow_the_bed(runner) -> None:
    def intro(*args: str) -> str:
        result = runner.invoke(main, ["show", "oil-and-feedback", "--json", *args])
        return " ".join(c["text"] for c in json.loads(result.output)["cues"][:4])

    assert "the river" in intro()
    assert "the rain" in intro("--ambience", "rain") and "river" not in intro("-a", "rain")
    assert "river" not in intro("--ambience", "none") and "background" not in intro("-a", "none")
    upper = runner.invoke(main, ["show", "upper-lower-therapy", "-a", "music-pad", "--json"]).output
    assert "let the music in the background help you both settle" in upper
    assert "river" not in upper


def test_complete_procedure_lists_its_equipment() -> None:
    checklist = " ".join(compile(load_builtin("complete-procedure")).checklist).lower()
    for thing in ("talcum powder", "warm water", "washcloth", "table", "mat"):
        assert thing in checklist


def test_oil_and_feedback_is_face_down_throughout() -> None:
    routine = load_builtin("oil-and-feedback")
    text = " ".join([*routine.preparation, *(s.say for s in routine.steps)]).lower()
    assert "face down" in text and "sitting" not in text


def test_detailed_narration_reads_like_a_person() -> None:
    script = compile(load_builtin("lower-back-relax"), Options(detail="detailed"))
    said = " ".join(c.text for c in script.cues if c.kind == "instruction")
    assert "The technique is" not in said
    assert "Stretch slowly, over the muscles beside the spine." in said
    assert (
        "Knead slowly, lifting and releasing with firm pressure from your body, over the "
        "sacrum and lumbar area." in said
    )


def test_show_prints_a_pacing_summary(runner) -> None:
    out = runner.invoke(main, ["show", "therapist-ten-step", "--length", "20m"]).output
    line = out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"pacing: talk \d+% of the time, longest silence [0-9ms]+ at \d\d:\d\d .*"
        r"cues a minute",
        line,
    ), line


# ---------------------------------------------------------------- show = render, tempo ticks

TEMPO = """\
voiceguide: 1
title: Tempo
intro: Settle in. {bed} plays softly.
steps:
  - title: Long strokes
    technique: effleurage
    pressure: light
    area: whole back
    say: Glide up the back and float down.
    duration: 30s
"""


def test_show_json_is_what_render_writes_and_ticks_are_heard(runner, tmp_path: Path) -> None:
    """One real render (espeak, the mixer, a WAV decoded back): show plans what render
    writes, and every planned --tempo tick is a soft click in otherwise silent bed."""
    routine = tmp_path / "tempo.yaml"
    routine.write_text(TEMPO)
    options = ["--ambience", "none", "--tempo", "--rate", "140", "--detail", "detailed"]
    shown = json.loads(runner.invoke(main, ["show", str(routine), "--json", *options]).output)
    out, script_json = tmp_path / "s.wav", tmp_path / "s.json"
    result = runner.invoke(
        main, ["render", str(routine), "-o", str(out), "--script", str(script_json), *options]
    )
    assert result.exit_code == 0, result.output
    written = json.loads(script_json.read_text())

    def said(data: dict) -> list[tuple]:
        return [(c["text"], c["kind"], c["step"]) for c in data["cues"]]

    assert said(written) == said(shown)
    assert "plays softly" not in " ".join(t for t, _, _ in said(shown))  # no bed, no line
    for key in ("options", "checklist", "dropped", "title"):
        assert written[key] == shown[key], key
    assert len(written["ticks"]) == len(shown["ticks"]) >= 3

    audio = decode(out)
    mono = np.abs(audio.mean(axis=1))
    rate = 44100
    speech = [(c["at"], c["at"] + c["length"]) for c in written["cues"]]
    for tick in written["ticks"]:
        a = int(tick * rate)
        assert mono[a : a + int(0.03 * rate)].max() > 10 ** (-45 / 20), tick
        # and silence half a second later, away from speech: a tick, not a tone
        later = tick + 0.5
        if not any(s - 0.3 <= later <= e + 0.3 for s, e in speech):
            b = int(later * rate)
            assert mono[b : b + int(0.1 * rate)].max() < 10 ** (-60 / 20), tick


def test_live_edits_move_the_tempo_ticks_with_the_step() -> None:
    script = compile(loads(TEMPO.replace("{bed} plays softly.", "")), Options(tempo=True))
    step = script.steps[0]
    later = [t for t in script.ticks if t > step.start + 15]
    longer = insert_time(script, step.start + 15, 30.0)
    assert [t for t in longer.ticks if t > step.start + 15] == [t + 30 for t in later]
    a, b = step.start + 12, step.start + 22  # ten seconds: at least one 7 s stroke inside
    assert [t for t in script.ticks if a <= t < b]
    shorter = remove_time(script, a, b - a)
    assert list(shorter.ticks) == [t if t < a else t - (b - a) for t in script.ticks
                                   if not a <= t < b]  # fmt: skip


def test_an_intro_too_long_for_the_opening_moves_to_the_checklist() -> None:
    intro = " ".join(
        f"Sentence number {word} is a fairly long line about the room and the oil."
        for word in ("one", "two", "three", "four", "five")
    )
    routine = loads(
        f"voiceguide: 1\ntitle: T\nintro: {intro}\npreparation: [Warm the room.]\n"
        "steps:\n  - {title: Glide, say: Glide up., technique: effleurage, duration: 2m}\n"
    )
    script = compile(routine)
    first_word = script.cues[0].at
    first_step = next(c for c in script.cues if c.kind == "instruction")
    assert first_step.at - first_word <= 20.0
    assert script.checklist[0] == "Warm the room."
    assert any("Sentence number five" in line for line in script.checklist)
    assert any("intro is too long" in w for w in script.warnings)
