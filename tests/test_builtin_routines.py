"""The five built-in routines: they load, compile, and keep the facts of their guides.

Each routine follows one source guide (``based_on``). The per-routine tests pin the
facts that came from that guide (order, repetitions, minutes, sides, cautions), so
an edit that drops or changes one fails here rather than in someone's massage.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from voiceguide.compiler import Options, compile, natural_range
from voiceguide.routine import Routine, Step, builtin_ids, load_builtin
from voiceguide.times import Range

BASED_ON = {
    "therapist-ten-step": "Benefits of Back Massage ... for back pain and overall health!",
    "oil-and-feedback": "Learn How to Give the Best Back Massages",
    "upper-lower-therapy": "Upper & Lower Back Massage Therapy",
    "complete-procedure": "How to Do Back Massage – Complete Procedure",
    "lower-back-relax": "Lower Back Relaxation Massage",
}
IDS = sorted(BASED_ON)
BEDS = {"river", "rain", "ocean", "music-pad", "music-bells"}

_ROUTINES: dict[str, Routine] = {}


def routine(routine_id: str) -> Routine:
    if routine_id not in _ROUTINES:
        _ROUTINES[routine_id] = load_builtin(routine_id)
    return _ROUTINES[routine_id]


def step(r: Routine, fragment: str) -> Step:
    """The one step whose title contains ``fragment`` (case-insensitive)."""
    found = [s for s in r.steps if s.title.lower() == fragment.lower()] or [
        s for s in r.steps if fragment.lower() in s.title.lower()
    ]
    assert len(found) == 1, f"expected one step titled like {fragment!r}, got {found}"
    return found[0]


def index(r: Routine, fragment: str) -> int:
    return r.steps.index(step(r, fragment))


def sections(r: Routine) -> list[str]:
    out: list[str] = []
    for s in r.steps:
        if s.section and (not out or out[-1] != s.section):
            out.append(s.section)
    return out


def techniques(r: Routine) -> list[str]:
    return [s.technique for s in r.steps if s.technique]


def spoken(r: Routine) -> list[str]:
    """Every line of the routine's own narration."""
    lines = [*r.intro, *r.outro, *r.cautions]
    if r.check_in:
        lines.append(r.check_in.say)
    for s in r.steps:
        lines += [s.say] if s.say else []
        lines += [s.caution] if s.caution else []
        lines += [c.say for c in s.cues]
    return lines


def r_(lo: float, hi: float | None = None) -> Range:
    return Range(float(lo), float(lo if hi is None else hi))


# ---------------------------------------------------------------- every routine


def test_all_five_are_built_in() -> None:
    assert set(IDS) <= set(builtin_ids())


@pytest.mark.parametrize("routine_id", IDS)
def test_loads_with_metadata(routine_id: str) -> None:
    r = routine(routine_id)
    assert r.id == routine_id
    assert r.title and r.summary and r.intro and r.outro and r.cautions
    assert r.based_on == BASED_ON[routine_id]
    assert r.ambience in BEDS


def test_ambience_mostly_river_with_some_variety() -> None:
    beds = [routine(i).ambience for i in IDS]
    assert beds.count("river") >= 3
    assert len(set(beds)) >= 2


@pytest.mark.parametrize("routine_id", IDS)
def test_natural_length_is_realistic(routine_id: str) -> None:
    lo, hi = natural_range(routine(routine_id))
    assert 8 * 60 <= lo < hi <= 45 * 60


@pytest.mark.parametrize("routine_id", IDS)
@pytest.mark.parametrize("length", [None, 15 * 60, 30 * 60])
def test_compiles(routine_id: str, length: float | None) -> None:
    script = compile(routine(routine_id), Options(length=length))
    assert script.cues and script.chapters
    assert script.based_on == BASED_ON[routine_id]
    if length is not None:
        assert script.fit is not None and script.fit.ok, script.warnings
        assert abs(script.duration - length) <= 0.02 * length
    assert not [w for w in script.warnings if "no room" in w]


@pytest.mark.parametrize("routine_id", IDS)
def test_detailed_and_minimal_compile(routine_id: str) -> None:
    for detail in ("minimal", "detailed"):
        compile(routine(routine_id), Options(detail=detail, counting=True))


@pytest.mark.parametrize("routine_id", IDS)
def test_narration_reads_well_aloud(routine_id: str) -> None:
    for line in spoken(routine(routine_id)):
        line = line.replace("{bed}", "the river")  # the one placeholder
        assert not re.search(r"[0-9()\[\]{}<>/&%#*_~`\"|]", line), line
        sentences = [x for x in re.split(r"(?<=[.!?])\s+", line) if x]
        assert len(sentences) <= 3, line
    for s in routine(routine_id).steps:
        for text in (s.technique, s.area, s.pressure):
            assert text is None or not re.search(r"[0-9()/&]|^the ", text), text


SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="source guides not present")
@pytest.mark.parametrize("routine_id", IDS)
def test_narration_is_not_copied_from_the_guides(routine_id: str) -> None:
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z']+", text.lower())

    def grams(ws: list[str], n: int = 7) -> set[tuple[str, ...]]:
        return {tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)}

    guides: set[tuple[str, ...]] = set()
    for seed in SEEDS.glob("*.txt"):
        guides |= grams(words(seed.read_text(encoding="utf-8")))
    for line in spoken(routine(routine_id)):
        assert not grams(words(line)) & guides, line


# ---------------------------------------------------------------- therapist-ten-step


def test_ten_step_order_and_facts() -> None:
    r = routine("therapist-ten-step")
    assert sections(r) == [
        "Warm up the back", "Left side of the back", "Right side of the back", "Neck and scalp",
    ]  # fmt: skip
    assert r.steps[0].title == "Warm the oil"
    light = step(r, "Light massage")
    assert light.duration == r_(300, 360) and light.pressure == "light"
    for side in ("left", "right"):
        sweep = step(r, f"Sweeps beside the spine on the {side}")
        assert sweep.reps == r_(3, 4) and sweep.count
        assert "spine" in (sweep.caution or "")
        assert step(r, f"Three fingertips down the {side}").reps == r_(3, 4)
        assert step(r, f"Forearm along the {side}").reps == r_(3, 4)
        assert step(r, f"Circles on the lower back, {side}").duration == r_(120, 180)
        buttock = step(r, f"Upper buttock, {side}")
        assert "one to two inches" in (buttock.caution or "")
        assert buttock.pressure == "light"
        # thumbs, fingertips, forearm, lower back, buttock: the guide's order
        order = [
            index(r, f"Sweeps beside the spine on the {side}"),
            index(r, f"Thumbs down the {side}"),
            index(r, f"Three fingertips down the {side}"),
            index(r, f"Forearm along the {side}"),
            index(r, f"Circles on the lower back, {side}"),
            index(r, f"Upper buttock, {side}"),
        ]
        assert order == sorted(order) and order[-1] - order[0] == 5
    assert index(r, "Upper buttock, left") < index(r, "Sweeps beside the spine on the right")
    neck = step(r, "Sides of the neck")
    assert neck.sides == ("left", "right")
    assert index(r, "Sides of the neck") < index(r, "Base of the skull")
    assert index(r, "Sweeps over the whole back") < index(r, "A little more on the lower back")
    assert index(r, "Sweep up to the base of the skull") < index(r, "Scalp massage")
    assert r.steps[-1].title == "Scalp massage" and r.steps[-1].duration == r_(60, 120)
    assert any("spine" in c for c in r.cautions)


def test_ten_step_counts_and_side_switch_come_out_right() -> None:
    script = compile(routine("therapist-ten-step"))
    counts = [c.text for c in script.cues if c.kind == "count"]
    assert counts.count("Four. Last one.") == 6  # three counted steps, each side
    sides = [c.text for c in script.cues if c.kind == "side"]
    assert sides == ["Now the other side: the right."]


# ---------------------------------------------------------------- oil-and-feedback


def test_oil_and_feedback_asks_throughout() -> None:
    r = routine("oil-and-feedback")
    assert sections(r) == ["Prepare the space", "Massage the back", "Tailor the finish"]
    assert r.check_in is not None and r.check_in.every <= 5 * 60
    assert "pressure" in r.check_in.say
    room = step(r, "Set the room").say
    assert "essential oil" in room and "lights" in room and "towel" in room
    position = step(r, "comfortable position").say
    assert "face down" in position and "sitting" not in position  # one position throughout
    assert "attention" in step(r, "Ask where to focus").say
    asking = [s for s in r.steps if s.say.startswith("Ask") or " ask " in s.say.lower()]
    assert len(asking) >= 3
    assert index(r, "Ask where to focus") < index(r, "Warm the oil")
    assert index(r, "Ask what they would like") < index(r, "Their favourite spot")
    assert any("specialist" in line for line in r.outro)
    script = compile(r)
    assert len([c for c in script.cues if c.kind == "check-in"]) >= 3


def test_oil_and_feedback_technique_order() -> None:
    r = routine("oil-and-feedback")
    warm, glide, knead = (index(r, t) for t in ("Warm the oil", "Long flowing", "Knead section"))
    assert warm < glide < knead < index(r, "Strokes and short presses") < index(r, "The neck")
    assert step(r, "Long flowing").technique == "effleurage"
    assert "spine" in (step(r, "Knead section").caution or "")
    assert any("spine" in c for c in r.cautions)


# ---------------------------------------------------------------- upper-lower-therapy


def test_upper_lower_sections_and_order() -> None:
    r = routine("upper-lower-therapy")
    assert sections(r) == ["Preparation", "Upper back", "Lower back", "Rest"]
    upper = [s.technique for s in r.steps if s.section == "Upper back" and s.technique]
    assert upper == ["effleurage", "thumb circles", "kneading", "cross-fibre friction"]
    lower = [s.technique for s in r.steps if s.section == "Lower back" and s.technique]
    assert lower == [
        "effleurage", "kneading", "circular friction", "sustained thumb pressure",
        "stretching", "effleurage",
    ]  # fmt: skip
    assert index(r, "Warm your hands") < index(r, "Position at the head")
    assert "face down" in step(r, "Position at the head").say
    assert "hips" in step(r, "Move to the hips").say


def test_upper_lower_counts_and_cautions() -> None:
    r = routine("upper-lower-therapy")
    for title in ("Warm-up strokes, upper back", "Warm-up strokes, lower back", "Finishing"):
        s = step(r, title)
        assert s.reps == r_(3, 5) and s.count, title
    assert step(r, "Warm-up strokes, upper back").pressure == "gentle"
    assert step(r, "Warm-up strokes, lower back").pressure == "gentle to moderate"
    assert "spine" in (step(r, "Circles on the lower back").caution or "")
    assert step(r, "Circles on the lower back").pressure == "firm"
    assert "comfortable" in (step(r, "Thumb circles").caution or "")
    assert "hold" in step(r, "Thumb presses").say
    assert "release" in step(r, "Thumb presses").say
    rest = r.steps[-1]
    assert rest.is_pause and rest.pause is not None and rest.pause.lo >= 60
    assert "towel or a blanket" in r.steps[-2].say


# ---------------------------------------------------------------- complete-procedure


def test_complete_procedure_four_techniques() -> None:
    r = routine("complete-procedure")
    four = [s for s in r.steps if s.section == "The four techniques"]
    assert [s.technique for s in four] == ["effleurage", "petrissage", "tapotement", "friction"]
    for s in four:
        assert s.duration == r_(180, 300), s.title
    tapping = step(r, "Tapotement")
    assert "fists" in tapping.say
    assert "spine" in (tapping.caution or "") and "kidneys" in (tapping.caution or "")
    assert sections(r) == ["Getting ready", "The four techniques", "Finish"]
    assert "face down" in r.steps[0].say
    assert "temperature" in step(r, "Light and warmth").say
    finish = r.steps[-1]
    assert finish.section == "Finish" and finish.pressure == "very light"


def test_complete_procedure_keeps_three_to_five_minutes_at_natural_length() -> None:
    script = compile(routine("complete-procedure"))
    for info in script.steps:
        if info.technique in ("effleurage", "petrissage", "tapotement", "friction") and (
            info.section == "The four techniques"
        ):
            assert 180 <= info.end - info.start <= 300, info.title


# ---------------------------------------------------------------- lower-back-relax


def test_lower_back_order() -> None:
    r = routine("lower-back-relax")
    assert [s.title for s in r.steps[:2]] == ["Slow yourself down", "Your partner breathes"]
    assert techniques(r) == [
        "rolling", "kneading", "forearm kneading", "plucking", "stroking",
        "stretching", "stretching",
    ]  # fmt: skip
    assert "shoulders" in step(r, "Rolling").say
    assert "thumbs" in step(r, "Thumb kneading").say
    assert r.steps[-1].title == "Sacral push"
    assert r.ambience != "river"


def test_lower_back_counts_sides_and_cautions() -> None:
    r = routine("lower-back-relax")
    for title in ("Plucking", "Stroking"):
        s = step(r, title)
        assert s.reps == r_(3, 5) and s.count, title
    stretch = step(r, "Pulling-apart")
    assert stretch.sides == ("left", "right")
    assert "spine" in (stretch.caution or "")
    assert "Cross your hands" in stretch.say
    push = step(r, "Sacral push")
    assert "towel" in push.say and "head" in push.say
    assert push.pressure == "very gentle" and "hard" in (push.caution or "")
    assert "pain" in (step(r, "Thumb kneading").caution or "")
    assert any("spine" in c for c in r.cautions)
    script = compile(r)
    sides = [c for c in script.cues if c.kind == "side"]
    assert [c.text for c in sides] == ["Now the other side: the right."]
    first = next(c for c in script.cues if c.kind == "instruction" and "Cross" in c.text)
    assert first.text.endswith("Start on the left side.")
