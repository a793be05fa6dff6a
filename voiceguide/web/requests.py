"""A render request from the page, checked exactly as ``voiceguide render`` checks its options.

The page's JSON body becomes a ``render`` command line and click parses it with
the render command's own options, so a bad value gets the command line's own
one-line message and there is no second copy of the rules to drift.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import click

from voiceguide import __version__
from voiceguide.errors import VoiceguideError
from voiceguide.script import Script

#: The body's keys besides ``routine``, each the ``render`` option of the same name.
OPTIONS = ("length", "pace", "voice", "rate", "ambience", "detail")


class RequestError(VoiceguideError):
    """A request the page (or a script) got wrong: answered with 400 and the one line."""


def render_argv(body: Any) -> list[str]:
    """The ``render`` options (after the routine) that a request body stands for."""
    if not isinstance(body, dict):
        raise RequestError("the request must be a JSON object with a 'routine'")
    unknown = sorted(set(body) - {"routine", *OPTIONS})
    if unknown:
        raise RequestError(f"unknown option {unknown[0]!r}; options: routine, {', '.join(OPTIONS)}")
    argv: list[str] = []
    for name in OPTIONS:
        value = body.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise RequestError(f"{name}: expected a text or a number, got {json.dumps(value)}")
        argv += [f"--{name}", str(value)]
    return argv


def parse_render_options(routine: str, argv: list[str]) -> dict[str, Any]:
    """Every ``render`` parameter for this command line, or the command line's one-line error."""
    from voiceguide.cli.render import render

    try:
        ctx = render.make_context("render", [routine, *argv])
    except click.ClickException as err:
        raise RequestError(err.format_message()) from None
    return dict(ctx.params)


def routine_id_of(body: Any) -> str:
    routine = body.get("routine") if isinstance(body, dict) else None
    if not isinstance(routine, str) or not routine:
        raise RequestError("missing 'routine': the id of a routine from /api/routines")
    return routine


def check_ambience(params: dict[str, Any]) -> None:
    """From the page only a bundled bed or none: a request cannot name a file on this machine."""
    from voiceguide.ambience import list_beds

    name = params.get("ambience")
    names = [bed.name for bed in list_beds()]
    if name is not None and name not in (*names, "none"):
        raise RequestError(f"unknown ambience {name!r}; choose one of: {', '.join(names)}, none")


@dataclass(frozen=True)
class Planned:
    """A checked request: the plan to show, and the key a finished render is found by."""

    id: str
    spec: str  # what the render worker loads: a built-in id or a file's path
    argv: tuple[str, ...]
    script: Script


def session_key(source: bytes, params: dict[str, Any], session: Any) -> str:
    """Same routine text, same options, same voice and mix: same id, so the file is reused."""
    parts = {
        "version": __version__,
        "routine": hashlib.sha256(source).hexdigest(),
        "script": session.script.to_dict(),
        "voice": asdict(session.voice),
        "lexicon": session.lexicon,
        "mix": asdict(session.settings),
        "bitrate": params.get("bitrate"),
        "mono": params.get("mono"),
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]
