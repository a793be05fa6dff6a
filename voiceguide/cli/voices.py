"""``voiceguide voices``: the curated list, every voice, JSON, a spoken preview, installing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from voiceguide.speech.voices import PRESETS, voice_entries

SAMPLE = (
    "Rest your hands on your partner's back for a moment. Now glide slowly up, "
    "and let your breathing settle."
)


@click.group("voices", invoke_without_command=True)
@click.option(
    "--all", "everything", is_flag=True, help="Every voice: all espeak languages and variants."
)
@click.option(
    "--json", "as_json", is_flag=True, help="A JSON list: id, engine, language, gender, default."
)
@click.option("--lang", help="Only this language and its dialects, e.g. en or en-gb.")
@click.option("--variants", is_flag=True, hidden=True, help="Same as --all (older name).")
@click.option("--system-espeak", is_flag=True, help="List the system espeak-ng's voices.")
@click.pass_context
def voices(ctx: click.Context, everything: bool, as_json: bool, lang: str | None,
           variants: bool, system_espeak: bool) -> None:  # fmt: skip
    """List voices: a short curated list, the default (what `auto` picks) marked with *.

    Piper voices are neural (natural); pyttsx3 voices are the system's
    (espeak-ng on Linux). Presets (--preset on render, play and say) set a
    calm rate, and a pitch where the engine can change it.

    \b
    Examples:
      voiceguide voices
      voiceguide voices --all --lang en
      voiceguide voices --json
      voiceguide voices preview gmw/en-US+f3
      voiceguide voices install en_GB-alba-medium
    """
    if ctx.invoked_subcommand is not None:
        return
    entries = voice_entries(everything=everything or variants, lang=lang,
                            system_espeak=system_espeak)  # fmt: skip
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    if not entries:
        raise click.UsageError(f"no voice for language {lang!r}; try `voiceguide voices --all`")
    width = max(len(str(e["id"])) for e in entries)
    lang_width = max(len(str(e["language"])) for e in entries)
    for e in entries:
        mark = "*" if e["default"] else " "
        click.echo(
            f"{mark} {e['id']!s:<{width}}  {e['engine']!s:<7}  {e['language']!s:<{lang_width}}  "
            f"{e['gender'] or '-':<6}  {e['description']}"
        )
    if not everything and not variants:
        presets = ", ".join(f"{name} ({p.rate} wpm)" for name, p in PRESETS.items())
        click.echo(f"\n* = default (auto). More: --all. Presets: {presets}.")


@voices.command("preview")
@click.argument("name")
@click.option("--preset", type=click.Choice(list(PRESETS)), help="Hear a preset's rate and pitch.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the sample here instead of playing it.")  # fmt: skip
def preview(name: str, preset: str | None, output: Path | None) -> None:
    """Speak a sample sentence with voice NAME (plays; writes a file without a sound card).

    \b
    Examples:
      voiceguide voices preview en_US-joe-medium
      voiceguide voices preview gmw/en --preset calm -o calm.wav
    """
    from voiceguide.cli.speech import speak_out

    options: dict[str, Any] = {"voice": name, "preset": preset}
    speak_out(SAMPLE, output, options, fallback=Path(f"{_safe(name)}-preview.wav"))


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in Path(name).stem)


@voices.command("install")
@click.argument("name")
def install(name: str) -> None:
    """Install Piper voice NAME from the public Piper voice catalogue.

    The files are checked against the catalogue's checksums and written
    atomically into the user data folder; then `--voice NAME` works.

    \b
    Example:
      voiceguide voices install en_GB-alba-medium
    """
    from voiceguide.speech.install import install as fetch

    bars: dict[str, Any] = {}

    def progress(done: int, total: int, label: str) -> None:
        bar = bars.get(label)
        if bar is None:
            bar = bars[label] = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        model = fetch(name, progress)
    finally:
        for bar in bars.values():
            bar.__exit__(None, None, None)
    click.echo(f"installed {name} in {model.parent}; use it with --voice {name}")
