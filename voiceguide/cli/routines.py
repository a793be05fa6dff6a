"""Commands about routines and scripts: routines, show, validate, new."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import click

from voiceguide.cli.options import (
    build_options,
    check_readable,
    planned_voice,
    session_options,
    timing_for,
    warn,
)
from voiceguide.compiler import Options, compile, natural_range
from voiceguide.errors import RoutineError, VoiceguideError
from voiceguide.export import write_text
from voiceguide.pacing import pacing_line
from voiceguide.routine import (
    Routine,
    builtin_ids,
    load_builtin,
    load_file,
    load_routine,
    step_count,
)
from voiceguide.script import Script
from voiceguide.templates import starter_routine
from voiceguide.textsafe import printable
from voiceguide.times import format_clock, format_duration


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def routines(as_json: bool) -> None:
    """List the built-in routines.

    \b
    Example:
      voiceguide routines --json
    """
    rows = [routine_row(routine_id, load_builtin(routine_id)) for routine_id in builtin_ids()]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    spans = [_span(r["min_seconds"], r["max_seconds"]) for r in rows]
    width = max((len(r["id"]) for r in rows), default=2)
    span_width = max((len(s) for s in spans), default=6)
    click.echo(f"{'id':<{width}}  {'length':<{span_width}}  {'steps':>5}  title")
    for r, span in zip(rows, spans, strict=True):
        click.echo(f"{r['id']:<{width}}  {span:<{span_width}}  {r['steps']:>5}  {r['title']}")


def routine_row(routine_id: str, routine: Routine) -> dict[str, object]:
    """One entry of ``routines --json`` (``serve`` lists routines with the same fields)."""
    lo, hi = natural_range(routine)
    return {
        "id": routine_id, "title": routine.title, "summary": routine.summary,
        "based_on": routine.based_on, "steps": step_count(routine),
        "min_seconds": round(lo, 1), "max_seconds": round(hi, 1),
    }  # fmt: skip


def _span(lo: float, hi: float) -> str:
    """A length range in whole minutes and seconds: ``28m..43m`` reads at a glance."""
    lo_text, hi_text = format_duration(round(lo)), format_duration(round(hi))
    return lo_text if lo_text == hi_text else f"{lo_text}..{hi_text}"


@click.command()
@click.argument("routine")
@session_options
@click.option(
    "--rate",
    type=click.IntRange(80, 300),
    default=None,
    help="Speech rate to plan for, in words per minute (default: the routine's, the "
    "config file's, or 150, as render would use).",
)
@click.option(
    "--ambience",
    "-a",
    metavar="NAME|FILE|none",
    help="Plan for this bed, as render and play would use it (lines that name the bed follow it).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the timed script as JSON.")
def show(routine: str, rate: int | None, as_json: bool, **session: object) -> None:
    """Print the timed script of ROUTINE (a built-in id or a YAML file).

    It takes every option that changes the script (length, pace, detail,
    counting, check-ins, tempo, ambience, speech rate), so --json is what
    render --script writes before the real speech lengths are known.

    \b
    Examples:
      voiceguide show therapist-ten-step
      voiceguide show my-routine.yaml --length 15m --pace 0.8
      voiceguide show oil-and-feedback --ambience rain --rate 140 --detail detailed
      voiceguide show lower-back-relax --json > session.json
    """
    loaded = load_routine(routine)
    voice = planned_voice(loaded, rate)
    check_readable(loaded, voice)
    options = build_options(wpm=voice.rate, timing=timing_for(voice), **session)  # type: ignore[arg-type]
    script = compile(loaded, options)
    warn(script.warnings)
    if as_json:
        click.echo(script.to_json())
        return
    click.echo(describe(script))
    click.echo("")
    click.echo(pacing_line(script))


def describe(script: Script, cautions: tuple[str, ...] = ()) -> str:
    """A readable script: chapters as headings, each cue with its time and kind."""
    width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))
    lines = [f"{script.title} — {format_duration(round(script.duration))}"]
    if script.based_on:
        lines.append(f"based on: {script.based_on}")
    for item in script.checklist:
        lines.append(f"before you start: {item}")
    for caution in cautions:
        if caution not in script.checklist:
            lines.append(f"caution: {caution}")
    if script.dropped:
        lines.append(f"left out to fit the length: {', '.join(script.dropped)}")
    cues = list(script.cues)
    for chapter in script.chapters:
        length = format_duration(round(chapter.end - chapter.start))
        lines.append("")
        lines.append(f"{format_clock(chapter.start)}  {chapter.title}  ({length})")
        inside = [c for c in cues if chapter.start <= c.at < chapter.end]
        for cue in inside:
            head = f"    {format_clock(cue.at)}  {cue.kind:<11}  "
            body = textwrap.wrap(cue.text, width - len(head)) or [""]
            lines.append(head + body[0])
            lines.extend(" " * len(head) + more for more in body[1:])
    return "\n".join(lines)


_NO_SESSION_OPTIONS: dict[str, Any] = dict.fromkeys(
    ("length", "pace", "detail", "counting", "check_in")
)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check routine FILES without making a sound; exit 2 if any is broken.

    \b
    Example:
      voiceguide validate my-routine.yaml other.yaml
    """
    bad = 0
    for path in files:
        try:
            routine = load_file(path)
            voice = planned_voice(routine)
            check_readable(routine, voice)
            lo, hi = natural_range(routine, Options(wpm=voice.rate, timing=timing_for(voice)))
            planned = compile(
                routine,
                build_options(wpm=voice.rate, timing=timing_for(voice), **_NO_SESSION_OPTIONS),
            )
        except VoiceguideError as err:
            click.echo(printable(str(err)), err=True)
            bad += 1
            continue
        length = format_duration(round(planned.duration))  # what `show` prints
        span = _span(lo, hi)
        fits = f"; --length fits {span}" if span != length else ""
        click.echo(f"{path}: ok ({step_count(routine)} steps, {length}{fits})")
    if bad:
        raise SystemExit(2)


@click.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def new(name: str, force: bool) -> None:
    """Write a commented starter routine NAME.yaml to edit.

    \b
    Example:
      voiceguide new shoulders && voiceguide show shoulders.yaml
    """
    if not Path(name).name.strip() or Path(name).name.startswith((".", "-")):
        raise RoutineError(f"{name!r}: give the routine a name, like shoulders")
    path = Path(name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if not path.resolve().parent.is_dir():
        raise RoutineError(f"{path}: folder {path.resolve().parent} does not exist")
    if path.exists() and not force:
        raise RoutineError(f"{path} already exists (use --force to overwrite)")
    title = path.stem.replace("-", " ").replace("_", " ").strip().capitalize() or "My routine"
    write_text(path, starter_routine(title, path.name))
    click.echo(f"wrote {path}; try: voiceguide show {path}")
