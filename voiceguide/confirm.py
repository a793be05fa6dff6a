"""Answers by ear: every key press gets a soft earcon at once, then a few words.

The giver's eyes are on a partner's back, so a foot tap must be confirmed
without looking. An earcon is made here (a short sine blip, different for
each kind of action) and mixed over the session from the very next block,
so it is heard within a quarter of a second; the words ("Paused.", "Next:
kneading, left side.") follow in the session's own voice, synthesized by a
speaker of their own so they never wait behind the session's speech. The
phrases a session can need are made ahead, in the background, at start.

Sounds are placed on the *output* timeline (the player's clock, in samples),
not the session's: a jump or a pause moves the session, not what is being
said about it. The player asks for any span with :meth:`Confirmer.render`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from voiceguide.errors import VoiceguideError
from voiceguide.mixer import RATE
from voiceguide.speech import Speaker, VoiceSettings, resample

#: Earcons: (frequencies in Hz, played one after the other), each note this long.
EARCONS: dict[str, tuple[float, ...]] = {
    "pause": (660.0, 440.0),
    "resume": (440.0, 660.0),
    "next": (587.0, 880.0),
    "back": (880.0, 587.0),
    "more": (660.0, 784.0),
    "less": (784.0, 660.0),
    "louder": (784.0,),
    "softer": (523.0,),
    "repeat": (660.0, 660.0),
    "stop": (523.0, 392.0),
    "nothing": (330.0,),
    "fault": (294.0, 262.0),
    "ready": (523.0, 659.0, 784.0),
}
NOTE = 0.06
EARCON_DB = -24.0  # peak level: soft, under the voice and the bed's loudest moments
WORDS_DB = -3.0  # the words a little under the narration
#: Words not yet started when a newer press arrives are dropped; older than this, too.
STALE = 2.0
FADE = int(0.01 * RATE)


def earcon(kind: str) -> np.ndarray:
    """A soft blip of one to three notes, raised-cosine shaped (no click), mono float32."""
    n = int(NOTE * RATE)
    t = np.arange(n) / RATE
    envelope = np.sin(np.pi * np.arange(n) / n) ** 2
    notes = [np.sin(2 * np.pi * f * t) * envelope for f in EARCONS.get(kind, EARCONS["nothing"])]
    return (np.concatenate(notes) * 10 ** (EARCON_DB / 20)).astype(np.float32)


@dataclass
class _Sound:
    start: int  # output sample
    samples: np.ndarray  # mono float32
    words: bool
    first_block: int | None = None  # the block it was first mixed into (not faded in there)

    @property
    def end(self) -> int:
        return self.start + len(self.samples)


#: Longest the confirmation voice waits for the session's first sound before it starts.
START_WAIT = 3.0


class Confirmer:
    """Earcons and spoken confirmations, mixed over the live output on demand.

    ``confirm`` may be called from any thread; ``render`` from the player's.
    """

    def __init__(
        self,
        voice: VoiceSettings | None = None,
        lexicon: Mapping[str, str] | None = None,
        *,
        words: bool = True,
        gain: float = 1.0,
        speaker_factory: Callable[[], Speaker] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.words = words
        self.gain = gain  # the session's master gain: words sit at the narration's level
        self._factory = speaker_factory or (
            lambda: Speaker(voice or VoiceSettings(), lexicon=lexicon, workers=1, warn=warn)
        )
        self._lock = threading.Lock()
        self._sounds: list[_Sound] = []
        self._clips: dict[str, np.ndarray] = {}
        self._wanted: queue.SimpleQueue[tuple[str, int | None]] = queue.SimpleQueue()
        self._asked: tuple[str, int] | None = None  # the words waited for, and since when
        self._rendered = 0  # output sample up to which blocks were made
        self.error: VoiceguideError | None = None
        self.warm = threading.Event()  # set once the phrases asked for at start are made
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._after: threading.Event | None = None
        self.said: list[tuple[int, str]] = []  # (output sample, words): for tests and the log

    # -- the speech thread

    def start(self, phrases: Iterable[str] = (), after: threading.Event | None = None) -> None:
        """Start the speaker and make ``phrases`` ahead (when words are on).

        ``after`` (the player's first sound): the speaker's engine starts only then,
        or after :data:`START_WAIT` seconds, since booting a neural voice takes a core
        for most of a second and the session's first block and speech come first.
        """
        if not self.words:
            return
        for text in dict.fromkeys(p for p in phrases if p):
            self._wanted.put((text, None))
        self._after = after
        self._thread = threading.Thread(target=self._speak, name="confirm", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop making words; phrases still queued are dropped (the thread is a daemon)."""
        if self._thread is not None:
            self._stopping = True
            self._wanted.put(("", None))
            self._thread.join(timeout=0.3)

    def finish(self, timeout: float) -> None:
        """After :meth:`stop`: wait (bounded) for the clip being made and the speaker's close,
        so a finished session exits with its clips stored and its workers gone."""
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def _speak(self) -> None:
        if self._after is not None:
            self._after.wait(START_WAIT)
        try:
            with self._factory() as speaker:
                while True:
                    text, at = self._next_wanted()
                    if not text or self._stopping:
                        return
                    if text not in self._clips:
                        try:
                            clip = speaker.clip(text)
                        except VoiceguideError:
                            continue  # a confirmation that cannot be said: the earcon did its job
                        samples = clip.samples if clip.rate == RATE else resample(
                            clip.samples, clip.rate, RATE)  # fmt: skip
                        self._clips[text] = np.asarray(samples, np.float32)
                    if at is not None:
                        self._place(text, at)
                    if self._wanted.empty():
                        self.warm.set()
        except VoiceguideError as err:  # no speaker at all: earcons only
            self.error = err
        finally:
            self.warm.set()

    def _next_wanted(self) -> tuple[str, int | None]:
        """Asked-for words jump the queue of phrases being made ahead."""
        first = self._wanted.get()
        if first[1] is not None or not first[0]:
            return first
        pending = [first]
        while True:
            try:
                item = self._wanted.get_nowait()
            except queue.Empty:
                break
            if item[1] is not None or not item[0]:
                for later in pending:
                    self._wanted.put(later)
                return item
            pending.append(item)
        for later in pending[1:]:
            self._wanted.put(later)
        return pending[0]

    # -- asking

    def confirm(self, kind: str, words: str | None, at: float) -> None:
        """An earcon at clock time ``at`` (the next block), then ``words`` if any."""
        start = _sample(at)
        blip = earcon(kind)
        with self._lock:
            self._cut_words(start)
            self._sounds.append(_Sound(start, blip, words=False))
        if words and self.words:
            after = start + int(NOTE * RATE) + int(0.01 * RATE)  # over the earcon's last note
            with self._lock:
                self._asked = (words, after)
            if words in self._clips:
                self._place(words, after)
            else:
                self._wanted.put((words, after))

    def _place(self, text: str, at: int) -> None:
        with self._lock:
            if self._asked is None or self._asked[0] != text:
                return  # superseded by a newer press
            if self._rendered - at > STALE * RATE:
                return
            self._asked = None
            start = max(at, self._rendered)
            self._sounds.append(_Sound(start, self._clips[text] * self._words_gain, words=True))
            self.said.append((start, text))

    @property
    def _words_gain(self) -> np.float32:
        return np.float32(self.gain * 10 ** (WORDS_DB / 20))

    def _cut_words(self, at: int) -> None:
        """A newer press silences older words: not yet started ones go, playing ones fade."""
        kept = []
        for sound in self._sounds:
            if sound.words and sound.start >= at:
                continue
            if sound.words and sound.end > at + FADE:
                cut = at - sound.start + FADE
                tail = sound.samples[:cut].copy()
                tail[-FADE:] *= np.linspace(1.0, 0.0, FADE, dtype=np.float32)
                sound.samples = tail
            kept.append(sound)
        self._sounds = kept
        self._asked = None

    def duration(self, words: str) -> float | None:
        """Seconds ``words`` take when said, if made already."""
        clip = self._clips.get(words)
        return None if clip is None else len(clip) / RATE

    # -- the output

    def busy(self, at: float) -> bool:
        """Whether anything is still to be heard at or after clock time ``at``."""
        start = _sample(at)
        with self._lock:
            return self._asked is not None or any(s.end > start for s in self._sounds)

    def render(self, at: float, n: int, fade_in: int, fade_out: int) -> np.ndarray | None:
        """Stereo float32 for ``n`` samples from clock time ``at`` (None when quiet).

        Blocks overlap with complementary fades; a sound is not faded in the
        first block it appears in (no earlier block held its beginning).
        """
        start = _sample(at)
        with self._lock:
            self._rendered = max(self._rendered, start)
            self._sounds = [s for s in self._sounds if s.end > start]
            sounds = [s for s in self._sounds if s.start < start + n]
            if not sounds:
                return None
            out = np.zeros(n, np.float32)
            for sound in sounds:
                lo, hi = max(start, sound.start), min(start + n, sound.end)
                part = sound.samples[lo - sound.start : hi - sound.start].copy()
                if sound.first_block is None:
                    sound.first_block = start
                elif fade_in and lo < start + fade_in:
                    k = min(hi, start + fade_in) - lo
                    x = (np.arange(lo - start, lo - start + k) + 0.5) / fade_in
                    part[:k] *= (np.sin(0.5 * np.pi * x) ** 2).astype(np.float32)
                if fade_out and hi > start + n - fade_out:
                    k0 = max(lo, start + n - fade_out)
                    x = (np.arange(k0 - start, hi - start) - (n - fade_out) + 0.5) / fade_out
                    part[k0 - lo :] *= (np.cos(0.5 * np.pi * x) ** 2).astype(np.float32)
                out[lo - start : hi - start] += part
        return np.repeat(out[:, None], 2, axis=1)


def _sample(t: float) -> int:
    return round(t * RATE)


def step_phrases(script) -> list[str]:  # type: ignore[no-untyped-def]
    """Every "Next: …" and "Back to …" phrase a session can need, to make them ahead."""
    out = []
    for step in script.steps:
        for side in step.sides or (None,):
            out += [next_words(step.title, side), back_words(step.title, side)]
    return out


def where_words(title: str, side: str | None) -> str:
    return f"{title}, {side} side" if side else title


def next_words(title: str, side: str | None) -> str:
    return f"Next: {where_words(title, side)}."


def back_words(title: str, side: str | None) -> str:
    return f"Back to {where_words(title, side)}."


FIXED_PHRASES = (
    "Paused.",
    "Thirty more seconds.",
    "Thirty seconds less.",
    "Louder.",
    "Softer.",
    "That was the last step.",
    "Go on.",
    "Press space when you are ready.",
)
