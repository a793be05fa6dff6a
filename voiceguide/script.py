"""The timed script: what the compiler produces and every sink consumes.

It is plain data on purpose. ``show --json`` prints it, ``render --script``
writes it, and the mixer and player read nothing else, so another tool can
read a session without importing voiceguide.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SCRIPT_VERSION = 1

#: Every kind of cue the compiler emits, in no particular order.
CUE_KINDS = (
    "intro",
    "caution",
    "instruction",
    "count",
    "reminder",
    "side",
    "check-in",
    "next",
    "time-left",
    "outro",
    "wait",
    "guidance",
)


@dataclass(frozen=True)
class Cue:
    """One thing said, starting ``at`` seconds into the session.

    ``length`` is the speech length the timing was planned with: the
    compiler's estimate until the layout pass replaces it with the real one.
    ``step`` is the index into ``Script.steps`` (None for intro and outro).
    """

    at: float
    text: str
    kind: str
    step: int | None = None
    length: float = 0.0
    side: str | None = None

    @property
    def end(self) -> float:
        return self.at + self.length


@dataclass(frozen=True)
class Chapter:
    """A span of the session players can skip to; chapters tile the session."""

    title: str
    start: float
    end: float
    step: int | None = None


@dataclass(frozen=True)
class BedSpan:
    """Which ambience bed plays from ``start`` to ``end`` (None = silence)."""

    bed: str | None
    start: float
    end: float


@dataclass(frozen=True)
class StepInfo:
    """What a display needs to know about a step, resolved to real numbers."""

    title: str
    start: float
    end: float
    say: str = ""
    section: str | None = None
    technique: str | None = None
    area: str | None = None
    pressure: str | None = None
    reps: int | None = None
    sides: tuple[str, ...] = ()
    wait: bool = False  # live: hold at this step's end until a key (a file pauses briefly)
    pause: bool = False  # a pause step: bed only, on purpose
    quiet: bool = False  # the routine asked for silence in the working time


@dataclass(frozen=True)
class Fit:
    """How a requested ``--length`` was met."""

    target: float
    achieved: float
    ok: bool
    note: str = ""


@dataclass(frozen=True)
class Script:
    title: str
    duration: float
    cues: tuple[Cue, ...]
    chapters: tuple[Chapter, ...]
    beds: tuple[BedSpan, ...]
    steps: tuple[StepInfo, ...] = ()
    routine_id: str | None = None
    based_on: str | None = None
    fit: Fit | None = None
    options: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    checklist: tuple[str, ...] = ()  # untimed: done before the first word (room, oil, position)
    dropped: tuple[str, ...] = ()  # optional steps left out to meet --length
    ticks: tuple[float, ...] = ()  # --tempo: times of the soft stroke-rate tick under the bed

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data = {"version": SCRIPT_VERSION, **data}
        for key in ("cues", "chapters", "beds", "steps"):
            data[key] = [_rounded(item) for item in data[key]]
        data["duration"] = round(self.duration, 3)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Script:
        """Read back what ``to_dict`` wrote (``show --json``, ``render --script``)."""
        fit = data.get("fit")
        return cls(
            title=data["title"],
            duration=float(data["duration"]),
            cues=tuple(Cue(**c) for c in data["cues"]),
            chapters=tuple(Chapter(**c) for c in data["chapters"]),
            beds=tuple(BedSpan(**b) for b in data.get("beds", ())),
            steps=tuple(
                StepInfo(**{**s, "sides": tuple(s.get("sides", ()))}) for s in data.get("steps", ())
            ),
            routine_id=data.get("routine_id"),
            based_on=data.get("based_on"),
            fit=Fit(**fit) if fit else None,
            options=dict(data.get("options", {})),
            warnings=tuple(data.get("warnings", ())),
            checklist=tuple(data.get("checklist", ())),
            dropped=tuple(data.get("dropped", ())),
            ticks=tuple(float(t) for t in data.get("ticks", ())),
        )


def _rounded(item: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in item.items()}
