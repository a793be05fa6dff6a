"""Resume points: where each live session stopped, so ``play --resume`` can pick it up.

One file per routine and options (a built-in id or a file's absolute path,
plus the options the session was played with), in the user state folder, so
a second session never destroys the first's point. A point records the step
by index *and* title, the side, the repetition and the offset into that side,
with a digest of the routine's text: when the routine has changed since, the
resume says so and goes to the same step by index and title rather than to a
stale time. Points are versioned JSON, written to a temporary file and
renamed; every field is checked on reading, and anything wrong is "damaged",
never a traceback. A session that finishes removes its point.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs

from voiceguide.edits import step_at
from voiceguide.errors import VoiceguideError
from voiceguide.navigation import Segment, repetition, segment_at, segments
from voiceguide.paths import replace_file
from voiceguide.script import Script

VERSION = 2


class DamagedPoint(VoiceguideError):
    """A resume point file that cannot be trusted."""


@dataclass(frozen=True)
class ResumePoint:
    routine: str  # a built-in id or an absolute path
    title: str  # the routine's title, for listings
    digest: str  # sha256 of the routine's text when the point was saved
    options: dict[str, Any]  # every play option, as given
    step: int | None  # index into the script's steps (None: intro or closing)
    step_title: str | None
    side: str | None
    repetition: tuple[int, int] | None
    offset: float  # seconds into that side (or into the session when step is None)
    extra: float = 0.0  # seconds added (+) or taken (-) on this step with + and -
    volume_db: float = 0.0
    saved: float = field(default_factory=time.time)
    version: int = VERSION

    def where(self) -> str:
        """The spot in words: "Kneading, right side" or "the introduction"."""
        if self.step_title is None:
            return "the introduction" if self.offset < 1e-9 or self.step is None else "the end"
        return f"{self.step_title}, {self.side} side" if self.side else self.step_title


def state_dir() -> Path:
    """``$XDG_STATE_HOME``-style user state folder for voiceguide's resume points."""
    return Path(platformdirs.user_state_dir("voiceguide")) / "resume"


def routine_digest(routine: str) -> str:
    """sha256 of a routine's text: a built-in's packaged file or the file at ``routine``."""
    path = Path(routine)
    if path.is_absolute():
        try:
            data = path.read_bytes()
        except OSError:
            return ""
    else:
        try:
            data = (resources.files("voiceguide.routines") / f"{routine}.yaml").read_bytes()
        except OSError:
            return ""
    return hashlib.sha256(data).hexdigest()


def point_path(routine: str, options: dict[str, Any]) -> Path:
    """The one file for this routine and these options."""
    key = json.dumps({"routine": routine, "options": options}, sort_keys=True, default=str)
    name = Path(routine).stem if Path(routine).is_absolute() else routine
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40] or "routine"
    return state_dir() / f"{safe}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"


def make_point(
    routine: str,
    title: str,
    options: dict[str, Any],
    script: Script,
    position: float,
    extensions: list[tuple[float, float]] = (),  # type: ignore[assignment]
    volume_db: float = 0.0,
) -> ResumePoint:
    """The point for ``position`` seconds into ``script`` (the live, edited script)."""
    index = step_at(script, position)
    segment = segment_at(script, position)
    common = {
        "routine": routine,
        "title": title,
        "digest": routine_digest(routine),
        "options": options,
        "volume_db": float(volume_db),
    }
    if index is None or segment is None:
        return ResumePoint(**common, step=None, step_title=None, side=None, repetition=None,
                           offset=max(0.0, position))  # fmt: skip
    step = script.steps[index]
    mine = [(at, s) for at, s in extensions if step.start <= at < step.end]
    before = sum(s for at, s in mine if at <= position)
    return ResumePoint(
        **common, step=index, step_title=step.title, side=segment.side,
        repetition=repetition(script, position),
        offset=max(0.0, position - segment.start - max(0.0, before)),
        extra=sum(s for _, s in mine),
    )  # fmt: skip


def save(point: ResumePoint) -> Path:
    """Write ``point`` atomically to its own file (a temporary file renamed into place)."""
    path = point_path(point.routine, point.options)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(point)
    text = json.dumps(data, indent=1, allow_nan=False)
    replace_file(path, text.encode("utf-8"), prefix=".resume-", durable=True)
    return path


def clear(routine: str, options: dict[str, Any]) -> None:
    """A finished session needs no resume point."""
    with contextlib.suppress(OSError):
        point_path(routine, options).unlink()


def load(path: Path) -> ResumePoint:
    """Read and check one point; anything wrong raises DamagedPoint, in one line."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return _checked(data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        raise DamagedPoint(
            f"{path}: this resume point is damaged; start without --resume (or delete the file)"
        ) from None


def _number(value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError
    return float(value)


def _text(value: Any, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError
    return value


def _checked(data: Any) -> ResumePoint:
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError
    if set(data) != {f for f in ResumePoint.__dataclass_fields__}:
        raise KeyError
    step = data["step"]
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError
    rep = data["repetition"]
    if rep is not None:
        if not (isinstance(rep, list) and len(rep) == 2):
            raise ValueError
        rep = (int(_number(rep[0], 1)), int(_number(rep[1], 1)))
    if not isinstance(data["options"], dict):
        raise TypeError
    return ResumePoint(
        routine=_text(data["routine"]), title=_text(data["title"]), digest=_text(data["digest"]),
        options=data["options"], step=step, step_title=_text(data["step_title"], True),
        side=_text(data["side"], True), repetition=rep, offset=_number(data["offset"], 0.0),
        extra=_number(data["extra"], -86400, 86400), volume_db=_number(data["volume_db"], -60, 20),
        saved=_number(data["saved"], 0.0),
    )  # fmt: skip


def saved_points() -> list[Path]:
    """Every point file, newest first."""
    folder = state_dir()
    try:
        files = [p for p in folder.glob("*.json") if p.is_file()]
    except OSError:
        return []
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)


def latest(routine: str | None = None) -> tuple[ResumePoint, list[ResumePoint]]:
    """The newest point (of ``routine`` when given) and the other sessions' points."""
    files = saved_points()
    if routine is None:
        if not files:
            raise VoiceguideError(
                "nothing to resume: no session was stopped part-way; "
                "start one with: voiceguide play ROUTINE"
            )
        others = []
        for path in files[1:]:
            with contextlib.suppress(DamagedPoint):
                others.append(load(path))
        return load(files[0]), others
    mine: list[ResumePoint] = []
    damaged: DamagedPoint | None = None
    for path in files:
        try:
            point = load(path)
        except DamagedPoint as err:
            damaged = damaged or err
            continue
        if point.routine == routine:
            mine.append(point)
    if not mine:
        if damaged is not None and any(Path(routine).stem in p.name for p in files):
            raise damaged
        raise VoiceguideError(f"nothing to resume for {routine}; start without --resume")
    return mine[0], []


@dataclass(frozen=True)
class Resumed:
    """Where to start in a freshly compiled script, and what to tell the giver."""

    position: float
    segment: Segment | None
    note: str  # '' when the routine is unchanged


def locate(point: ResumePoint, script: Script) -> Resumed:
    """Where ``point`` lands in ``script``: the same step by index and title.

    Unchanged routine: the same side and offset. Changed routine: the step
    with that title nearest the old index (or the step at that index), from
    its start, and a note saying so.
    """
    steps = script.steps
    if point.step is None:
        return Resumed(min(point.offset, script.duration), None, "")
    changed = point.digest != routine_digest(point.routine)
    index = point.step
    same = index < len(steps) and steps[index].title == point.step_title
    note = ""
    if not same:
        changed = True
        titled = [i for i, s in enumerate(steps) if s.title == point.step_title]
        if titled:
            index = min(titled, key=lambda i: abs(i - point.step))  # type: ignore[operator]
        else:
            index = min(point.step, len(steps) - 1)
    if changed:
        note = f"the routine changed since this spot was saved; resuming at step {index + 1}"
        note += f", “{steps[index].title}”" if index >= 0 else ""
        if steps[index].title != point.step_title:
            note += f" (it was “{point.step_title}”)"
    mine = [s for s in segments(script) if s.step == index]
    segment = next((s for s in mine if s.side == point.side), mine[0] if mine else None)
    if segment is None:
        return Resumed(steps[index].start, None, note)
    offset = 0.0 if changed else min(point.offset, max(0.0, segment.end - segment.start - 5.0))
    return Resumed(segment.start + offset, segment, note)


def describe(point: ResumePoint, now: float | None = None) -> str:
    """One line for a listing: routine, spot, age, and the command that resumes it."""
    age = max(0.0, (now or time.time()) - point.saved)
    ago = f"{age / 3600:.0f} h ago" if age >= 3600 else f"{age / 60:.0f} min ago"
    return f"{point.title} at {point.where()} ({ago}): voiceguide play {point.routine} --resume"
