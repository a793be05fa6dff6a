"""The routine: what to do, in which order, for how long, how many times.

A routine is data, not timing: ranges stay ranges here and the compiler
resolves them. Loading validates everything up front so that a typo is found
by ``voiceguide validate`` and not twenty minutes into a massage.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from voiceguide.errors import RoutineError
from voiceguide.times import Range, parse_count_range, parse_seconds, parse_time_range
from voiceguide.yamlnodes import Node, control_character, parse

FORMAT_VERSION = 1

#: How long a ``wait: true`` step without a duration lasts in a rendered file
#: (a file cannot wait for a key; the live player holds instead).
WAIT_SECONDS = 20.0

#: Where a reminder inside a step is said: ``half``, seconds from the start,
#: or (negative) seconds before the end.
CueAt = str | float


@dataclass(frozen=True)
class StepCue:
    at: CueAt
    say: str


@dataclass(frozen=True)
class Step:
    """One step. A pause step has ``pause`` set and nothing to say."""

    title: str
    say: str = ""
    duration: Range | None = None
    reps: Range | None = None
    per_rep: Range | None = None
    count: bool = False
    sides: tuple[str, ...] = ()
    cues: tuple[StepCue, ...] = ()
    caution: str | None = None
    technique: str | None = None
    area: str | None = None
    pressure: str | None = None
    ambience: str | None = None
    pause: Range | None = None
    section: str | None = None
    path: str = ""  # e.g. "steps[3]", for messages that point back at the file
    wait: bool = False  # live: hold after this step until a key; a file: a short announced pause
    optional: bool = False  # dropped first when --length is too short for everything
    shrink: float | None = None  # working time may scale down to this factor (< 1) for --length
    quiet: bool = False  # no added guidance lines in the working time
    origin: str = ""  # "file:line:col" where the step starts, for compile errors

    @property
    def is_pause(self) -> bool:
        return self.pause is not None


DEFAULT_CHECK_IN = "Check in with your partner: is the pressure still comfortable?"


@dataclass(frozen=True)
class CheckIn:
    every: float
    say: str = DEFAULT_CHECK_IN


@dataclass(frozen=True)
class Routine:
    title: str
    steps: tuple[Step, ...]
    summary: str = ""
    based_on: str = ""
    ambience: str | None = "river"
    intro: tuple[str, ...] = ()
    outro: tuple[str, ...] = ()
    cautions: tuple[str, ...] = ()
    preparation: tuple[str, ...] = ()  # the untimed checklist: room, oil, towels, position
    check_in: CheckIn | None = None
    voice: dict[str, Any] = field(default_factory=dict)
    lexicon: dict[str, str] = field(default_factory=dict)
    id: str | None = None
    source: str | None = None


def step_count(routine: Routine) -> int:
    """Steps the hands work through, counted as the live screen counts them (no pauses)."""
    return sum(1 for step in routine.steps if not step.is_pause)


# ---------------------------------------------------------------- loading


def load_routine(spec: str | Path) -> Routine:
    """A built-in routine by id, or a routine file by path."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_file(path)
    builtin = builtin_ids()
    if str(spec) in builtin:
        return load_builtin(str(spec))
    hint = difflib.get_close_matches(str(spec), builtin, n=1)
    suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
    raise RoutineError(
        f"no routine or file named {str(spec)!r}{suggestion}; "
        f"built-in routines: {', '.join(builtin)}"
    )


def load_file(path: Path) -> Routine:
    data = read_small_file(path, "routine file", RoutineError)
    return loads(data, file=str(path), base_dir=path.resolve().parent)


#: A routine is prose; even a 3000-step routine is a few hundred kilobytes.
MAX_FILE_BYTES = 1 << 20


def read_small_file(
    path: Path, what: str, error: type[Exception], limit: int = MAX_FILE_BYTES
) -> bytes:
    """A regular file's bytes, refusing folders, pipes, devices and anything over ``limit``.

    The file is opened without blocking and checked by its open descriptor,
    so a FIFO cannot hang the command and a swap between check and read
    cannot slip a device in.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a {what}") from None
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror})") from None
    kind = _file_kind(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise error(f"{path}: is {kind}, not a {what}")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as err:
            raise error(f"{path}: cannot read ({err.strerror})") from None
    if len(data) > limit:
        raise error(f"{path}: over {limit // (1 << 20)} MB, too big for a {what}")
    return data


def _file_kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def builtin_ids() -> list[str]:
    folder = resources.files("voiceguide.routines")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_builtin(routine_id: str) -> Routine:
    resource = resources.files("voiceguide.routines") / f"{routine_id}.yaml"
    routine = loads(resource.read_bytes(), file=f"{routine_id}.yaml", base_dir=None)
    return _with_id(routine, routine_id)


def _with_id(routine: Routine, routine_id: str) -> Routine:
    from dataclasses import replace

    return replace(routine, id=routine_id)


def loads(data: bytes | str, file: str | None = None, base_dir: Path | None = None) -> Routine:
    """Parse and validate routine text; every problem is a located RoutineError."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    root = parse(raw, file)
    return _Reader(base_dir).routine(root, file)


# ---------------------------------------------------------------- validation

_ROUTINE_KEYS = (
    "voiceguide", "title", "summary", "based_on", "ambience", "intro", "outro",
    "cautions", "preparation", "check_in", "voice", "lexicon", "steps", "sections",
)  # fmt: skip
_STEP_KEYS = (
    "title", "say", "duration", "reps", "per_rep", "count", "sides", "cues", "caution",
    "technique", "area", "pressure", "ambience", "pause", "wait", "optional", "shrink", "quiet",
)  # fmt: skip
_PAUSE_KEYS = ("pause", "title", "ambience", "optional")
_SECTION_KEYS = ("title", "ambience", "steps")
_VOICE_LIMITS = {"rate": (80, 300), "volume": (0.1, 1.0), "pitch": (0, 100)}  # as the options


class _Reader:
    """Turns located YAML nodes into a Routine, failing at the first problem."""

    def __init__(self, base_dir: Path | None) -> None:
        self.base_dir = base_dir

    def routine(self, root: Node, file: str | None) -> Routine:
        fields = _fields(root, _ROUTINE_KEYS, "a routine")
        version = fields.get("voiceguide")
        if version is None:
            raise root.where.error('missing "voiceguide: 1" (the format version) at the top')
        if version.value != FORMAT_VERSION:
            raise version.where.error(
                f"unsupported format version; this voiceguide reads {FORMAT_VERSION}"
            )
        if "title" not in fields:
            raise root.where.error('missing "title"')
        steps = self.all_steps(root, fields)
        return Routine(
            title=_text(fields["title"]),
            steps=steps,
            summary=_opt_text(fields.get("summary")) or "",
            based_on=_opt_text(fields.get("based_on")) or "",
            ambience=self.ambience(fields["ambience"]) if "ambience" in fields else "river",
            intro=_texts(fields.get("intro")),
            outro=_texts(fields.get("outro")),
            cautions=_texts(fields.get("cautions")),
            preparation=_texts(fields.get("preparation")),
            check_in=_check_in(fields.get("check_in")),
            voice=_voice(fields.get("voice")),
            lexicon=_lexicon(fields.get("lexicon")),
            source=file,
        )

    def all_steps(self, root: Node, fields: dict[str, Node]) -> tuple[Step, ...]:
        if "steps" in fields and "sections" in fields:
            raise fields["sections"].where.error('give either "steps" or "sections", not both')
        if "sections" in fields:
            sections = _seq(fields["sections"], "a list of sections")
            if not sections:
                raise fields["sections"].where.error("a routine needs at least one section")
            return tuple(step for node in sections for step in self.section(node))
        if "steps" not in fields:
            raise root.where.error('missing "steps" (or "sections")')
        return self.steps(fields["steps"], section=None, section_ambience=None)

    def section(self, node: Node) -> tuple[Step, ...]:
        fields = _fields(node, _SECTION_KEYS, "a section")
        if "title" not in fields or "steps" not in fields:
            raise node.where.error('a section needs a "title" and "steps"')
        title = _text(fields["title"])
        bed = self.ambience(fields["ambience"]) if "ambience" in fields else None
        return self.steps(fields["steps"], section=title, section_ambience=bed)

    def steps(
        self, node: Node, section: str | None, section_ambience: str | None
    ) -> tuple[Step, ...]:
        children = _seq(node, "a list of steps")
        if not children:
            raise node.where.error("needs at least one step")
        steps = [self.step(child, section) for child in children]
        if section_ambience and steps[0].ambience is None:
            from dataclasses import replace

            steps[0] = replace(steps[0], ambience=section_ambience)
        return tuple(steps)

    def step(self, node: Node, section: str | None) -> Step:
        if node.kind == "scalar" and node.value is None:
            raise node.where.error("empty step: give it a title, what to say and a duration")
        if node.kind == "map" and any(key == "pause" for key, _, _ in node.items):
            return self.pause_step(node, section)
        fields = _fields(node, _STEP_KEYS, "a step")
        if not fields:
            raise node.where.error("empty step: give it a title, what to say and a duration")
        for required in ("title", "say"):
            if required not in fields:
                raise node.where.error(f'a step needs "{required}"')
        wait = _bool(fields["wait"]) if "wait" in fields else False
        duration, reps, per_rep = _step_timing(node, fields, untimed_ok=wait)
        count = _bool(fields["count"]) if "count" in fields else False
        if count and reps is None:
            raise fields["count"].where.error('counting needs "reps" and "per_rep"')
        step = Step(
            title=_text(fields["title"]),
            say=_text(fields["say"]),
            duration=duration,
            reps=reps,
            per_rep=per_rep,
            count=count,
            sides=_sides(fields.get("sides")),
            cues=(),
            caution=_opt_text(fields.get("caution")),
            technique=_opt_text(fields.get("technique")),
            area=_opt_text(fields.get("area")),
            pressure=_opt_text(fields.get("pressure")),
            ambience=self.ambience(fields["ambience"]) if "ambience" in fields else None,
            section=section,
            path=node.where.path,
            wait=wait,
            optional=_bool(fields["optional"]) if "optional" in fields else False,
            shrink=_shrink(fields["shrink"]) if "shrink" in fields else None,
            quiet=_bool(fields["quiet"]) if "quiet" in fields else False,
            origin=_origin(node),
        )
        if "cues" in fields:
            from dataclasses import replace

            step = replace(step, cues=_step_cues(fields["cues"], step))
        return step

    def pause_step(self, node: Node, section: str | None) -> Step:
        fields = _fields(node, _PAUSE_KEYS, "a pause step")
        pause = _time_range(fields["pause"])
        if pause.hi <= 0:
            raise fields["pause"].where.error("a pause must last longer than zero")
        return Step(
            title=_opt_text(fields.get("title")) or "Pause",
            pause=pause,
            ambience=self.ambience(fields["ambience"]) if "ambience" in fields else None,
            section=section,
            path=node.where.path,
            optional=_bool(fields["optional"]) if "optional" in fields else False,
            origin=_origin(node),
        )

    def ambience(self, node: Node) -> str | None:
        """A bed name stays a name; anything path-like becomes an absolute path."""
        value = _text(node)
        if value.lower() == "none":
            return "none"  # silence from here on (None would mean "no change")
        if "/" in value or "." in value:
            path = Path(value).expanduser()
            if not path.is_absolute() and self.base_dir is not None:
                path = self.base_dir / path
            if path.is_dir():
                raise node.where.error(f"{path} is a folder, not an audio file")
            if not path.is_file():
                raise node.where.error(f"no audio file at {path}")
            return str(path)
        names = _bed_names()
        if names and value not in names:
            hint = difflib.get_close_matches(value, names, n=1)
            suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
            raise node.where.error(
                f"unknown ambience {value!r}{suggestion}; bundled beds are {', '.join(names)}, "
                "or give a path to an audio file, or none"
            )
        return value


def _bed_names() -> list[str]:
    """The bundled beds a routine may name (empty if the bundle cannot be read:
    render then says so in its own words)."""
    from voiceguide.ambience import list_beds
    from voiceguide.errors import VoiceguideError

    try:
        return [info.name for info in list_beds()]
    except VoiceguideError:
        return []


def _fields(node: Node, allowed: tuple[str, ...], what: str) -> dict[str, Node]:
    if node.kind != "map":
        raise node.where.error(f"expected {what} (a mapping of fields), got {node.describe()}")
    fields: dict[str, Node] = {}
    for key, key_where, value in node.items:
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
            raise key_where.error(f"unknown field{suggestion}")
        fields[key] = value
    return fields


def _seq(node: Node, what: str) -> tuple[Node, ...]:
    if node.kind != "seq":
        raise node.where.error(f"expected {what}, got {node.describe()}")
    return node.children


def _text(node: Node) -> str:
    value = node.value
    if node.kind != "scalar" or value is None or isinstance(value, bool):
        raise node.where.error(f"expected text, got {node.describe()}")
    if isinstance(value, int | float):
        raise node.where.error(f"expected text, got a number ({value!r}); quote it if you mean it")
    if not isinstance(value, str):  # a date, bytes: YAML types no routine text is
        raise node.where.error(f"expected text, got {node.describe()}; quote it")
    bad = control_character(value)
    if bad is not None:
        raise node.where.error(f"control character {bad} is not allowed in text")
    text = " ".join(value.split())
    if not text:
        raise node.where.error("expected text, got an empty string")
    placeholder = _PLACEHOLDER.search(text)
    if placeholder:
        raise node.where.error(
            f"unknown placeholder {placeholder[0]}; only {{bed}} (the bed playing) is filled in"
        )
    return text


#: ``{bed}`` is the one placeholder: the bed playing when the line is said.
_PLACEHOLDER = re.compile(r"\{(?!bed\})[^{}]*\}")


def _opt_text(node: Node | None) -> str | None:
    return None if node is None else _text(node)


def _texts(node: Node | None) -> tuple[str, ...]:
    """A line or a list of lines (each said as its own cue)."""
    if node is None:
        return ()
    if node.kind == "seq":
        return tuple(_text(child) for child in node.children)
    return (_text(node),)


def _bool(node: Node) -> bool:
    if not isinstance(node.value, bool):
        raise node.where.error(f"expected yes or no (true/false), got {node.describe()}")
    return node.value


def _parsed(node: Node, parser: Callable[[object], Any]) -> Any:
    if node.kind != "scalar":
        raise node.where.error(f"expected a single value, got {node.describe()}")
    try:
        return parser(node.value)
    except ValueError as err:
        raise node.where.error(str(err)) from None


def _time_range(node: Node) -> Range:
    return _parsed(node, parse_time_range)


def _origin(node: Node) -> str:
    """``file:line:col`` of a node, so the compiler can point back at the file."""
    where = node.where
    return f"{where.file}:{where.line}:{where.col}" if where.file else ""


def _shrink(node: Node) -> float:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.1 <= value <= 1:
        raise node.where.error(
            f"expected a factor from 0.1 to 1 (0.7: working time may go down to 70 %), "
            f"got {node.describe()}"
        )
    return float(value)


def _step_timing(
    node: Node, fields: dict[str, Node], untimed_ok: bool = False
) -> tuple[Range | None, Range | None, Range | None]:
    has_duration = "duration" in fields
    has_reps = "reps" in fields or "per_rep" in fields
    if has_duration and has_reps:
        raise node.where.error('give either "duration" or "reps" with "per_rep", not both')
    if has_duration:
        duration = _time_range(fields["duration"])
        if duration.lo <= 0:
            raise fields["duration"].where.error("a step must last longer than zero")
        return duration, None, None
    if not has_reps:
        if untimed_ok:  # a wait step: the player holds; a file gets a short pause
            return Range(WAIT_SECONDS, WAIT_SECONDS), None, None
        raise node.where.error('a step needs "duration", or "reps" with "per_rep"')
    if "reps" not in fields or "per_rep" not in fields:
        raise node.where.error('"reps" and "per_rep" go together: how many, and how long each')
    reps = _parsed(fields["reps"], parse_count_range)
    per_rep = _time_range(fields["per_rep"])
    if per_rep.lo <= 0:
        raise fields["per_rep"].where.error("a repetition must last longer than zero")
    if reps.hi * per_rep.hi > 8 * 3600:
        raise fields["reps"].where.error("reps × per_rep is over the 8 hour limit")
    return None, reps, per_rep


def _sides(node: Node | None) -> tuple[str, ...]:
    if node is None:
        return ()
    sides = tuple(_text(child) for child in _seq(node, "a list of sides like [left, right]"))
    if len(sides) < 2:
        raise node.where.error("list at least two sides, like [left, right]")
    if len(set(sides)) != len(sides):
        raise node.where.error("each side once")
    return sides


def _working_floor(step: Step) -> float:
    """The shortest working time a step can have, for checking cue times."""
    if step.duration is not None:
        return step.duration.lo
    assert step.reps is not None and step.per_rep is not None
    return step.reps.lo * step.per_rep.lo


def _step_cues(node: Node, step: Step) -> tuple[StepCue, ...]:
    cues = []
    floor = _working_floor(step)
    for child in _seq(node, "a list of cues like [{at: half, say: ...}]"):
        fields = _fields(child, ("at", "say"), "a cue")
        if "at" not in fields or "say" not in fields:
            raise child.where.error('a cue needs "at" and "say"')
        at = _cue_at(fields["at"], floor)
        cues.append(StepCue(at=at, say=_text(fields["say"])))
    return tuple(cues)


def _cue_at(node: Node, floor: float) -> CueAt:
    value = node.value
    if value == "half":
        return "half"
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        value = f"-{-value}"  # an unquoted -30 means the same as "-30s"
    if isinstance(value, str) and value.strip().startswith("-"):
        seconds = -_parsed(Node("scalar", node.where, value=value.strip()[1:]), parse_seconds)
    else:
        try:
            seconds = parse_seconds(value)
        except ValueError:
            raise node.where.error(
                'expected "half", a time like "30s", or "-30s" from the end'
            ) from None
    if abs(seconds) >= floor:
        raise node.where.error(
            f"{value} is past the end of the step (it can be as short as {floor:g}s)"
        )
    return seconds


def _check_in(node: Node | None) -> CheckIn | None:
    if node is None:
        return None
    fields = _fields(node, ("every", "say"), "a check-in like {every: 5m, say: ...}")
    if "every" not in fields:
        raise node.where.error('a check-in needs "every"')
    every = _parsed(fields["every"], parse_seconds)
    if every < 60:
        raise fields["every"].where.error("check in at most once a minute")
    if "say" in fields:
        return CheckIn(every=every, say=_text(fields["say"]))
    return CheckIn(every=every)


def _voice(node: Node | None) -> dict[str, Any]:
    if node is None:
        return {}
    fields = _fields(node, ("voice", "rate", "volume", "pitch"), "voice settings")
    voice: dict[str, Any] = {}
    for key, child in fields.items():
        if key == "voice":
            voice[key] = _text(child)
            continue
        lo, hi = _VOICE_LIMITS[key]
        value = child.value
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise child.where.error(f"expected a number from {lo} to {hi}")
        if key != "volume" and value != int(value):
            raise child.where.error(f"expected a whole number from {lo} to {hi}")
        voice[key] = float(value) if key == "volume" else int(value)
    return voice


def _lexicon(node: Node | None) -> dict[str, str]:
    if node is None:
        return {}
    if node.kind != "map":
        raise node.where.error("expected a mapping of word: respelling")
    lexicon = {}
    for key, key_where, value in node.items:
        bad = control_character(key)
        if bad is not None:
            raise key_where.error(f"control character {bad} is not allowed in a word")
        lexicon[key] = _text(value)
    return lexicon
