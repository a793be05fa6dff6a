"""``voiceguide play``: guide a massage live, hands free."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from voiceguide.cli.options import mix_options, session_options, session_setup
from voiceguide.cli.speech import voice_options
from voiceguide.errors import VoiceguideError
from voiceguide.keys import KEY_HELP
from voiceguide.routine import load_routine
from voiceguide.script import Script
from voiceguide.times import format_clock

_KEYS = "\n".join(f"  {key:<6} {what}" for key, what in KEY_HELP.items())


@click.command(epilog=f"\b\nKeys (on a terminal; any keyboard or foot pedal that types):\n{_KEYS}")
@click.argument("routine")
@click.option(
    "--from",
    "from_step",
    metavar="STEP",
    help="Start at a step: its number (1 is the first) or part of its title.",
)
@click.option("--resume", is_flag=True, help="Start where the last session was stopped.")
@session_options
@voice_options
@mix_options
def play(routine: str, from_step: str | None, resume: bool, **options: Any) -> None:
    """Guide a massage live: start it, put the device down, work.

    With no keys pressed it runs from the first word to the last and exits.
    Quitting (q or Ctrl-C) saves the spot for --resume.

    \b
    Examples:
      voiceguide play therapist-ten-step
      voiceguide play lower-back-relax --length 20m --ambience rain
      voiceguide play therapist-ten-step --from 4
      voiceguide play therapist-ten-step --resume
    """  # fmt: skip
    from voiceguide import resume as resume_state
    from voiceguide.keys import KeyReader
    from voiceguide.live import LiveSession
    from voiceguide.player import Player, SimpleaudioSink
    from voiceguide.screen import PlainLog, Screen

    loaded = load_routine(routine)
    key = loaded.id or str(Path(routine).resolve())
    setup = session_setup(loaded, options)
    start = _start(setup.script, from_step, resume, key)
    sink = SimpleaudioSink()
    sink.probe()
    session = LiveSession(setup.script, setup.voice, setup.lexicon, setup.settings, start=start)
    session.start()
    tty = sys.stdout.isatty()
    with Screen() if tty else PlainLog() as display, KeyReader() as keys:
        player = Player(session, sink, clock=_clock(), keys=keys, display=display, start=start)
        outcome = player.run()
    if session.error is not None:
        raise session.error
    if outcome.finished:
        click.echo("voiceguide: session complete", err=True)
        return
    point = resume_state.save(key, session.script, outcome.position)
    where = f"{point.step_title} ({format_clock(outcome.position)})" if point.step_title else (
        format_clock(outcome.position))  # fmt: skip
    if outcome.error is not None:
        raise VoiceguideError(
            f"{outcome.error}; stopped at {where}. Resume with: voiceguide play {routine} --resume"
        )
    click.echo(f"voiceguide: stopped at {where}; resume with: voiceguide play {routine} --resume",
               err=True)  # fmt: skip


def _clock():  # type: ignore[no-untyped-def]
    """The real clock; tests set VOICEGUIDE_PLAY_CLOCK=virtual to play an hour in seconds."""
    from voiceguide.player import RealClock, VirtualClock

    return VirtualClock() if os.environ.get("VOICEGUIDE_PLAY_CLOCK") == "virtual" else RealClock()


def _start(script: Script, from_step: str | None, resume: bool, key: str) -> float:
    from voiceguide import resume as resume_state

    if from_step and resume:
        raise VoiceguideError("give --from or --resume, not both")
    if resume:
        point = resume_state.load()
        if point is None or point.routine != key:
            raise VoiceguideError(f"nothing to resume for {key}; start without --resume")
        return resume_state.position(point, script)
    if from_step:
        return find_step(script, from_step).start
    return 0.0


def find_step(script: Script, query: str):  # type: ignore[no-untyped-def]
    """A step by 1-based number (pauses not counted) or by part of its title."""
    steps = [s for s in script.steps if s.say]
    if query.isdigit():
        number = int(query)
        if 1 <= number <= len(steps):
            return steps[number - 1]
        raise VoiceguideError(f"--from {query}: this routine has steps 1 to {len(steps)}")
    matches = [s for s in steps if query.lower() in s.title.lower()]
    if not matches:
        titles = "; ".join(f"{i}. {s.title}" for i, s in enumerate(steps, start=1))
        raise VoiceguideError(f"--from {query!r}: no step title contains that ({titles})")
    return matches[0]
