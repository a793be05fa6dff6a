"""``voiceguide listen``: what the voice control hears, from a file or the microphone."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

from voiceguide.errors import AudioError, VoiceguideError

#: A live check that hears nothing above the muted level for this long stops with an error.
MUTED_AFTER = 3.0


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print a JSON list of {"at": seconds, "command": "more time"}.',
)
@click.option("--played", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="What the speakers played during FILE (e.g. the rendered session), "
                   "to cancel it as live playback does.")  # fmt: skip
@click.option("--script", "script_path", type=click.Path(dir_okay=False, path_type=Path),
              metavar="JSON", help="The session's script (render --script): while its cues "
              "sound, commands count only if --played cancels them.")  # fmt: skip
@click.option(
    "--seconds",
    type=click.FloatRange(min=0.1),
    metavar="S",
    help="Live: stop after this many seconds of sound.",
)
def listen(file: Path | None, as_json: bool, played: Path | None, script_path: Path | None,
           seconds: float | None) -> None:  # fmt: skip
    """Show what the voice control hears: commands with their times.

    With FILE, runs the recognizer over a recording. With no FILE, listens to
    the microphone and shows the level and the words it hears, to check a room
    before a session (Ctrl-C to stop). Commands start with "guide": guide pause,
    guide continue, guide next, guide back, guide repeat, guide more time,
    guide less time, guide louder, guide softer, guide stop.

    \b
    Examples:
      voiceguide listen                        check the microphone
      voiceguide listen room.wav               what it hears in a recording
      voiceguide listen room.wav --json
      voiceguide listen room.wav --played session.wav --script session.json
    """
    from voiceguide.listen.listener import Listener

    listener = Listener(speaking=_speaking(script_path))
    if file is None:
        if played is not None:
            raise VoiceguideError("--played needs a FILE: live, the player hands it over itself")
        heard = _live(listener, seconds, as_json)
    else:
        heard = _file(listener, file, played)
    if as_json:
        click.echo(json.dumps([h.as_json() for h in heard]))
    elif file is not None:
        for h in heard:
            click.echo(f"{_clock(h.at)}  guide {h.command}")
        if not heard:
            click.echo("no commands heard", err=True)


def _speaking(script_path: Path | None) -> Callable[[float], bool] | None:
    """Whether a cue of the script is sounding at second t of the recording."""
    if script_path is None:
        return None
    try:
        cues = json.loads(script_path.read_text(encoding="utf-8"))["cues"]
        spans = [(float(c["at"]), float(c["at"]) + float(c["length"])) for c in cues]
    except (OSError, ValueError, KeyError, TypeError) as err:
        why = f"not a script from render --script ({err})"
        raise VoiceguideError(f"{script_path}: {why}") from None
    return lambda t: any(a <= t < b + 0.3 for a, b in spans)


def _file(listener, file: Path, played: Path | None):  # type: ignore[no-untyped-def]
    from voiceguide.listen.audio import read_blocks

    heard = []
    mic_blocks = read_blocks(file)
    played_blocks = read_blocks(played) if played is not None else None
    for block in mic_blocks:
        if played_blocks is None:
            heard += listener.feed(block)
            continue
        ref = next(played_blocks, None)
        if ref is None or len(ref) < len(block):
            pad = np.zeros(len(block), np.float32)
            if ref is not None:
                pad[: len(ref)] = ref
            ref = pad
        heard += listener.feed(block, ref)
    return heard + listener.flush()


def _live(listener, seconds: float | None, as_json: bool):  # type: ignore[no-untyped-def]
    from voiceguide.listen.audio import MUTED_DB
    from voiceguide.listen.capture import Microphone

    heard = []
    loudest = -120.0
    tty = sys.stderr.isatty() and not as_json
    with Microphone() as mic:
        listener.mic_in.__init__(mic.rate)  # the device may not take 16 kHz
        total = 0
        started = time.monotonic()
        try:
            while seconds is None or total < seconds * mic.rate:
                block = mic.read()
                if seconds is not None:
                    block = block[: max(0, int(seconds * mic.rate) - total)]
                total += len(block)
                new = listener.feed(block)
                loudest = max(loudest, listener.level.db)
                if total >= MUTED_AFTER * mic.rate and loudest < MUTED_DB:
                    raise AudioError(
                        f"the microphone is silent (under {MUTED_DB:.0f} dBFS for "
                        f"{MUTED_AFTER:.0f} s): is it muted or unplugged?"
                    )
                for h in new:
                    _line(tty, f"{_clock(h.at)}  guide {h.command}", end="\n")
                heard += new
                if tty:
                    _line(tty, _meter(listener), end="")
        except KeyboardInterrupt:
            pass
        heard += listener.flush()
    if tty:
        _line(tty, "", end="")
    elif not as_json:
        for h in heard:
            click.echo(f"{_clock(h.at)}  guide {h.command}")
        took = time.monotonic() - started
        click.echo(f"listened {total / mic.rate:.1f} s in {took:.1f} s; loudest {loudest:.0f} dBFS",
                   err=True)  # fmt: skip
    return heard


def _meter(listener) -> str:  # type: ignore[no-untyped-def]
    db = listener.level.db
    filled = int(max(0.0, min(1.0, (db + 70) / 70)) * 20)
    bar = "#" * filled + "." * (20 - filled)
    return f"level {db:6.1f} dB [{bar}]  hears: {listener.recognizer.partial[-40:]}"


def _line(tty: bool, text: str, end: str) -> None:
    if tty:
        sys.stderr.write("\r\x1b[2K" + text + end)
        sys.stderr.flush()


def _clock(t: float) -> str:
    return f"{int(t // 60)}:{t % 60:04.1f}"
