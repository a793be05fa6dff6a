"""Where the last live session stopped, so ``play --resume`` can pick it up."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

from voiceguide.edits import step_at
from voiceguide.script import Script


@dataclass(frozen=True)
class ResumePoint:
    routine: str  # a built-in id or an absolute path
    step_title: str | None
    offset: float  # seconds into that step (or into the session when step_title is None)


def state_path() -> Path:
    return Path(platformdirs.user_state_dir("voiceguide")) / "resume.json"


def save(routine: str, script: Script, position: float) -> ResumePoint:
    index = step_at(script, position)
    if index is None:
        point = ResumePoint(routine, None, position)
    else:
        step = script.steps[index]
        point = ResumePoint(routine, step.title, position - step.start)
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(asdict(point)), encoding="utf-8")
    os.replace(tmp, path)
    return point


def load() -> ResumePoint | None:
    try:
        data = json.loads(state_path().read_text(encoding="utf-8"))
        return ResumePoint(**data)
    except (OSError, ValueError, TypeError):
        return None


def position(point: ResumePoint, script: Script) -> float:
    """Where to start in ``script`` (which may have been compiled with other options)."""
    if point.step_title is not None:
        for step in script.steps:
            if step.title == point.step_title:
                return step.start + min(point.offset, max(0.0, step.end - step.start - 5.0))
    return min(point.offset, script.duration)
