"""One render for ``serve``, in its own process: ``python -m voiceguide.web.worker``.

Reads ``{"routine", "argv", "folder"}`` as JSON on stdin, renders exactly as
``voiceguide render ROUTINE ARGV --subtitles --script`` would into that folder,
and reports on stdout, one JSON object a line: progress (fraction done, the
step being worked on), then nothing more on success, or ``{"error": line}``.
SIGINT stops it; the file writers remove their temp files on the way out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from voiceguide.errors import VoiceguideError
from voiceguide.script import Script

#: The share of the bar speech takes; mixing and encoding take the rest.
SPEECH_SHARE = 0.25
MIN_STEP = 0.02  # report at least this much advance (and every change of step)


class ServerGone(Exception):
    """The server stopped reading: stop rendering (and clean up) rather than write on."""


def emit(message: dict[str, Any]) -> None:
    try:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # Not a BrokenPipeError any more: the encoder treats that one as ffmpeg's own pipe
        # closing and would wait for ffmpeg forever instead of stopping it.
        raise ServerGone from None


class Reporter:
    """Turns render's ``(stage, done, total)`` calls into fraction + step lines."""

    def __init__(self, script: Script, rate: int) -> None:
        self.script = script
        self.rate = rate
        texts = list(dict.fromkeys(c.text for c in script.cues))
        first = {}
        for cue in script.cues:
            first.setdefault(cue.text, cue)
        self.text_steps = [first[t].step for t in texts]
        self.last: tuple[str, int, float] | None = None

    def chapter_of_step(self, step: int | None) -> int:
        for index, chapter in enumerate(self.script.chapters):
            if chapter.step == step:
                return index
        return 0

    def chapter_at(self, seconds: float) -> int:
        index = 0
        for i, chapter in enumerate(self.script.chapters):
            if chapter.start <= seconds:
                index = i
        return index

    def __call__(self, stage: str, done: int, total: int) -> None:
        share = done / total if total else 1.0
        if stage == "speech":
            fraction = SPEECH_SHARE * share
            chapter = self.chapter_of_step(self.text_steps[max(done - 1, 0)])
        else:
            fraction = SPEECH_SHARE + (1 - SPEECH_SHARE) * share
            chapter = self.chapter_at(done / self.rate)
        if self.last and (stage, chapter) == self.last[:2] and fraction < self.last[2] + MIN_STEP:
            return
        self.last = (stage, chapter, fraction)
        title = self.script.chapters[chapter].title if self.script.chapters else ""
        emit({"fraction": round(fraction, 4), "stage": stage, "step": chapter, "title": title})


def run(job: dict[str, Any]) -> None:
    from voiceguide.cli.options import session_setup
    from voiceguide.mixer import RATE
    from voiceguide.render import render
    from voiceguide.routine import load_routine
    from voiceguide.web.requests import parse_render_options
    from voiceguide.web.sessions import AUDIO, SCRIPT, SUBTITLES

    folder = Path(job["folder"])
    params = parse_render_options(job["routine"], list(job["argv"]))
    session = session_setup(load_routine(job["routine"]), params)
    reporter = Reporter(session.script, RATE)
    reporter("speech", 0, len(reporter.text_steps))  # the page hears at once that work began
    render(
        session.script, folder / AUDIO, voice=session.voice, lexicon=session.lexicon,
        settings=session.settings, bitrate=params["bitrate"], mono=params["mono"],
        subtitles=folder / SUBTITLES, script_json=folder / SCRIPT,
        progress=reporter,
    )  # fmt: skip


def main() -> int:
    try:
        run(json.loads(sys.stdin.read()))
    except VoiceguideError as err:
        emit({"error": f"voiceguide: {err}"})
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except ServerGone:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
