"""Options shared by every command that builds a session (show, render, play)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import click

from voiceguide.compiler import Options, compile
from voiceguide.mixer import MixSettings
from voiceguide.narration import ESPEAK_TIMING, TIMINGS, SpeechTiming
from voiceguide.routine import Routine
from voiceguide.script import Script
from voiceguide.speech import VoiceSettings
from voiceguide.times import parse_seconds


class TimeParam(click.ParamType):
    """A time on the command line, written as in routines: 20m, 1h, 90s, 1m30s."""

    name = "time"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_seconds(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


TIME = TimeParam()


class LengthParam(TimeParam):
    """A session length: a bare number too small to be seconds is taken as a slip."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        seconds = super().convert(value, param, ctx)
        bare = isinstance(value, str) and value.strip().replace(".", "", 1).isdigit()
        if bare and seconds < 60:
            self.fail(
                f"{value.strip()} means {value.strip()} seconds, under the 1 minute "
                f"minimum; did you mean {value.strip()}m?",
                param,
                ctx,
            )
        return seconds


def session_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options that shape a session's timing."""
    decorators = [
        click.option(
            "--length", "-l", type=LengthParam(), help="Fit the session to this length, e.g. 20m."
        ),
        click.option(
            "--pace",
            type=click.FloatRange(0.25, 4.0),
            default=None,
            help="Tempo: 1 as written, 0.8 is 20% slower (longer strokes and gaps).",
        ),
        click.option(
            "--detail",
            type=click.Choice(["minimal", "normal", "detailed"]),
            default=None,
            help="How much is said: minimal skips next-up and time-left lines.",
        ),
        click.option(
            "--count/--no-count",
            "counting",
            default=None,
            help="Count repetitions aloud everywhere (default: where the routine asks).",
        ),
        click.option(
            "--check-in",
            type=TIME,
            default=None,
            help="Ask about pressure this often (e.g. 5m); 0 turns it off.",
        ),
        click.option(
            "--tempo/--no-tempo",
            default=False,
            help="A soft tick under the bed at each step's stroke rate (one long stroke "
            "every 6-8 s, kneading faster), so long working times feel guided without words.",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def build_options(
    *,
    length: float | None,
    pace: float | None,
    detail: str | None,
    counting: bool | None,
    check_in: float | None,
    wpm: float = 150.0,
    ambience: str | None = None,
    tempo: bool = False,
    timing: SpeechTiming = ESPEAK_TIMING,
) -> Options:
    return Options(
        timing=timing,
        pace=pace or 1.0,
        length=length,
        wpm=wpm,
        counting=counting,
        check_in=check_in,
        detail=detail or "normal",  # type: ignore[arg-type]
        ambience=ambience,
        tempo=tempo,
    )


def compile_options(
    options: dict[str, Any], wpm: float, timing: SpeechTiming = ESPEAK_TIMING
) -> Options:
    """The compiler's options from a command's keyword arguments."""
    return build_options(
        length=options["length"], pace=options["pace"], detail=options["detail"],
        counting=options["counting"], check_in=options["check_in"], wpm=wpm,
        ambience=options["ambience"], tempo=options.get("tempo", False), timing=timing,
    )  # fmt: skip


def timing_for(voice: VoiceSettings) -> SpeechTiming:
    """The speech-length model of the engine these settings choose (the compiler plans with it)."""
    from voiceguide.speech import engine_name

    return TIMINGS.get(engine_name(voice), ESPEAK_TIMING)


def warn(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        click.echo(f"voiceguide: warning: {warning}", err=True)


def mix_options(command: Any) -> Any:
    """Options shaping the sound of a session (shared by render and play)."""
    decorators = [
        click.option("--ambience", "-a", metavar="NAME|FILE|none",
                     help="Bed for the whole session: river, rain, ocean, music-pad, "
                          "music-bells, an audio file, or none."),
        click.option("--bed-volume", type=click.FloatRange(-40, 0), default=None, metavar="DB",
                     help="Bed level relative to the voice, in dB (default -18)."),
        click.option("--duck", type=click.FloatRange(-30, 0), default=None, metavar="DB",
                     help="How far the bed dips under speech, in dB (default -10)."),
        click.option("--chime/--no-chime", default=True, help="A soft chime as each step begins."),
    ]  # fmt: skip
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def mix_settings(bed_volume: float | None, duck: float | None, chime: bool) -> MixSettings:
    settings = MixSettings(chime=chime)
    if bed_volume is not None:
        settings = replace(settings, bed_volume=bed_volume)
    if duck is not None:
        settings = replace(settings, duck=duck)
    return settings


@dataclass(frozen=True)
class Session:
    """Everything render and play build from a routine and the command line, the same way."""

    routine: Routine
    voice: VoiceSettings
    script: Script
    lexicon: dict[str, str]
    settings: MixSettings


def session_setup(routine: Routine, options: dict[str, Any]) -> Session:
    """Voice by precedence (command line > routine > config), the compiled script, the mix."""
    from voiceguide.cli.speech import settings_from_options
    from voiceguide.config import config_lexicon, load_config
    from voiceguide.speech import merge_lexicons

    config = load_config()
    voice = settings_from_options(options, routine.voice, config)
    script = compile(routine, compile_options(options, voice.rate, timing_for(voice)))
    warn(script.warnings)
    return Session(
        routine=routine,
        voice=voice,
        script=script,
        lexicon=merge_lexicons(config_lexicon(config), routine.lexicon),
        settings=mix_settings(options["bed_volume"], options["duck"], options["chime"]),
    )


def planned_rate(routine: Routine, rate: int | None = None) -> int:
    """The speech rate render would use: the command line's, the routine's, the config's."""
    return planned_voice(routine, rate).rate


def planned_voice(routine: Routine, rate: int | None = None) -> VoiceSettings:
    """The voice settings render would use (without command-line voice options but --rate)."""
    from voiceguide.config import load_config, voice_settings

    return voice_settings({"rate": rate}, routine.voice, load_config())


#: Options a config section may not set: outputs name files per run, and the
#: voice has its own [voice] section.
_NOT_FROM_CONFIG = frozenset(
    {"output", "subtitles", "script_path", "lyrics_path", "resume", "from_step", "help",
     "voice", "rate", "volume", "pitch", "system_espeak"}
)  # fmt: skip


def config_defaults(command: click.Command, ctx: click.Context) -> dict[str, Any]:
    """The command's ``[render]``/``[play]`` config section as option defaults.

    Each value goes through the option's own type, so the config takes what
    the command line takes and refuses what it refuses, naming file and key.
    """
    from voiceguide.config import ConfigError, config_path, load_config

    section = command.name or ""
    values = load_config().get(section, {})
    options = [
        p for p in command.params if isinstance(p, click.Option) and p.name not in _NOT_FROM_CONFIG
    ]
    defaults: dict[str, Any] = {}
    for key, value in values.items():
        where = f"{config_path()}: [{section}] {key}"
        flag = "--" + key.replace("_", "-")
        param = next((p for p in options if key == p.name or flag in p.opts), None)
        if param is None:
            known = ", ".join(sorted(p.opts[-1].lstrip("-") for p in options))
            raise ConfigError(f"{where}: unknown key; known: {known}")
        defaults[str(param.name)] = _config_value(param, value, where, ctx)
    return defaults


def _config_value(param: click.Option, value: Any, where: str, ctx: click.Context) -> Any:
    from voiceguide.config import ConfigError

    kind = param.type
    if param.is_flag or isinstance(kind, click.types.BoolParamType):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(value, bool | dict | list):
        raise ConfigError(f"{where}: expected a value like {param.opts[-1]} takes, got {value!r}")
    if isinstance(kind, click.types.IntParamType) and isinstance(value, float):
        if value != int(value):
            raise ConfigError(f"{where}: {value:g} is not a whole number")
        value = int(value)
    try:
        return kind.convert(value, param, ctx)
    except click.BadParameter as exc:
        raise ConfigError(f"{where}: {exc.message}") from None


def check_readable(routine: Routine, voice: VoiceSettings) -> None:
    """Refuse text the chosen voice cannot read, pointing at its step (``file:line``).

    The same check the speaker makes before synthesis (after guide notation
    is spelled out), done here so `validate` and `show` catch it without a sound.
    """
    from voiceguide.compiler.steps import located
    from voiceguide.errors import RoutineError, SpeechError
    from voiceguide.notation import speakable
    from voiceguide.speech import check_script
    from voiceguide.speech.voices import voice_language

    voice_id, language = voice_language(voice)
    where = routine.source or routine.id or "routine"
    texts = [(where, t) for t in (*routine.intro, *routine.outro, *routine.cautions)]
    for step in routine.steps:
        for text in (step.say, step.caution or "", *(c.say for c in step.cues)):
            texts.append((located(step), text))
    for place, text in texts:
        try:
            check_script(speakable(text), language, voice_id)
        except SpeechError as err:
            raise RoutineError(f"{place}: {err}") from None
