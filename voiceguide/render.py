"""From a compiled script to a finished session: speak, lay out, mix, write.

This is the one place the pipeline's stages meet; each stage stays ignorant
of the others (the compiler never hears audio, the mixer never synthesizes).
"""

from __future__ import annotations

import datetime
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from voiceguide.ahead import ahead
from voiceguide.ambience import Bed
from voiceguide.arriving import ArrivingMix, Relaid
from voiceguide.clipbank import release_freed_memory
from voiceguide.compiler import layout
from voiceguide.errors import SpeechError, VoiceguideError
from voiceguide.export import (
    DEFAULT_BITRATE,
    Cover,
    Measured,
    Rejected,
    Tags,
    Trim,
    atomic_paths,
    check_bitrate,
    check_chapters,
    codec_trim,
    default_cover,
    duration_label,
    encode_into,
    format_of,
    lrc,
    lyrics,
    refuse_overlaps,
    write_into,
)
from voiceguide.export import subtitles as subtitles_text
from voiceguide.mixer import RATE, ClipBank, Mixer, MixSettings
from voiceguide.script import Cue, Script
from voiceguide.speech import Speaker, VoiceSettings, check_script, normalize_text

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
    lufs: float  # integrated loudness of the delivered file, as ffmpeg's ebur128 measures it
    target_lufs: float
    peak_db: float  # sample peak of the mix, before encoding
    bed_lift_db: float  # how far a sparse session's bed was lifted to reach the target
    true_peak: float = float("-inf")  # true peak of the delivered file (ebur128), dBTP
    reached: bool = True  # the mix reached the target (False: see quiet_reason)
    quiet_reason: str = ""  # "sparse": few words for its length; "codec": a low bitrate's peaks
    notes: tuple[str, ...] = ()  # plain-words remarks for the user (e.g. a bitrate not used)
    warnings: tuple[str, ...] = ()  # what was said differently (titles the voice cannot read)
    #: How the level moved (dB, each move) while speech was still being made: a cold
    #: render's mix starts on estimated speech (``voiceguide.arriving``). Empty when the
    #: file was mixed at one gain throughout.
    level_moves: tuple[float, ...] = ()


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
                bank.add(text, clip.samples, clip.powers, clip.peak)
            release_freed_memory()  # the batch's arrays: memory stays flat however many cues
            if progress:
                progress("speech", start + len(batch), len(texts))
        fresh = speaker.engine_calls - before
    finally:
        if own:
            speaker.close()
    return bank, fresh


#: What a "Coming up next" line says instead when the voice cannot read the step's title.
NEXT_FALLBACK = "Next step."


def speakable(script: Script, language: str, voice_id: str = "") -> tuple[Script, tuple[str, ...]]:
    """The script with "Coming up next" lines the voice cannot read replaced by "Next step.".

    A step title is shown and written to the chapter as it is, in any script;
    only the spoken announcement needs the voice's language. Any other text the
    voice cannot read still fails, with the speech engine's own message.
    """
    cues: list[Cue] = []
    warnings: list[str] = []
    for cue in script.cues:
        if cue.kind == "next":
            try:
                check_script(normalize_text(cue.text), language, voice_id)
            except SpeechError:
                title = script.steps[cue.step + 1].title if _has_next(script, cue) else cue.text
                warnings.append(
                    f"the voice cannot read the step title {title!r}: it says "
                    f"{NEXT_FALLBACK!r} instead (the chapter keeps the title)"
                )
                cue = replace(cue, text=NEXT_FALLBACK)
        cues.append(cue)
    if not warnings:
        return script, ()
    return replace(script, cues=tuple(cues)), tuple(dict.fromkeys(warnings))


def _has_next(script: Script, cue: Cue) -> bool:
    return cue.step is not None and cue.step + 1 < len(script.steps)


def load_beds(script: Script) -> dict[str, Bed]:
    return {span.bed: Bed.load(span.bed) for span in script.beds if span.bed is not None}


def prepare(
    script: Script,
    voice: VoiceSettings,
    lexicon: Mapping[str, str] | None = None,
    settings: MixSettings | None = None,
    progress: Progress | None = None,
) -> tuple[Mixer, int]:
    """Speech, real-length layout and beds: everything a sink needs to pull audio.

    Announcements of step titles the voice cannot read are replaced first
    (:func:`speakable`); what was replaced is added to the script's warnings.
    """
    settings = settings or MixSettings()  # the voice's volume is in its clips already
    with Speaker(voice, lexicon=lexicon) as speaker:
        script = _readable(script, speaker)
        return _spoken_first(script, voice, lexicon, settings, progress, speaker)


def _readable(script: Script, speaker: Speaker) -> Script:
    """:func:`speakable` for ``speaker``'s voice, with what it replaced among the warnings."""
    script, warnings = speakable(script, speaker.language, speaker.voice_id)
    return replace(script, warnings=script.warnings + warnings) if warnings else script


def _spoken_first(
    script: Script, voice: VoiceSettings, lexicon: Mapping[str, str] | None,
    settings: MixSettings, progress: Progress | None, speaker: Speaker,
) -> tuple[Mixer, int]:  # fmt: skip
    """Every clip made first, then the exact plan (and the fresh clips' count)."""
    bank, fresh = speak(script, voice, lexicon, progress, speaker=speaker)
    speaker.close()  # the workers' memory goes back before the mix
    laid = layout(script, [bank.duration(c.text) for c in script.cues])
    return Mixer(laid, bank, load_beds(laid), settings), fresh


@dataclass(frozen=True)
class FileOptions:
    """How the file is written: everything ``render`` takes beyond the session itself."""

    bitrate: int | None = None  # None: the format's default
    mono: bool = False
    id3_version: int = 3
    cover: Cover | None = None  # None: voiceguide's default picture
    subtitles: Path | None = None
    script_json: Path | None = None
    lyrics: Path | None = None  # a timed LRC beside the audio


def render(
    script: Script,
    to: Path,
    *,
    voice: VoiceSettings | None = None,
    lexicon: Mapping[str, str] | None = None,
    settings: MixSettings | None = None,
    bitrate: int | None = None,
    mono: bool = False,
    subtitles: Path | None = None,
    script_json: Path | None = None,
    progress: Progress | None = None,
    files: FileOptions | None = None,
    inputs: Mapping[str, Path | None] | None = None,
) -> RenderResult:
    """Write the whole session to ``to`` (format by extension), measured as delivered.

    Every check that can fail (format, folders, overlaps, bitrate, chapter
    count) runs before any speech or mixing. The mix aims at the target
    loudness plus the codec's measured loss and leaves the codec's overshoot
    as extra peak headroom; the loudness reported is ffmpeg's measurement of
    the written file.

    ``inputs`` names files an output must never replace (the routine, the
    config); the script's own bed files are added here.
    """
    started = time.perf_counter()
    files = files or FileOptions(bitrate=bitrate, mono=mono, subtitles=subtitles,
                                 script_json=script_json)  # fmt: skip
    to = Path(to)
    fmt = format_of(to)  # fail on a bad extension before any work
    beds = {f"bed {bed}": Path(bed) for bed in _bed_files(script)}
    refuse_overlaps(
        {"output": to, "subtitles file": files.subtitles, "script file": files.script_json,
         "lyrics file": files.lyrics},
        {**(inputs or {}), **beds},
    )  # fmt: skip
    for path in (to, files.subtitles, files.script_json, files.lyrics):
        if path is not None and not Path(path).resolve().parent.is_dir():
            raise VoiceguideError(f"{path}: folder {Path(path).resolve().parent} does not exist")
    channels = 1 if files.mono else 2
    notes = [n for n in [check_bitrate(fmt, files.bitrate, channels)] if n]
    if fmt == "mp3":
        check_chapters(len(script.chapters))
    rate_kbps = files.bitrate or DEFAULT_BITRATE
    voice = voice or VoiceSettings()
    wanted = settings or MixSettings()
    trim = codec_trim(fmt, rate_kbps, channels)
    aimed = _aimed(wanted, trim)
    sides = [p for p in (files.subtitles, files.script_json, files.lyrics) if p is not None]
    # Every output is a locked temp from here on: a folder that cannot be
    # written fails now, and the outputs appear together or not at all.
    with atomic_paths(to, *sides) as (tmp, *side_tmps), Speaker(voice, lexicon=lexicon) as speaker:
        first = _first_mix(script, voice, lexicon, aimed, progress, speaker, fmt)
        mixer = first if isinstance(first, Mixer) else None  # None: the first mix is arriving
        passes = 0
        while True:
            source = mixer or first
            final = partial(_final, source)
            peak = _Peak()
            try:
                measured = encode_into(
                    peak.watch(_blocks(source), source.length, progress), tmp, fmt, rate=RATE,
                    channels=channels, bitrate=rate_kbps, id3_version=files.id3_version,
                    tags=lambda f=final: session_tags(f().script, voice, files.cover),
                    chapters=lambda f=final: f().script.chapters, measured=True,
                    frames=mixer.length if mixer else None, open_end=mixer is None,
                    accept=None if passes == MIX_PASSES - 1
                    else lambda m, f=final: _on_target(m, wanted, _reached(f())),
                )  # fmt: skip
                break
            except Relaid:  # the arriving mix could not settle its level: the exact plan
                mixer = _final(first)
            except Rejected as rejected:  # the codec moved it more than its trim: mix again
                mixer = final()
                m = rejected.measured
                louder = m.lufs > wanted.target_lufs + LUFS_TOLERANCE
                fix = wanted.target_lufs - m.lufs if _reached(mixer) or louder else 0.0
                room = m.true_peak - wanted.ceiling_db + 0.3  # negative: peaks left room
                last = passes == MIX_PASSES - 2  # the next mix is taken as it comes: only safer
                gain = trim.gain_db + (min(0.0, fix) if last else fix)
                headroom = max(0.0, trim.headroom_db + (max(0.0, room) if last else room))
                trim = replace(trim, gain_db=gain, headroom_db=headroom)
                mixer = Mixer(mixer.script, mixer.clips, mixer.beds, _aimed(wanted, trim))
                passes += 1
        mixer = final()
        moves = _moves(source)
        laid = mixer.script
        reached = _reached(mixer)
        fresh = speaker.engine_calls
        assert measured is not None
        texts: list[str] = []
        if files.subtitles is not None:
            texts.append(subtitles_text(laid, srt=files.subtitles.suffix.lower() == ".srt"))
        if files.script_json is not None:
            texts.append(script_json_text(laid, measured.lufs, measured.true_peak))
        if files.lyrics is not None:
            texts.append(lrc(laid))
        for path, text, side_tmp in zip(sides, texts, side_tmps, strict=True):
            write_into(side_tmp, text, shown=path)
        mixer.clips.close()  # the clips' temporary file (a crash frees it too: it has no name)
    return RenderResult(
        path=to, script=laid, seconds=time.perf_counter() - started, synthesized=fresh,
        lufs=measured.lufs, peak_db=peak.db, true_peak=measured.true_peak,
        bed_lift_db=20 * np.log10(mixer.bed_lift), target_lufs=wanted.target_lufs,
        reached=reached, notes=tuple(notes), quiet_reason=_quiet_reason(mixer, wanted, reached),
        warnings=laid.warnings[len(script.warnings) :], level_moves=moves,
    )  # fmt: skip


def _first_mix(
    script: Script, voice: VoiceSettings, lexicon: Mapping[str, str] | None,
    settings: MixSettings, progress: Progress | None, speaker: Speaker, fmt: str,
) -> Mixer | ArrivingMix:  # fmt: skip
    """The exact plan when every clip is cached; else a mix that starts while speech is made.

    Speaking first stays the way for M4B (its chapters go in with the audio)
    and for low-bitrate mixes that plan on the limiter's share of the loudness.
    """
    script = _readable(script, speaker)
    if fmt != "m4b" and settings.limit_db == 0 and speaker.uncached(c.text for c in script.cues):
        return ArrivingMix(script, speaker, load_beds(script), settings)
    return _spoken_first(script, voice, lexicon, settings, progress, speaker)[0]


def _blocks(source: Mixer | ArrivingMix) -> Iterator[np.ndarray]:
    """The mix's blocks; an exact plan's are made ahead in an idle thread (see
    :mod:`voiceguide.ahead`), a mix still speaking is not (its speech may start processes)."""
    return ahead(source.blocks()) if isinstance(source, Mixer) else source.blocks()


def _final(source: Mixer | ArrivingMix) -> Mixer:
    """The exact plan of a mix (an arriving one's, once its blocks are made)."""
    if isinstance(source, Mixer):
        return source
    assert source.exact is not None
    return source.exact


def _moves(written: Mixer | ArrivingMix) -> tuple[float, ...]:
    """The level's moves (dB) in the file as written: none unless an arriving mix made it."""
    if not isinstance(written, ArrivingMix):
        return ()
    gains = [written.curve.first] + [g for *_, g in written.curve.moves]
    return tuple(20 * math.log10(b / a) for a, b in itertools.pairwise(gains))


def _reached(mixer: Mixer) -> bool:
    return mixer.achieved_lufs >= mixer.settings.target_lufs - 0.05


def _bed_files(script: Script) -> list[str]:
    """The beds that are the user's files (bundled beds are names)."""
    return [
        span.bed for span in script.beds
        if span.bed is not None and ("/" in span.bed or Path(span.bed).is_file())
    ]  # fmt: skip


#: How far the delivered file may miss the target loudness before it is mixed again.
LUFS_TOLERANCE = 0.2


def _quiet_reason(mixer: Mixer, wanted: MixSettings, reached: bool) -> str:
    """Why a session stayed under the target: its few words, or the codec's peak headroom.

    The same session mixed with the plain ceiling tells them apart: if it
    would have reached the target, the extra headroom the codec needs is why.
    """
    if reached:
        return ""
    plain = replace(mixer.settings, ceiling_db=wanted.ceiling_db, limit_db=wanted.limit_db)
    if plain == mixer.settings:
        return "sparse"
    unconstrained = Mixer(mixer.script, mixer.clips, mixer.beds, plain)
    return "codec" if unconstrained.achieved_lufs >= plain.target_lufs - 0.05 else "sparse"


def _aimed(wanted: MixSettings, trim: Trim) -> MixSettings:
    """What the mixer aims at so that the file, once encoded, meets ``wanted``."""
    return replace(wanted, target_lufs=wanted.target_lufs + trim.gain_db,
                   ceiling_db=wanted.ceiling_db - trim.headroom_db,
                   limit_db=max(wanted.limit_db, trim.limit_db))  # fmt: skip


def _on_target(measured: Measured, wanted: MixSettings, reached: bool) -> bool:
    """The file is within the targets: the ceiling always, the loudness when it was reachable."""
    if measured.true_peak > wanted.ceiling_db:
        return False
    if measured.lufs > wanted.target_lufs + LUFS_TOLERANCE:
        return False
    if measured.lufs >= wanted.target_lufs - LUFS_TOLERANCE:
        return True
    # Under the target: fine if the mix could not reach it, unless the codec's peaks left
    # room under the ceiling (its trim guessed high): then mix again with that room used.
    return not reached and measured.true_peak >= wanted.ceiling_db - PEAK_ROOM


#: Mixes at most: the first on the codec's trim, one to correct by what the file measured,
#: one more only if that correction overshot the ceiling (the last is taken as it comes).
MIX_PASSES = 3
#: Unused room under the ceiling (dB) that is worth another mix when a file came out quiet
#: and could not reach the target. Another mix doubles the render and gains the room less a
#: 0.3 dB margin, so it is worth it only for a dB or more. At 0.8 it was a cliff that sessions
#: sit on: MP3's trim keeps the mix 0.5 dB under the ceiling, and where the encoder happened to
#: lower the peaks by 0.3 dB the file landed right at 0.8 (docs/benchmarks.md).
PEAK_ROOM = 1.5


def script_json_text(script: Script, lufs: float, true_peak: float) -> str:
    """The timed script as JSON, with the delivered file's loudness beside it."""
    import json

    data = script.to_dict()
    data["loudness"] = {"integrated_lufs": round(lufs, 2), "true_peak_dbtp": round(true_peak, 2)}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def session_tags(script: Script, voice: VoiceSettings, cover: Cover | None = None) -> Tags:
    """Tags that tell renders apart ("Lower back relaxation · 20 min") and say, in plain
    words, how the session sounds."""
    length = duration_label(script.duration)
    return Tags(
        title=f"{script.title} · {length}",
        album=script.title,
        comment=_plain_comment(script, voice),
        date=datetime.date.today().isoformat(),
        length=script.duration,
        lyrics=lyrics(script),
        cover=cover or default_cover(),
    )


def _plain_comment(script: Script, voice: VoiceSettings) -> str:
    from voiceguide.speech.voices import voice_label

    beds = sorted({Path(span.bed).stem for span in script.beds if span.bed})
    bed = f"{' then '.join(beds)} in the background" if beds else "no background sound"
    pace = float(script.options.get("pace") or 1.0)
    tempo = "as written" if abs(pace - 1) < 0.01 else ("slower" if pace < 1 else "faster")
    steps = len(script.steps)
    return (
        f"A {duration_label(script.duration)} guided back massage in {steps} "
        f"step{'s' if steps != 1 else ''}. Voice {voice_label(voice)} at {voice.rate} words a "
        f"minute, "
        f"{bed}, pace {tempo}. Made with voiceguide."
    )


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
