"""``voiceguide render``: the main job — a finished session file for a phone."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

import click

from voiceguide.cli.options import mix_options, session_options, session_setup, warn
from voiceguide.cli.speech import voice_options
from voiceguide.export import format_of
from voiceguide.lifeline import terminate_like_interrupt
from voiceguide.routine import Routine, load_routine
from voiceguide.times import format_duration


def default_output(spec: str, routine: Routine) -> Path:
    stem = routine.id or Path(spec).stem
    return Path(f"{stem}.mp3")


@click.command()
@click.argument("routine")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write: .mp3 (default), .m4b (audiobook), .opus, .ogg, .flac or .wav. "
    "Default: ROUTINE.mp3 here.",
)
@session_options
@voice_options
@mix_options
@click.option(
    "--bitrate",
    type=click.IntRange(32, 320),
    default=None,
    show_default=True,  # shows a [render] config default; unset shows none
    help="Bitrate in kbps for MP3, M4B, Opus and OGG (default 128).",
)
@click.option("--mono", is_flag=True, help="One channel (smaller; fine for one speaker).")
@click.option(
    "--cover",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Cover art for players (PNG or JPEG). Default: voiceguide's own picture.",
)
@click.option(
    "--lyrics",
    "lyrics_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the words as timed lyrics (.lrc). The file itself always carries them.",
)
@click.option(
    "--id3",
    type=click.Choice(["2.3", "2.4"]),
    default="2.3",
    show_default=True,
    help="ID3 version of an MP3's tags (2.3 is read by every podcast player).",
)
@click.option(
    "--subtitles",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the cues as WebVTT (.vtt) or SubRip (.srt).",
)
@click.option(
    "--script",
    "script_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the timed script as JSON (the same as show --json).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no notes, no summary.")
@click.option("-v", "--verbose", is_flag=True, help="Also print the measured loudness figures.")
def render(routine: str, output: Path | None, bitrate: int | None, mono: bool, cover: Path | None,
           lyrics_path: Path | None, id3: str, subtitles: Path | None, script_path: Path | None,
           quiet: bool, verbose: bool, **options: Any) -> None:  # fmt: skip
    """Write a whole session for ROUTINE (a built-in id or a YAML file) to one file.

    The file has chapters, one per step, so a podcast or audiobook player
    can skip between steps, plus tags, cover art and the spoken words as
    lyrics. It is written to a temporary file and renamed into place, so an
    existing file is replaced only by a complete one.

    \b
    Examples:
      voiceguide render therapist-ten-step
      voiceguide render lower-back-relax --length 20m -o tonight.mp3
      voiceguide render my-routine.yaml --voice en-gb --rate 140 --ambience rain
      voiceguide render oil-and-feedback --subtitles s.vtt --script s.json
      voiceguide render lower-back-relax -o tonight.m4b --cover me.jpg --lyrics tonight.lrc
    """
    from voiceguide.export import load_cover
    from voiceguide.render import FileOptions
    from voiceguide.render import render as render_session

    loaded = load_routine(routine)
    target = output or default_output(routine, loaded)
    format_of(target)
    files = FileOptions(
        bitrate=bitrate, mono=mono, id3_version=3 if id3 == "2.3" else 4,
        cover=load_cover(cover) if cover is not None else None,
        subtitles=subtitles, script_json=script_path, lyrics=lyrics_path,
    )  # fmt: skip
    session = session_setup(loaded, options)
    # SIGTERM unwinds like Ctrl-C: temps removed, old outputs untouched, exit 143.
    progress_bar = Progress(enabled=not quiet and sys.stderr.isatty())
    with terminate_like_interrupt(), progress_bar as progress:
        result = render_session(
            session.script, target, voice=session.voice, lexicon=session.lexicon,
            settings=session.settings, progress=progress, files=files,
            inputs={**_inputs(routine), "cover": cover},
        )  # fmt: skip
    warn(result.warnings)
    if quiet:
        return
    for note in result.notes:
        click.echo(f"voiceguide: note: {note}", err=True)
    # The mix may fall short while the codec makes up for it: notes follow the file as written.
    quieter = result.lufs < result.target_lufs - 0.3
    if result.bed_lift_db > 0.05:
        click.echo(
            "voiceguide: note: few words over a long session, so the background sound "
            "was raised a little to keep the session at a usual volume with a clear voice",
            err=True,
        )
    elif result.quiet_reason == "codec" and quieter:
        click.echo(
            "voiceguide: note: this session is a little quieter than usual: at this low "
            "bitrate the encoder adds peaks, so the voice is kept down to stay clean "
            "(a higher --bitrate avoids it)",
            err=True,
        )
    elif not result.reached and quieter:
        click.echo(
            "voiceguide: note: this session is quieter than usual because it has few words "
            "for its length; turning it up would flatten the voice or drown it in the "
            "background (--bed-volume -8 gets closer)",
            err=True,
        )
    chapters = len(result.script.chapters)
    click.echo(
        f"wrote {target} ({format_duration(round(result.script.duration))}, {chapters} "
        f"chapters) in {result.seconds:.1f}s", err=True,
    )  # fmt: skip
    if verbose:
        click.echo(
            f"loudness of {target} as written: {result.lufs:.1f} LUFS integrated (target "
            f"{result.target_lufs:g}), true peak {result.true_peak:.1f} dBTP; mix sample "
            f"peak {result.peak_db:.1f} dBFS, background raised {result.bed_lift_db:.1f} dB",
            err=True,
        )
        if result.level_moves:
            click.echo(
                f"mixed while the speech was being made: the level moved {len(result.level_moves)}"
                f" times, by {max(abs(m) for m in result.level_moves):.2f} dB at most",
                err=True,
            )


def _inputs(spec: str) -> dict[str, Path | None]:
    """Files this render reads that no output may replace (beds are added by render)."""
    from voiceguide.config import config_path

    routine = Path(spec) if Path(spec).is_file() else None
    return {"routine": routine, "config file": config_path()}


class Progress:
    """Progress bars on a terminal (speech, then mixing and encoding); silent otherwise."""

    LABELS: ClassVar[dict[str, str]] = {"speech": "speaking ", "mix": "mixing   "}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.stage: str | None = None
        self.bar: Any = None
        self.done = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage != self.stage:
            self._close()
            self.stage, self.done = stage, 0
            self.bar = click.progressbar(length=total, label=self.LABELS.get(stage, stage),
                                         file=sys.stderr, show_eta=stage == "mix")  # fmt: skip
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
