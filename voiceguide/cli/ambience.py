"""``voiceguide ambience``: list the bundled beds and preview how one loops.

Errors are AudioError (a VoiceguideError): the ``voiceguide`` group prints them
as one line and exits non-zero, so the commands carry no try/except.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from voiceguide.ambience import Bed, list_beds
from voiceguide.device import play_once
from voiceguide.export import unused_name, write_audio

# ffmpeg arguments per output extension; the muxer itself is picked from the extension.
SEAM_AT = 5.0  # seconds into a preview where the loop point falls, so a listener hears it
EDGE_FADE = 0.5


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="List the beds as JSON.")
@click.pass_context
def ambience(ctx: click.Context, as_json: bool) -> None:
    """Background beds: the sound that plays under the voice, looped for the whole session.

    A bed is a bundled one (river, rain, ocean, music-pad, music-bells) or any
    audio file of yours. Pick one for a session with `--ambience NAME|FILE|none`
    on render and play, or with `ambience:` in a routine (a step or section may
    change it; beds cross-fade). The voice ducks the bed while it speaks.

    \b
    Examples:
      voiceguide ambience                  list the bundled beds
      voiceguide ambience --json           the same as JSON
      voiceguide ambience preview river    hear 20 s of it across its loop point
      voiceguide render lower-back-relax --ambience rain
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_command, as_json=as_json)


@ambience.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_command(as_json: bool) -> None:
    """List the bundled beds: name, loop length, description.

    \b
    Examples:
      voiceguide ambience list
      voiceguide ambience list --json
    """
    if as_json:
        click.echo(json.dumps(bed_rows(), indent=2, ensure_ascii=False))
        return
    beds = list_beds()
    width = max(len(bed.name) for bed in beds)
    for bed in beds:
        click.echo(f"{bed.name:<{width}}  {bed.seconds:5.1f} s  {bed.description}")


def bed_rows() -> list[dict[str, object]]:
    """The bundled beds as ``ambience list --json`` prints them (``serve`` offers the same)."""
    return [
        {
            "name": bed.name,
            "seconds": round(bed.seconds, 1),
            "description": bed.description,
            "licence": bed.licence,
        }
        for bed in list_beds()
    ]


@ambience.command("preview")
@click.argument("name")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (.wav, .ogg, .mp3 or .flac) instead of playing.",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=1.0, max=600.0),
    default=20.0,
    show_default=True,
    help="Length of the preview.",
)
def preview_command(name: str, output: Path | None, seconds: float) -> None:
    """Play a preview of bed NAME that crosses its loop point, to hear any seam.

    NAME is a bundled bed (see `voiceguide ambience list`) or an audio file. The loop
    point falls 5 seconds in (sooner for very short previews). With -o, or with no
    sound card, the preview is written to a file instead (NAME-preview.wav, or
    NAME-preview-2.wav… so an existing file is never replaced).

    \b
    Examples:
      voiceguide ambience preview river
      voiceguide ambience preview music-pad -o pad.mp3 --seconds 30
      voiceguide ambience preview ~/sounds/forest.flac
    """
    bed = Bed.load(name)
    audio = preview_audio(bed, seconds)
    seam = f"loop point at {_seam_offset(bed, seconds):.1f} s"
    if output is None:
        problem = play_once(audio, bed.rate)
        if problem is None:
            click.echo(f"played {seconds:.1f} s of {bed.name} ({seam})")
            return
        output = unused_name(Path(f"{Path(name).stem}-preview.wav"))
        click.echo(f"no audio device ({problem}); writing a file instead")
    write_audio(output, audio, bed.rate)
    click.echo(f"wrote {output} ({seconds:.1f} s of {bed.name}, {seam})")


def _seam_offset(bed: Bed, seconds: float) -> float:
    return min(SEAM_AT, seconds / 2, bed.seconds)


def preview_audio(bed: Bed, seconds: float) -> np.ndarray:
    """``seconds`` of the looped bed starting just before its loop point, with short fades."""
    count = round(seconds * bed.rate)
    start = bed.period - int(_seam_offset(bed, seconds) * bed.rate)  # the loop point
    audio = bed.read(start, count)
    fade = min(int(EDGE_FADE * bed.rate), count // 4)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)[:, None]
    audio[:fade] *= ramp
    audio[count - fade :] *= ramp[::-1]
    return audio
