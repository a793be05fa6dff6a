"""Speech commands: ``say``, ``cache info|clear``, ``config path``.

Also :func:`voice_options`, the shared ``--voice --rate --volume --pitch
--system-espeak`` options for render/play, and :func:`settings_from_options`
to merge them with a routine's ``voice:`` block and the config file.
Errors are VoiceguideError subclasses; the ``voiceguide`` group prints them
as one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import numpy as np

from voiceguide.config import (
    cache_limit_mb,
    config_lexicon,
    config_path,
    load_config,
    voice_settings,
)
from voiceguide.device import play_once
from voiceguide.notation import speakable
from voiceguide.speech import (
    CLIP_RATE,
    DEFAULT_LEXICON,
    PITCH_RANGE,
    RATE_RANGE,
    ClipCache,
    Speaker,
    VoiceSettings,
    apply_lexicon,
    engine_name,
    merge_lexicons,
    normalize_text,
)
from voiceguide.speech.voices import PRESETS

VOICE_OPTION_NAMES = ("voice", "rate", "volume", "pitch", "system_espeak", "engine")


def voice_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --voice --rate --volume --pitch --system-espeak (all default to "not given").

    The command receives them as keyword arguments; pass them to
    :func:`settings_from_options` to apply the precedence rules.
    """
    decorators = [
        click.option(
            "--voice",
            default=None,
            help="auto (default: the neural voice when installed, else the system voice), "
            "a voice id (en_US-joe-medium, gmw/en-us), language (en-gb), name fragment "
            "(scotland), +variant (en-us+f3), or a Piper .onnx file. See `voiceguide voices`.",
        ),
        click.option(
            "--engine",
            default=None,
            metavar="NAME",
            help="Speech engine to look the voice up in: piper (neural) or pyttsx3 (system "
            "voices); default: wherever the voice is found.",
        ),
        click.option(
            "--rate",
            type=click.IntRange(*RATE_RANGE),
            default=None,
            help="Speaking rate in words per minute (default 150).",
        ),
        click.option(
            "--volume",
            type=click.FloatRange(0.1, 1.0),
            default=None,
            help="Voice level against the bed, 0.1–1 (default 1). A session's overall "
            "loudness stays the same; turn the bed down with --bed-volume.",
        ),
        click.option(
            "--pitch",
            type=click.IntRange(*PITCH_RANGE),
            default=None,
            help="Pitch 0–100 (default 40, a little low and calm). pyttsx3 voices only: "
            "Piper voices cannot change pitch.",
        ),
        click.option(
            "--preset",
            type=click.Choice(list(PRESETS)),
            default=None,
            help="A tested calm delivery: calm (135 wpm, low), warm (145), clear (160, "
            "brighter). Its rate and pitch yield to --rate and --pitch.",
        ),
        click.option(
            "--system-espeak/--bundled-espeak",
            "system_espeak",
            default=None,
            help="Use the system's libespeak-ng instead of the bundled one.",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def settings_from_options(
    options: Mapping[str, Any],
    routine_voice: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
) -> VoiceSettings:
    """Command line > preset > routine ``voice:`` block > config file > built-in defaults.

    A preset's pitch is used only with an engine that can change pitch.
    """
    cli = {name: options.get(name) for name in VOICE_OPTION_NAMES}
    config = load_config() if config is None else config
    preset = PRESETS.get(options.get("preset") or "")
    if preset is not None and cli["rate"] is None:
        cli["rate"] = preset.rate
    settings = voice_settings(cli, routine_voice, config)
    if preset is not None and cli["pitch"] is None and engine_name(settings) == "pyttsx3":
        settings = replace(settings, pitch=preset.pitch)
    return settings


def speaker_from_options(
    options: Mapping[str, Any],
    routine_voice: Mapping[str, Any] | None = None,
    routine_lexicon: Mapping[str, str] | None = None,
) -> Speaker:
    """A Speaker with settings and lexicon merged from every layer (routine wins over config)."""
    config = load_config()
    settings = settings_from_options(options, routine_voice, config)
    lexicon = merge_lexicons(config_lexicon(config), routine_lexicon)
    return Speaker(settings, lexicon=lexicon, cache_limit_mb=cache_limit_mb(config))


def spoken_words(text: str, routine_lexicon: Mapping[str, str] | None = None) -> str:
    """What the voice reads for ``text``: notation spelled out, then the lexicon.

    The same steps as :class:`Speaker` takes before synthesis, without
    starting an engine.
    """
    lexicon = merge_lexicons(DEFAULT_LEXICON, config_lexicon(load_config()), routine_lexicon)
    return apply_lexicon(speakable(normalize_text(text)), lexicon)


# --------------------------------------------------------------------------- say


@click.command("say")
@click.argument("text")
@voice_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of playing (.wav; .mp3/.ogg/.flac via the bundled ffmpeg).",
)
@click.option(
    "--words",
    is_flag=True,
    help="Print the words exactly as the voice will read them (notation spelled out, "
    "lexicon applied) without speaking.",
)
def say(text: str, output: Path | None, words: bool, **options: Any) -> None:
    """Speak TEXT with a voice, to try voices and settings.

    Without -o it plays through the sound card; with no sound card it
    writes say.wav instead (say-2.wav… if that exists) and says so.

    \b
    Examples:
      voiceguide say "Glide up to the shoulders." --voice en-gb+f3 --rate 140
      voiceguide say "Now effleurage." -o effleurage.wav
      voiceguide say --words "Knead 2-3 min, ~10 s a side, L4/L5."
    """
    if words:
        click.echo(spoken_words(text))
        return
    from voiceguide.lifeline import terminate_like_interrupt

    with terminate_like_interrupt():  # SIGTERM unwinds like Ctrl-C: workers killed, no temps
        speak_out(text, output, options, fallback=Path("say.wav"))


def speak_out(text: str, output: Path | None, options: Mapping[str, Any], fallback: Path) -> None:
    """Speak ``text`` to ``output``, or play it, or (no sound card) write ``fallback``.

    The speech goes out a piece (a few sentences) at a time, so a long text
    costs no more memory than a short one.
    """
    with speaker_from_options(options) as speaker:
        if output is not None:
            seconds = write_clip(output, speaker.pieces(text))
            click.echo(f"wrote {output} ({seconds:.1f} s, voice {speaker.voice_id})")
            return
        problem = _play_pieces(speaker.pieces(text))
        if problem:
            from voiceguide.export import unused_name

            fallback = unused_name(fallback)
            seconds = write_clip(fallback, speaker.pieces(text))
            click.echo(f"no audio device ({problem}); wrote {fallback} ({seconds:.1f} s)")


def _play_pieces(pieces: Iterable[np.ndarray]) -> str | None:
    """Play each piece in turn; why not, when the sound card cannot."""
    for piece in pieces:
        problem = play_once(piece, CLIP_RATE)
        if problem:
            return problem
    return None


for _param in say.params:  # no bed here: say what --volume does to this clip
    if _param.name == "volume":
        _param.help = (
            "How loud the voice speaks, 0.1–1 (default 1): the clip's level, "
            "so 0.5 is about 6 dB quieter."
        )


def write_clip(path: Path, pieces: Iterable[np.ndarray], rate: int = CLIP_RATE) -> float:
    """Mono pieces to one file, format by extension, atomically; returns its seconds."""
    from voiceguide.export import write_blocks

    seconds = 0.0

    def blocks() -> Iterator[np.ndarray]:
        nonlocal seconds
        for piece in pieces:
            seconds += len(piece) / rate
            yield np.asarray(piece, dtype=np.float32)[:, None]

    write_blocks(path, blocks(), rate, channels=1)
    return seconds


# --------------------------------------------------------------------------- cache


@click.group("cache")
def cache() -> None:
    """The clip cache: spoken phrases kept so a second render synthesizes nothing.

    \b
    Examples:
      voiceguide cache info
      voiceguide cache clear
    """


@cache.command("info")
def cache_info() -> None:
    """Show the cache folder, number of clips, size and size limit.

    The folder is the user cache folder, or $VOICEGUIDE_CACHE_DIR; the limit
    is `[cache] max_mb` in the config file (default 500).

    \b
    Example:
      voiceguide cache info
    """
    info = ClipCache(limit_mb=cache_limit_mb(load_config())).info()
    use = info["bytes"] / info["limit_bytes"] if info["limit_bytes"] else 0.0
    click.echo(f"folder:  {info['folder']}")
    click.echo(f"clips:   {info['entries']}")
    click.echo(f"size:    {info['bytes'] / 1e6:.1f} MB of {info['limit_bytes'] / 1e6:.0f} MB "
               f"({use:.0%}; least recently used clips go first)")  # fmt: skip


@cache.command("clear")
def cache_clear() -> None:
    """Delete every cached clip (they are re-made when needed).

    \b
    Example:
      voiceguide cache clear
    """
    cache_ = ClipCache()
    removed = cache_.clear()
    click.echo(f"removed {removed} clips from {cache_.root}")


# --------------------------------------------------------------------------- config


@click.group("config")
def config() -> None:
    """The personal config file (TOML): default voice, rate, pitch, lexicon.

    \b
    Examples:
      voiceguide config path
      $EDITOR "$(voiceguide config path)"
    """


@config.command("path")
def config_path_command() -> None:
    """Print where the config file is (or would be).

    \b
    Example:
      voiceguide config path
    """
    click.echo(str(config_path()))
