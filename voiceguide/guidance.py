"""Words that keep long working times guided: per-technique lines, detail phrasing, stroke rates.

A minute of bed with nothing said leaves the giver wondering whether the
session stalled. The compiler fills long quiet stretches with short, calm lines
written for what the hands are doing (pace, pressure, where, breathing), drawn
from the step's own reminders and from the pools below. Pure data and string
work: the compiler decides *when*, this module only *what*.
"""

from __future__ import annotations

import re

#: Technique families; a step's ``technique`` (or, failing that, its words) picks one.
_FAMILY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("forearm", ("forearm",)),
    ("thumb", ("thumb",)),
    ("kneading", ("knead", "petrissage", "squeeze")),
    ("circles", ("circle", "circular", "friction")),
    ("stretch", ("stretch", "push", "pull")),
    ("percussion", ("tapotement", "tap", "cupping", "hacking", "pluck", "rolling", "roll")),
    ("effleurage", ("effleurage", "stroke", "stroking", "sweep", "glide", "spread")),
    ("breath", ("breath", "breathe")),
)

#: Lines for the working time, by family. Written for oily hands and a busy head:
#: short, second person, one idea each.
POOLS: dict[str, tuple[str, ...]] = {
    "effleurage": (
        "Keep the strokes long and slow, all the way to the end of each one.",
        "Let your whole palm stay in contact as you glide.",
        "Lead with the heels of your hands going up, and let them float back down.",
        "Match the strokes to your own breathing: up on the in-breath, down on the out.",
        "No hurry. One long stroke every few breaths is plenty.",
        "Keep the rhythm even, so your partner can tell where your hands will go next.",
    ),
    "kneading": (
        "Lift and roll the muscle between your hands, then let it go.",
        "Keep your fingers soft; the squeeze comes from the whole hand, not the tips.",
        "Move slowly along the muscle, a hand's width at a time.",
        "Lean in from your body so your hands stay relaxed.",
        "Breathe out as you squeeze, and in as you release.",
        "If the muscle feels tight, stay a little longer there before moving on.",
    ),
    "circles": (
        "Keep the circles small and slow, moving the muscle rather than the skin.",
        "Let the circles drift slowly over the whole area, not just one spot.",
        "Keep the circles on the muscle, off the bones.",
        "Ease off for a few circles, then settle back in.",
        "Keep your shoulders low and your wrists loose.",
        "Breathe slowly; let your hands take on the same pace.",
    ),
    "thumb": (
        "Press, hold for a breath, then slide a little further along.",
        "Keep your thumbs on the muscle, never on bone.",
        "Let your weight do the work, not the thumb joints.",
        "Slow down where the muscle feels firm or knotted.",
        "Rest your fingers lightly on the back to steady your thumbs.",
        "Keep breathing slowly; your pressure follows your breath.",
    ),
    "forearm": (
        "Keep the forearm broad and flat, not the point of the elbow.",
        "Slide slowly, and let your body weight set the pressure.",
        "Keep the forearm moving; never let your weight rest in one spot for long.",
        "Ease your weight back a little as you come near the bony parts.",
        "Slow and steady; a forearm covers a lot of ground.",
    ),
    "stretch": (
        "Move into the stretch slowly and hold it softly.",
        "Let the stretch come from leaning your body, not from pushing with your arms.",
        "Breathe out as you lengthen, and release as slowly as you began.",
        "Keep both hands off the spine.",
        "Ask for nothing more than a gentle, easy stretch.",
    ),
    "percussion": (
        "Keep your wrists loose and the rhythm light and even.",
        "Move steadily over the thick muscles, away from the bones.",
        "Let the movement come from loose hands, not stiff arms.",
        "Slow down now and then, so it never feels rushed.",
        "Watch your partner's breathing; ease off if it tightens.",
    ),
    "breath": (
        "Breathe in slowly through your nose, and let it go through your mouth.",
        "Let each breath out be a little longer than the one before.",
        "Notice your shoulders, and let them drop.",
        "Let your hands rest and feel the back rise and fall.",
    ),
    "setup": (
        "Take your time with this; there is no rush.",
        "Breathe slowly while you get ready.",
        "When you are both ready, the massage goes on from here.",
    ),
    "general": (
        "Keep your movements slow and unhurried.",
        "Stay in contact with the back; one hand can rest while the other works.",
        "Keep breathing slowly, and let your hands follow that pace.",
        "Watch your partner's breathing: long, slow breaths mean the pressure suits them.",
        "Keep your shoulders low and your hands soft.",
        "If a spot feels tight, stay there a little longer, gently.",
    ),
}

#: Pressure-specific lines, added to the pool when the step names a pressure.
PRESSURE_LINES: dict[str, tuple[str, ...]] = {
    "light": (
        "Keep the touch light, just enough to move over the skin.",
        "Light and slow; this part is about warmth, not depth.",
    ),
    "medium": (
        "Steady, medium pressure: firm enough to feel the muscle, never sharp.",
        "Sink in a little as the muscle softens, then hold that depth.",
    ),
    "firm": (
        "Lean in from your body for the deeper pressure, and keep it slow.",
        "Deep, but never sharp: ease off at once if your partner tenses.",
    ),
}

#: Seconds per stroke for the optional tempo pulse (``--tempo``), by family.
STROKE_SECONDS: dict[str, float] = {
    "effleurage": 7.0,
    "kneading": 3.0,
    "circles": 4.0,
    "thumb": 5.0,
    "forearm": 7.0,
    "stretch": 8.0,
    "percussion": 2.0,
    "breath": 6.0,
    "general": 6.0,
    "setup": 6.0,
}

_PRESSURE_FAMILY = (
    ("light", ("light", "gentle", "soft", "feather")),
    ("firm", ("firm", "deep", "strong", "hard")),
    ("medium", ("medium", "moderate", "steady")),
)


def family(technique: str | None, say: str = "") -> str:
    """The technique family of a step: from its ``technique``, else from its words."""
    for text in (technique or "", say):
        lowered = text.lower()
        for name, words in _FAMILY_WORDS:
            if any(re.search(rf"\b{w}", lowered) for w in words):
                return name
    return "general"


def pressure_level(pressure: str | None) -> str | None:
    """``light``, ``medium`` or ``firm`` for what a routine writes ("deep but comfortable")."""
    if not pressure:
        return None
    lowered = pressure.lower()
    for level, words in _PRESSURE_FAMILY:
        if any(w in lowered for w in words):
            return level
    return None


def hands_on(
    technique: str | None, pressure: str | None, area: str | None, reps: bool, say: str = ""
) -> bool:
    """Whether a step has the hands on the back (not setting up the room or the oil,
    nor breathing before the touch)."""
    if technique or pressure or area or reps:
        return True
    return family(None, say) not in ("general", "breath")


def pool(
    technique: str | None, say: str, pressure: str | None, on_the_back: bool = True
) -> list[str]:
    """The lines to rotate through in one step's working time.

    A step's own reminders are said at their own times; these come between them.
    """
    if family(technique, say) == "breath":
        return list(POOLS["breath"])
    if not on_the_back:
        return list(POOLS["setup"])
    lines: list[str] = []
    level = pressure_level(pressure)
    if level:
        lines += PRESSURE_LINES[level]
    lines += POOLS[family(technique, say)]
    if level in ("medium", "firm"):  # light lines would contradict the step
        lines = [line for line in lines if "light" not in line.lower()]
    return list(dict.fromkeys(lines))


def stroke_seconds(technique: str | None, say: str) -> float:
    return STROKE_SECONDS[family(technique, say)]


# ---------------------------------------------------------------- detailed narration

_VERBS = {
    "effleurage": "Glide in long, even strokes",
    "kneading": "Knead slowly, lifting and releasing",
    "circles": "Work in small, slow circles",
    "thumb": "Press and slide with your thumbs",
    "forearm": "Let your forearm glide slowly",
    "stretch": "Stretch slowly",
    "percussion": "Keep a quick, even rhythm",
    "breath": "Breathe slowly",
    "general": "Work slowly",
    "setup": "Take your time",
}
_PRESSURE_WORDS = {
    "light": "with a light touch",
    "medium": "with steady, medium pressure",
    "firm": "with firm pressure from your body",
}


def detail_line(technique: str | None, pressure: str | None, area: str | None, say: str) -> str:
    """One spoken sentence for ``--detail detailed``: how, how hard and where.

    "Now stretch slowly, with a light touch, across the lower back." reads like
    a person; "The technique is stretching." reads like a form.
    """
    if not (technique or pressure or area):
        return ""
    parts = [_VERBS[family(technique, say)]]
    level = pressure_level(pressure)
    if level:
        parts.append(_PRESSURE_WORDS[level])
    elif pressure:
        parts.append(f"with {pressure} pressure")
    line = " ".join(parts)
    if area:
        line += f", over the {_lower(area)}"
    return line + "."


def _lower(text: str) -> str:
    first, _, rest = text.partition(" ")
    if first[1:2].isupper():
        return text
    return first[:1].lower() + first[1:] + (f" {rest}" if rest else "")


# ---------------------------------------------------------------- beds in words

#: How a line names a bundled bed: "{bed}" in a routine's text becomes these words.
BED_WORDS = {
    "river": "the river",
    "rain": "the rain",
    "ocean": "the waves",
    "music-pad": "the music",
    "music-bells": "the bells",
}
_BED_SENTENCE = re.compile(r"[^.!?]*\{bed\}[^.!?]*[.!?]?\s*")


def with_bed(text: str, bed: str | None) -> str:
    """``{bed}`` filled with the bed actually playing; without a nameable bed the
    sentences that name it are left out (so nothing is said about a river that is not there)."""
    if "{bed}" not in text:
        return text
    words = BED_WORDS.get(bed or "")
    if words is None:
        return " ".join(_BED_SENTENCE.sub("", text).split())
    out = text.replace("{bed}", words)
    return re.sub(r"(^|[.!?]\s+)(the)", lambda m: m[1] + "The", out)
