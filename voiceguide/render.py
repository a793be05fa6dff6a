"""From a compiled script to a finished session: speak, lay out, mix, write.

This is the one place the pipeline's stages meet; each stage stays ignorant
of the others (the compiler never hears audio, the mixer never synthesizes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceguide.ambience import Bed
from voiceguide.compiler import layout
from voiceguide.export import (
    Tags,
    atomic_paths,
    encode_into,
    format_of,
    refuse_overlaps,
    write_into,
)
from voiceguide.export import subtitles as subtitles_text
from voiceguide.mixer import RATE, ClipBank, Mixer, MixSettings
from voiceguide.script import Script
from voiceguide.speech import Speaker, VoiceSettings
from voiceguide.times import format_duration

Progress = Callable[[str, int, int], None]
#: Clips come from the speech engine as float32 and are kept as int16: a batch
#: at a time bounds what is held twice.
SPEECH_BATCH = 16


@dataclass(frozen=True)
class RenderResult:
    path: Path
    script: Script
    seconds: float  # wall time taken
    synthesized: int  # clips made fresh (0 on a warm cache)
    lufs: float  # the loudness the mix was brought to (tests check it with ffmpeg's ebur128)
    target_lufs: float
    peak_db: float  # sample peak of the output
    bed_lift_db: float  # how far a sparse session's bed was lifted to reach the target


def speak(
    script: Script,
    voice: VoiceSettings,
    lexicon: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    speaker: Speaker | None = None,
) -> tuple[ClipBank, int]:
    """Synthesize every cue (cache first) into a compact bank; returns it and the fresh count."""
    texts = list(dict.fromkeys(c.text for c in script.cues))
    own = speaker is None
    speaker = speaker or Speaker(voice, lexicon=lexicon)
    bank = ClipBank()
    try:
        before = speaker.engine_calls
        for start in range(0, len(texts), SPEECH_BATCH):  # float clips live one batch at a time
            batch = texts[start : start + SPEECH_BATCH]
            for text, clip in speaker.clips(batch).items():
                bank.add(text, clip.samples, clip.powers)
            if progress:
                progress("speech", start + len(batch), len(texts))
        fresh = speaker.engine_calls - before
    finally:
        if own:
            speaker.close()
    return bank, fresh


def load_beds(script: Script) -> dict[str, Bed]:
    return {span.bed: Bed.load(span.bed) for span in script.beds if span.bed is not None}


def prepare(
    script: Script,
    voice: VoiceSettings,
    lexicon: Mapping[str, str] | None = None,
    settings: MixSettings | None = None,
    progress: Progress | None = None,
) -> tuple[Mixer, int]:
    """Speech, real-length layout and beds: everything a sink needs to pull audio."""
    settings = settings or MixSettings()  # the voice's volume is in its clips already
    bank, fresh = speak(script, voice, lexicon, progress)
    laid = layout(script, [bank.duration(c.text) for c in script.cues])
    return Mixer(laid, bank, load_beds(laid), settings), fresh


def render(
    script: Script,
    to: Path,
    *,
    voice: VoiceSettings | None = None,
    lexicon: Mapping[str, str] | None = None,
    settings: MixSettings | None = None,
    bitrate: int = 128,
    mono: bool = False,
    subtitles: Path | None = None,
    script_json: Path | None = None,
    progress: Progress | None = None,
    inputs: Mapping[str, Path | None] | None = None,
) -> RenderResult:
    """Write the whole session to ``to`` (format by extension).

    ``inputs`` names files an output must never replace (the routine, the
    config); the script's own bed files are added here.
    """
    started = time.perf_counter()
    to = Path(to)
    fmt = format_of(to)  # fail on a bad extension before any work
    beds = {f"bed {bed}": Path(bed) for bed in _bed_files(script)}
    refuse_overlaps(
        {"output": to, "subtitles file": subtitles, "script file": script_json},
        {**(inputs or {}), **beds},
    )
    sides = {path: text for path, text in ((subtitles, None), (script_json, None)) if path}
    # Every output is a locked temp from here on: a folder that cannot be
    # written fails now, and the outputs appear together or not at all.
    with atomic_paths(to, *sides) as (tmp, *side_tmps):
        voice = voice or VoiceSettings()
        mixer, fresh = prepare(script, voice, lexicon, settings, progress)
        laid = mixer.script
        peak = _Peak()
        blocks = peak.watch(mixer.blocks(), mixer.length, progress)
        encode_into(blocks, tmp, fmt, rate=RATE, channels=1 if mono else 2, bitrate=bitrate,
                    tags=_tags(laid, voice), chapters=laid.chapters)  # fmt: skip
        if subtitles is not None:
            sides[subtitles] = subtitles_text(laid, srt=subtitles.suffix.lower() == ".srt")
        if script_json is not None:
            sides[script_json] = laid.to_json() + "\n"
        for (path, text), side_tmp in zip(sides.items(), side_tmps, strict=True):
            write_into(side_tmp, text or "", shown=path)
    return RenderResult(
        path=to, script=laid, seconds=time.perf_counter() - started, synthesized=fresh,
        lufs=mixer.achieved_lufs, peak_db=peak.db,
        bed_lift_db=20 * np.log10(mixer.bed_lift), target_lufs=mixer.settings.target_lufs,
    )  # fmt: skip


def _bed_files(script: Script) -> list[str]:
    """The beds that are the user's files (bundled beds are names)."""
    return [
        span.bed for span in script.beds
        if span.bed is not None and ("/" in span.bed or Path(span.bed).is_file())
    ]  # fmt: skip


def _tags(script: Script, voice: VoiceSettings) -> Tags:
    from voiceguide.speech.voices import voice_label

    pitch = "" if voice.pitch is None else f", pitch {voice.pitch}"
    comment = (
        f"{format_duration(round(script.duration))} session; voice {voice_label(voice)} "
        f"at {voice.rate} wpm{pitch}. Made with voiceguide."
    )
    return Tags(title=script.title, album=script.title, comment=comment)


class _Peak:
    """The sample peak of what is written, and progress as blocks go by."""

    def __init__(self) -> None:
        self.peak = 0.0

    def watch(
        self, blocks: Iterable[np.ndarray], total: int, progress: Progress | None
    ) -> Iterator[np.ndarray]:
        done = 0
        for block in blocks:
            self.peak = max(self.peak, float(np.abs(block).max(initial=0.0)))
            done += len(block)
            if progress:
                progress("mix", done, total)
            yield block

    @property
    def db(self) -> float:
        return 20 * np.log10(self.peak) if self.peak > 0 else float("-inf")
