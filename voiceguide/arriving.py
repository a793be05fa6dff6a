"""A render's mix that starts while its speech is still being made.

A cold render used to speak every cue first (about 11 s for an hour with the
neural voice) and only then start the mixer and the encoder (about 30 s).
Here the encoder starts at once and the speech is made beside it, earliest
cue first, as the live player does it:

* **Layout.** Cues start as silent placeholders of their estimated length. A
  cue's place depends only on the lengths of the cues before it, so once every
  cue planned before a point has its real clip, everything up to that point
  (cues, ducking, chimes, bed changes) is where it will finally be. A block is
  made only when every cue planned up to ``MARGIN`` past its end is real.
  Synthesis runs about three times ahead of what the encoder takes, so the
  mixer seldom waits after the first seconds.
* **Level.** The master gain depends on the whole session. The mix begins at
  the gain planned from the placeholders (clips assumed flat at their
  normalized loudness: up to half a dB off, as real speech has pauses that
  BS.1770's gates leave out). As real clips replace a tenth of the speech at a
  time, the gain for the rest of the session is solved again so the whole
  file meets the target, and the level drifts there over two seconds of bed
  between cues: a tenth of a dB or so each time, far under what an ear
  notices. Once the last clip is in, the same is done with the exact plan.
  The gain never passes what the loudest clip still to come allows (the
  plan's own rule; a clip not made yet counts at the ceiling clips are made
  under), so a session too sparse to reach the target ends where its exact
  plan would, a little quieter at most. When the level cannot settle (a last
  move over ``MAX_STEP_DB``, a bed the exact plan lifts) the mix starts again
  from the top with the exact plan: never worse than speaking first.

Every block is still a pure function of the final plan; a warm render (every
clip cached) takes the exact path and does not come here.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from voiceguide.ambience import Bed
from voiceguide.clipbank import release_freed_memory
from voiceguide.compiler import layout
from voiceguide.mixer import (
    LIMIT_ALLOWANCE,
    LIMITER_MARGIN,
    RATE,
    ClipBank,
    GainCurve,
    Mixer,
    MixSettings,
)
from voiceguide.script import Script
from voiceguide.speech import Speaker

#: Seconds past a block that must be laid out for good before it is made: the bed
#: stays ducked across gaps under 2.5 s, dips 0.35 s before a word, and cross-fades
#: beds over 4 s (half on each side).
MARGIN = 3.0
#: Clips asked for at a time: a small first batch, so the first blocks wait little.
FIRST_BATCH = 3
BATCH = 8
#: How much lower the speech workers run than the encoder beside them.
SPEECH_NICENESS = 10
#: The level moves each time this share of the speech has become real, and at the end.
UPDATE_SHARE = 0.1
MOVE = 2.0  # seconds each move of the level takes
MAX_STEP_DB = 1.5
#: The most one move may take while some speech is still estimated.
DRIFT_DB = 0.5


class Relaid(Exception):
    """The level settled too far from the estimate: mix again from the start, exactly."""


class ArrivingMix:
    """Blocks of a session whose clips arrive from a background thread."""

    def __init__(
        self, script: Script, speaker: Speaker, beds: Mapping[str, Bed], settings: MixSettings
    ) -> None:
        self.base = script
        self.speaker = speaker
        self.settings = settings
        self.bank = ClipBank()
        for cue in script.cues:
            self.bank.placeholder(cue.text, cue.length)
        self.beds = beds
        self._mixer = Mixer(script, self.bank, beds, settings)
        self.levels = self._mixer.levels  # the estimate the mix begins at
        self.curve = GainCurve(self.levels[0])
        self._ready = -math.inf  # base time before which every cue has its real clip
        self._share = 0.0  # how much of the speech (by planned seconds) is real
        self._moved_at = 0.0  # the share when the level last moved
        self._speech = sum(c.length for c in script.cues) or 1.0
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._stop = False
        self.exact: Mixer | None = None  # the plan made with every real clip
        self._thread = threading.Thread(target=self._speak, name="speech", daemon=True)
        # The encoder is the one stage that cannot catch up: when speech takes both cores,
        # it starves, and once speech is done the second core idles. So the workers make
        # way for it and take what is left (60 minutes cold: see docs/benchmarks.md).
        speaker.lower_priority(SPEECH_NICENESS)

    @property
    def length(self) -> int:
        """Samples in the session as planned (the final one may be a little longer)."""
        return round(self.base.duration * RATE)

    @property
    def script(self) -> Script:
        """The session laid out with every real clip (once the blocks are all made)."""
        assert self.exact is not None, "the script is final once every block is made"
        return self.exact.script

    # -- speech, in the background

    def _speak(self) -> None:
        try:
            for batch in self._batches():
                if self._stop:
                    return
                for text, clip in self.speaker.clips(batch).items():
                    self.bank.replace(text, clip.samples, clip.powers, clip.peak)
                release_freed_memory()  # each batch's arrays: memory stays flat
                self._publish()
            self.speaker.close()  # every clip is in: the workers' memory and cores go back
        except BaseException as err:  # handed to the mixing thread
            with self._cond:
                self._error = err
                self._cond.notify_all()

    def _batches(self) -> list[list[str]]:
        texts = list(dict.fromkeys(c.text for c in sorted(self.base.cues, key=lambda c: c.at)))
        rest = texts[FIRST_BATCH:]
        return [texts[:FIRST_BATCH]] + [rest[i : i + BATCH] for i in range(0, len(rest), BATCH)]

    def _publish(self) -> None:
        laid = layout(self.base, [self.bank.duration(c.text) for c in self.base.cues])
        pending = [c for c in self.base.cues if not self.bank.is_real(c.text)]
        share = 1.0 - sum(c.length for c in pending) / self._speech
        mixer = self._mixer.derive(laid)
        with self._cond:
            self._mixer, self._share = mixer, share
            self._ready = min((c.at for c in pending), default=math.inf)
            self._cond.notify_all()

    # -- blocks, in the caller's thread

    def blocks(self, size: int = RATE * 2) -> Iterator[np.ndarray]:
        """The session start to end; raises :class:`Relaid` when it must start again."""
        self._thread.start()
        whole = False
        try:
            at = 0
            while True:
                mixer = self._wait(at, size)
                if at >= mixer.length:
                    whole = True
                    return
                yield mixer.render(at, min(size, mixer.length - at))
                at += size
        finally:
            self._stop = True
            if not whole:  # stopped early: a clip in the making must not be waited for
                self.speaker.abort()
            self._thread.join(None if whole else 5.0)  # it is closing the workers, or killed

    def _wait(self, at: int, size: int) -> Mixer:
        """The mixer to make [at, at + size) with, once that span is laid out for good."""
        need = (at + size) / RATE + MARGIN
        # Until every clip is in, the session's end (and its fade-out) may still move.
        fade = self.base.duration - self.settings.fade_out - MARGIN
        with self._cond:
            while self._error is None and not (
                self._ready == math.inf or (self._ready >= need and need - MARGIN <= fade)
            ):
                self._cond.wait(0.5)
            if self._error is not None:
                raise self._error
            mixer, share = self._mixer, self._share
            if self._ready < math.inf:
                if share - self._moved_at >= UPDATE_SHARE:
                    self.curve, self._moved_at = self._moved(mixer, at, DRIFT_DB), share
                mixer.curve = self.curve
                return mixer
            if self.exact is None:
                self.exact = Mixer(mixer.script, self.bank, self.beds, self.settings)
                self._mixer = self._settled(at)
            return self._mixer

    def _moved(self, mixer: Mixer, at: int, most: float = MAX_STEP_DB + 1.0) -> GainCurve:
        """The curve with one more move (at most ``most`` dB), to the gain that brings
        ``mixer``'s plan to the target from ``at`` on (what is made keeps its gain)."""
        start = _quiet_after(mixer, max(at + LIMITER_MARGIN, self.curve.end))
        end = start + round(MOVE * RATE)
        before = mixer.hop_gains(self.curve)
        shape = mixer.hop_gains(GainCurve(0.0, ((start, end, 1.0),)))
        last, lift, target = self.curve.last, self.levels[1], self.settings.target_lufs

        def loudness(step_db: float) -> float:
            return mixer.lufs_with(before + last * (10 ** (step_db / 20) - 1) * shape, lift)

        step = min(most, max(-most, _solve(loudness, target)))
        return self.curve.then(start, end, min(last * 10 ** (step / 20), _cap(mixer, start)))

    def _settled(self, at: int) -> Mixer:
        """The exact plan, reached by one more move of the level from where the mix is."""
        exact = self.exact
        assert exact is not None
        if at == 0:
            return exact  # nothing made yet: the exact plan from the first sample
        if exact.bed_lift != self.levels[1]:
            raise Relaid  # a bed lifted by another amount would be heard
        curve = self._moved(exact, at)
        if abs(20 * math.log10(curve.last / self.curve.last)) > MAX_STEP_DB:
            raise Relaid
        self.curve = curve
        return Mixer(exact.script, self.bank, self.beds, self.settings,
                     levels=self.levels, gain=curve)  # fmt: skip


def _cap(mixer: Mixer, start: int) -> float:
    """The most gain the clips from ``start`` on take without the limiter (the plan's own
    rule; a clip not made yet counts at the ceiling every clip is made under)."""
    loudest = max((p.peak for p in mixer.placed if p.end > start), default=0.0)
    if not loudest:
        return math.inf
    allowed = mixer.settings.ceiling_db + LIMIT_ALLOWANCE + mixer.settings.limit_db
    return 10 ** (allowed / 20) / loudest


def _quiet_after(mixer: Mixer, at: int) -> int:
    """The first sample from ``at`` on where a move fits before the bed dips under speech."""
    release = round(mixer.settings.release * RATE)
    attack = round(mixer.settings.attack * RATE)
    for a, b in mixer.duck_spans:
        if b + release <= at:
            continue
        if a - attack > at + round(MOVE * RATE):
            return at  # the whole move fits before the next dip
        at = max(at, b + release)
    return at


def _solve(loudness: Callable[[float], float], target: float) -> float:
    """The step (dB) at which ``loudness`` meets ``target``, by bisection: loudness rises
    with the step, and each prediction takes a millisecond or two."""
    low, high = -MAX_STEP_DB - 1.0, MAX_STEP_DB + 1.0
    for _ in range(24):
        mid = (low + high) / 2
        if loudness(mid) < target:
            low = mid
        else:
            high = mid
    return (low + high) / 2
