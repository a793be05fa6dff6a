"""The session as live playback sees it: sound at once, speech as it arrives.

Playback must start within half a second, long before every cue is
synthesized (a cold start needs a second just to boot the speech workers).
The session opens on two seconds of bed, so the player starts on a mixer
whose cues are silent placeholders of their estimated length, and a
background thread swaps in real clips — first the earliest cues — laying the
script out again each time. Cues only ever move later, and only the part not
yet heard changes. If the playhead ever reaches a cue whose clip is still
missing, the bed simply plays on a little longer (time is inserted there).

The master gain is fixed once at the start, from the beds' loudness profiles
and clips assumed at their normalized loudness, so the level never jumps; it
differs from an offline render's gain by a fraction of a dB.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from voiceguide import edits
from voiceguide.ambience import Bed
from voiceguide.compiler import layout
from voiceguide.errors import VoiceguideError
from voiceguide.mixer import ClipBank, Mixer, MixSettings
from voiceguide.script import Cue, Script
from voiceguide.speech import Speaker, VoiceSettings

#: After the first three, clips arrive this many at a time (each batch re-lays the script).
BATCH = 8
#: This many cues failing in a row means speech itself is gone, not one odd sentence.
GIVE_UP = 3


@dataclass(frozen=True)
class _Edit:
    kind: str  # "insert", "remove", "extend" or "repeat"
    at: float
    seconds: float = 0.0


class LiveSession:
    """A mixer that is always safe to pull from, improving as clips arrive."""

    def __init__(
        self,
        script: Script,
        voice: VoiceSettings,
        lexicon: Mapping[str, str] | None = None,
        settings: MixSettings | None = None,
        speaker_factory: Callable[[], Speaker] | None = None,
        start: float = 0.0,
        warn: Callable[[str], None] | None = None,
        beds: Mapping[str, Bed] | None = None,
    ) -> None:
        self.base = script
        self.start_at = start  # where playback begins: its speech is made first
        self.voice = voice
        self.settings = settings or MixSettings()  # the voice's volume is in its clips already
        self.bank = ClipBank()
        for cue in script.cues:
            self.bank.placeholder(cue.text, cue.length)
        self._edits: list[_Edit] = []
        self._lock = threading.RLock()
        beds = live_beds(script) if beds is None else beds  # given: already decoding
        self.mixer = Mixer(script, self.bank, beds, self.settings)
        self.mixer.levels  # noqa: B018 - fix the levels now, before anything changes
        # ``warn`` takes the speaker's warnings (an unusable cache): a live screen shows
        # them on its own lines, since a line on stderr would draw over it.
        self._factory = speaker_factory or (lambda: Speaker(voice, lexicon=lexicon, warn=warn))
        self.error: VoiceguideError | None = None
        self.failed: dict[str, str] = {}  # text -> why it could not be said (the clock goes on)
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._synthesize, name="speech", daemon=True)

    # -- background speech

    def start(self) -> None:
        self._thread.start()

    def _synthesize(self) -> None:
        try:
            with self._factory() as speaker:
                streak = 0  # texts failed in a row: past GIVE_UP, speech is gone altogether
                for batch in self._batches():
                    try:
                        clips = speaker.clips(batch)
                    except VoiceguideError:
                        clips = {}
                        for text in batch:  # one bad cue must not silence its neighbours
                            try:
                                clips[text] = speaker.clip(text)
                                streak = 0
                            except VoiceguideError as err:
                                self.failed[text] = str(err)
                                streak += 1
                                if streak >= GIVE_UP:
                                    raise
                    for text, clip in clips.items():
                        self.bank.replace(text, clip.samples, clip.powers, clip.peak)
                    self._rebuild()
        except VoiceguideError as err:
            self.error = err
        finally:
            self.done.set()

    def _batches(self) -> list[list[str]]:
        """Texts in the order they will be needed from where playback starts, a few at a time."""
        ahead = sorted((c for c in self.base.cues if c.at >= self.start_at), key=lambda c: c.at)
        behind = sorted((c for c in self.base.cues if c.at < self.start_at), key=lambda c: c.at)
        texts = list(dict.fromkeys(c.text for c in (*ahead, *behind)))
        return [texts[:3]] + [texts[i : i + BATCH] for i in range(3, len(texts), BATCH)]

    # -- the current script

    @property
    def script(self) -> Script:
        return self.mixer.script

    def ready(self, until: float) -> bool:
        """Whether every cue starting before ``until`` has its real clip (or never will)."""
        mixer, failed = self.mixer, self.failed
        return not any(
            c.text in mixer.missing and c.text not in failed
            for c in mixer.script.cues
            if c.at < until
        )

    def failures(self) -> str:
        """A line about the latest cue that could not be said ('' when none)."""
        if not self.failed:
            return ""
        text, why = list(self.failed.items())[-1]
        more = f" (and {len(self.failed) - 1} more)" if len(self.failed) > 1 else ""
        return f"could not say “{_short(text)}”{more}: {why}"

    def release(self, at: float, seconds: float) -> None:
        """Take back ``seconds`` of held bed from ``at``: a wait is over."""
        with self._lock:
            self._apply(_Edit("remove", at, seconds))

    def extensions(self) -> list[tuple[float, float]]:
        """(at, seconds) of every +/- change made so far, for a resume point."""
        with self._lock:
            return [(e.at, e.seconds) for e in self._edits if e.kind == "extend"]

    def hold(self, at: float, seconds: float) -> None:
        """Play the bed on for ``seconds`` at ``at``: speech is late, so wait for it."""
        with self._lock:
            self._apply(_Edit("insert", at, seconds))

    def extend(self, at: float, seconds: float) -> float:
        """+/- time on the step at ``at``; returns what was actually changed."""
        with self._lock:  # worked out and applied on the same script
            _, changed = edits.extend_step(self.script, at, seconds)
            if changed:
                self._apply(_Edit("extend", at, changed))
        return changed

    def repeat(self, at: float) -> Cue | None:
        with self._lock:
            _, again = edits.repeat_instruction(self.script, at)
            if again is not None:
                self._apply(_Edit("repeat", at))
        return again

    def _apply(self, edit: _Edit) -> None:
        """Record and apply an edit (the caller holds the lock)."""
        self._edits.append(edit)
        self.mixer = self.mixer.derive(_edited(self.script, edit))

    def _rebuild(self) -> None:
        """Lay the base script out with the clips known now, then replay the edits."""
        with self._lock:
            laid = layout(self.base, [self.bank.duration(c.text) for c in self.base.cues])
            for edit in self._edits:
                laid = _edited(laid, edit)
            self.mixer = self.mixer.derive(laid)


def live_beds(script: Script) -> dict[str, Bed]:
    """The session's beds, a user's file playable before it is decoded in full.

    Its level is then taken from its opening seconds (``voiceguide.userbed``).
    """
    return {s.bed: Bed.load(s.bed, wait=False) for s in script.beds if s.bed is not None}


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _edited(script: Script, edit: _Edit) -> Script:
    if edit.kind == "insert":
        return edits.insert_time(script, edit.at, edit.seconds)
    if edit.kind == "remove":
        return edits.remove_time(script, edit.at, edit.seconds)
    if edit.kind == "extend":
        return edits.extend_step(script, edit.at, edit.seconds)[0]
    return edits.repeat_instruction(script, edit.at)[0]
