"""``voiceguide play``: guide a massage live, hands free."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import replace
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

_KEYS = "\n".join(f"  {key:<15} {what}" for key, what in KEY_HELP.items())
#: Options that shape the listener's experience but not the script: kept in resume points too.
_PLAYER_OPTIONS = ("quiet_keys", "night")


_EPILOG = (
    f"\b\nKeys (any keyboard, presenter clicker or foot pedal that types):\n{_KEYS}\n"
    'Remap keys in the config file\'s [keys] table, e.g. x = "next".'
)


@click.command(epilog=_EPILOG)
@click.argument("routine", required=False)
@click.option(
    "--from",
    "from_step",
    metavar="STEP",
    help="Start at a step: its number (1 is the first) or part of its title.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Go on where a session stopped, with every option it had; with no ROUTINE, "
    "the most recent session.",
)
@click.option("--quiet-keys", is_flag=True, default=None,
              help="Confirm key presses with a soft sound only, no words.")  # fmt: skip
@click.option("--night", is_flag=True, default=None, help="Dim colours for a dark room.")
@click.option("--listen", "listen_", is_flag=True,
              help='Voice control through the microphone: "guide pause", "guide next", '
                   '"guide more time"... (see `voiceguide listen --help`).')  # fmt: skip
@session_options
@voice_options
@mix_options
@click.pass_context
def play(ctx: click.Context, routine: str | None, from_step: str | None, resume: bool,
         listen_: bool, **options: Any) -> None:  # fmt: skip
    """Guide a massage live: start it, put the device down, work.

    With no keys pressed it runs from the first word to the last and exits.
    Every key press is answered by ear. Quitting (q, Ctrl-C, closing the
    terminal) saves the spot for --resume.

    \b
    Examples:
      voiceguide play therapist-ten-step
      voiceguide play lower-back-relax --length 20m --ambience rain
      voiceguide play therapist-ten-step --from 4
      voiceguide play --resume
      voiceguide play therapist-ten-step --listen
    """  # fmt: skip
    from voiceguide import resume as points

    if from_step and resume:
        raise VoiceguideError("give --from or --resume, not both")
    notes: list[str] = []
    point = None
    if resume:
        given = {k: v for k, v in options.items() if _given(ctx, k)}
        key = _key(routine) if routine else None
        point, others = points.latest(key)
        routine = point.routine
        options = {**options, **point.options, **given}
        if others:
            notes.append(f"{len(others)} other saved session(s); to resume another: "
                         + "; ".join(points.describe(p) for p in others[:3]))  # fmt: skip
    elif routine is None:
        raise click.UsageError("give a ROUTINE to play, or --resume to go on with the last one")
    loaded = load_routine(routine)
    key = loaded.id or str(Path(routine).resolve())
    setup = session_setup(loaded, options)
    script, start = setup.script, 0.0
    resumed = None
    if point is not None:
        resumed = points.locate(point, script)
        start = resumed.position
        if resumed.note:
            notes.append(resumed.note)
    elif from_step:
        start = find_step(script, from_step).start
    for note in notes:
        click.echo(f"voiceguide: {note}", err=True)
    _play(setup, key, loaded.title, options, start, point, tuple(script.warnings) + tuple(notes),
          listen=listen_)  # fmt: skip


def _play(setup, key: str, title: str, options: dict[str, Any], start: float, point,
          warnings: tuple[str, ...], listen: bool = False) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    from voiceguide import resume as points
    from voiceguide.config import config_path, load_config
    from voiceguide.confirm import FIXED_PHRASES, Confirmer, step_phrases
    from voiceguide.keys import KeyReader, bindings
    from voiceguide.live import LiveSession, live_beds
    from voiceguide.player import Outcome, Player, for_live
    from voiceguide.screen import PlainLog, Screen

    keymap = bindings(load_config().get("keys"), str(config_path()))
    script = for_live(setup.script)
    if point is not None:
        script = _with_recap(script, start, point, setup.voice.rate)
    # A user's bed starts decoding now, so its opening seconds are ready by the
    # time the sound device and the terminal are: first sound does not wait for both.
    beds = live_beds(script)
    voice = _voice_control() if listen else None
    sink = _open_sink(capture=voice.on_capture if voice is not None else None)
    if voice is not None:  # a missing microphone is one line, before any sound
        _listen_through(voice, sink)
    screen = _terminal()
    spoken = _LiveWarnings(warnings, on_screen=screen)
    session = LiveSession(script, setup.voice, setup.lexicon, setup.settings, start=start,
                          warn=spoken, beds=beds)  # fmt: skip
    session.start()
    if point is not None and point.extra:
        session.extend(start, point.extra)
    confirm = Confirmer(setup.voice, setup.lexicon, words=not options.get("quiet_keys"),
                        gain=session.mixer.master_gain, warn=spoken)  # fmt: skip
    checklist = tuple(getattr(script, "checklist", ()))
    words = _checklist_words(checklist) if checklist and start == 0.0 else ""
    display = Screen(night=bool(options.get("night"))) if screen else PlainLog()
    volume = point.volume_db if point is not None else 0.0
    previous = _catch_signals()
    player = None
    try:
        with display, KeyReader() as keys:
            clock = None if sink.continuous else _clock()  # a stream runs on its device's clock
            player = Player(session, sink, clock=clock, keys=keys, display=display, start=start,
                            confirm=confirm, bindings=keymap, volume_db=volume)  # fmt: skip
            spoken.player = player  # sets player.warnings now and on every new warning
            # Its voice starts once the session sounds: its start-up would delay the first block.
            confirm.start([words, *FIXED_PHRASES, *step_phrases(script)], after=player.sounding)
            if words:
                player.start_with_checklist(words, checklist)
            if voice is not None:
                voice.act = player.command  # thread-safe, and confirmed by ear like a key
                voice.speaking = lambda: _speaking(player)
                if voice.microphone is not None:
                    voice.start()  # its own microphone; else the stream calls on_capture
            outcome = player.run()
    except _Stopped as stop:
        outcome = Outcome(position=start, finished=False, signal=stop.signum)
    finally:
        _restore_signals(previous)
        confirm.stop()
        if voice is not None:
            voice.stop()
        spoken.after_screen()
    if voice is not None and voice.error:
        click.echo(f"voiceguide: {voice.error}", err=True)
    saved_options = dict(options)
    if outcome.finished:
        points.clear(key, saved_options)
        _say("voiceguide: session complete")
        # Every clip was made by now: let the speech thread close its workers and keep
        # the cache within its limit, instead of exiting under it (bounded wait).
        session.done.wait(timeout=10)
        confirm.finish(timeout=10)  # the confirmation voice may still be storing a clip
        _keep_cache_within_limit()
        return
    volume = player.volume_db if player else volume
    saved = points.make_point(key, title, saved_options, session.script, outcome.position,
                              session.extensions(), volume)  # fmt: skip
    points.save(saved)
    where = f"{saved.where()} ({format_clock(outcome.position)})"
    again = "voiceguide play --resume"
    if outcome.error is not None:
        raise VoiceguideError(f"{outcome.error}; stopped at {where}. Resume with: {again}")
    if outcome.signal is not None:
        name = signal.Signals(outcome.signal).name
        _say(f"voiceguide: stopped by {name} at {where}; resume with: {again}")
        sys.exit(128 + outcome.signal)
    _say(f"voiceguide: stopped at {where}; resume with: {again}")


class _LiveWarnings:
    """Warnings raised while playing (the speech cache became unusable, say).

    On a live screen a line printed to stderr would land in the middle of the
    frame and be half overwritten by the next one, so they join the screen's
    own warning lines (the player draws ``player.warnings`` every tick) and are
    printed once more after the screen closes, to stay in the scroll-back.
    Without a screen they are printed at once. Called from speech threads.
    """

    def __init__(self, warnings: tuple[str, ...], on_screen: bool) -> None:
        self.before = warnings  # printed before the session: the screen keeps them too
        self.on_screen = on_screen
        self.lines: list[str] = []
        self._player = None

    def __call__(self, message: str) -> None:
        if not self.on_screen:
            _say(f"voiceguide: warning: {message}")
            return
        if message not in self.lines:
            self.lines.append(message)
        self._show()

    @property
    def player(self):  # type: ignore[no-untyped-def]
        return self._player

    @player.setter
    def player(self, player) -> None:  # type: ignore[no-untyped-def]
        self._player = player
        self._show()

    def _show(self) -> None:
        if self._player is not None:
            self._player.warnings = (*self.before, *self.lines)  # one tuple: atomic for the drawer

    def after_screen(self) -> None:
        for message in self.lines if self.on_screen else ():
            _say(f"voiceguide: warning: {message}")


def _say(line: str) -> None:
    """A last line on stderr; after a hang-up there is nowhere to write, and that is fine."""
    with contextlib.suppress(OSError, ValueError):
        click.echo(line, err=True)


def _terminal() -> bool:
    """A full screen only on a real terminal that understands escape codes."""
    return sys.stdout.isatty() and os.environ.get("TERM", "") not in ("", "dumb")


def _checklist_words(items: tuple[str, ...]) -> str:
    said = " ".join(item.rstrip(".") + "." for item in items)
    return f"Before we start. {said} Press space when you are ready."


def _with_recap(script: Script, start: float, point, wpm: float) -> Script:  # type: ignore[no-untyped-def]
    """A spoken recap where the session resumes: where we are, then the instruction."""
    from voiceguide import edits
    from voiceguide.compiler import MIN_GAP
    from voiceguide.narration import estimate_seconds
    from voiceguide.script import Cue

    index = edits.step_at(script, start)
    if index is None:
        return script
    step = script.steps[index]
    side = point.side if point.side in step.sides else None
    where = f"{step.title}, {side} side" if side else step.title
    text = f"Resuming: {where}. {step.say}".strip()
    length = estimate_seconds(text, wpm)
    opened = edits.insert_time(script, start, length + 2 * MIN_GAP)
    later_side = side is not None and side != step.sides[0]
    recap = Cue(at=start, text=text, kind="side" if later_side else "intro",
                step=index if later_side else None, length=length, side=side)  # fmt: skip
    cues = tuple(sorted((*opened.cues, recap), key=lambda c: c.at))
    return replace(opened, cues=cues)


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP: stop as a quit does (fade, save the spot, restore the terminal)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.signal = signum


def _on_signal(signum: int, frame: object) -> None:
    raise _Stopped(signum)


def _catch_signals() -> dict[int, Any]:
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, _on_signal)
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _given(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _key(routine: str) -> str:
    """How resume points name a routine: a built-in id, or the file's absolute path."""
    path = Path(routine)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return str(path.resolve())
    return routine


def _open_sink(capture=None):  # type: ignore[no-untyped-def]
    """One stream for the whole session; simpleaudio where no stream can be opened.

    ``capture`` (voice control's callback) makes the stream duplex, so the
    microphone arrives with what was playing beside it.

    Tests set VOICEGUIDE_PLAY_CLOCK=virtual: ALSA's file device then runs as
    fast as the player, so an hour plays in seconds.
    """
    from voiceguide.entry import reexec_for_simpleaudio
    from voiceguide.sinks import open_sink
    from voiceguide.stream import StreamUnavailable

    paced = os.environ.get("VOICEGUIDE_PLAY_CLOCK") != "virtual"
    if os.environ.get("VOICEGUIDE_SINK") != "simpleaudio":
        try:
            return open_sink(paced=paced, fallback=False, capture=capture)
        except StreamUnavailable:
            reexec_for_simpleaudio()  # returns only when already re-executed (or it failed)
    return open_sink(paced=paced)


def _clock():  # type: ignore[no-untyped-def]
    """The real clock; tests set VOICEGUIDE_PLAY_CLOCK=virtual to play an hour in seconds."""
    from voiceguide.player import RealClock, VirtualClock

    return VirtualClock() if os.environ.get("VOICEGUIDE_PLAY_CLOCK") == "virtual" else RealClock()


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


def _voice_control():  # type: ignore[no-untyped-def]
    """Voice control; it is told what to steer once the player exists."""
    from voiceguide.listen.voice import VoiceControl

    return VoiceControl(act=lambda action: None, speaking=lambda: False)


def _listen_through(voice, sink) -> None:  # type: ignore[no-untyped-def]
    """Hear through the session's own duplex stream (the echo canceller then gets what
    was played, so commands over the narration are heard); where that stream has no
    input, or play fell back to simpleaudio, open the microphone on its own (script
    gate only)."""
    if getattr(sink, "continuous", False) and getattr(sink, "capture_error", "") is None:
        voice.use_stream(sink.rate)
        return
    try:
        voice.open()
    except VoiceguideError as err:
        raise VoiceguideError(f"{err}; play without --listen to use keys only") from None


def _speaking(player) -> bool:  # type: ignore[no-untyped-def]
    """Whether a cue is sounding now (with a moment for the room's echo to die away)."""
    if player.paused:
        return False
    t = player.heard_seconds()
    return any(c.at <= t < c.end + 0.3 for c in player.session.script.cues)


def _keep_cache_within_limit() -> None:
    """Apply the cache's size limit once every clip of a finished session is stored.

    The speakers evict now and then as they go; the confirmation voice's last
    clips can land after that, so the session ends with one eviction of its own.
    """
    import contextlib

    from voiceguide.speech.cache import ClipCache

    with contextlib.suppress(OSError):  # an untidy cache is no reason to fail a session
        ClipCache().evict()
