"""The listener: microphone (and what the speakers played) in, commands out.

The session must never obey itself. Two defences, both from knowing exactly
what is playing:

1. with the played signal (live playback hands it over sample-aligned; a
   file can come with ``--played``), an echo canceller subtracts the session
   from the microphone before anything is segmented or decoded, and the
   endpointer hears only the blocks where something besides the session is
   left (ECHO_ONLY_DB), with what is left of the echo turned down (the
   canceller's suppressor); the decoder hears the residual as it is. Once
   the canceller has converged (CONVERGED_DB), a command is kept only if
   what it left is a fair share of what the microphone heard
   (NEAR_END_DB): a person in the room, not the narration's
   remains. Measured (docs/benchmarks.md): right commands over narration
   -6 to -12 dB, narration decoded as a command -13 to -21 dB;
2. without the played signal (or before the canceller has converged), a gate
   from the script: a command whose words overlap a sounding cue is dropped.

Ordinary talk in the room is rejected by the recognizer itself (speech before
"guide", durations unlike a command said alone, or a poor match against a free
phone loop: recognizer.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from voiceguide.listen.audio import RATE, Resampler, level_db
from voiceguide.listen.echo import BLOCK, EchoCanceller
from voiceguide.listen.recognizer import (
    LOOSER,
    MAX_LEAD,
    MAX_LEAD_UNCANCELLED,
    MIN_GUIDE,
    MIN_GUIDE_UNCANCELLED,
    MIN_MATCH,
    MIN_MATCH_UNCANCELLED,
    Heard,
    Recognizer,
)

#: A command takes about this long to say; the gate checks its whole span.
COMMAND_SECONDS = 1.2
#: The canceller counts as converged (and the script gate gives way to the
#: near-end check) once it holds the echo down by this much (dB, median).
CONVERGED_DB = 15.0
#: Over narration, what the canceller leaves must be at least this share (dB) of
#: what the microphone heard, over the louder half of a command's blocks: a person
#: speaking 3 dB under the narration leaves about a third of it; the narration's
#: own remains a twentieth or less, however badly cancelled. Measured in the
#: benchmark: right commands over narration -6 to -12 dB, narration decoded as a
#: command -13 to -21 dB (the leftover-echo estimate it replaced did not separate them).
NEAR_END_DB = -12.5
#: A block whose residual is less than this share (dB) of the microphone is the
#: session alone: the endpointer hears silence there, so the remains of narration
#: after a command do not stretch its segment past MAX_SEGMENT.
ECHO_ONLY_DB = -12.0
#: Blocks heard after the last one above ECHO_ONLY_DB: the quieter sounds inside a
#: command (the stop of "guide", the gap before the next word) must not end its segment.
ECHO_ONLY_HOLD = 16
#: The same command decided again within this many seconds is one command heard twice.
REPEAT_SECONDS = 2.5


@dataclass
class Level:
    """The microphone's level over the last block, for meters and the muted check."""

    db: float = -120.0
    history: list[float] = field(default_factory=list)


class Listener:
    """Feed blocks with :meth:`feed`; commands come back as :class:`Heard`.

    ``rate`` is the rate of the blocks fed (microphone and played alike);
    ``speaking(t)``, when given, says whether a cue is sounding at stream
    second ``t`` (the gate of the module docstring).
    """

    def __init__(self, rate: int = RATE, speaking: Callable[[float], bool] | None = None) -> None:
        self.recognizer = Recognizer()
        self.mic_in = Resampler(rate)
        self.played_in = Resampler(rate)
        self.canceller: EchoCanceller | None = None
        self.speaking = speaking
        self.level = Level()
        self.gated: list[Heard] = []  # commands dropped by the gate, for the curious
        self._last: Heard | None = None
        # (time, residual power, microphone power) of the last 16 s of cancelled blocks
        self._blocks: deque[tuple[float, float, float]] = deque(maxlen=1000)
        self._mic = np.zeros(0, np.float32)
        self._clock = 0.0  # seconds of cancelled audio so far
        self._played = np.zeros(0, np.float32)
        self._near = 0  # blocks the endpointer still hears after the last near-end block

    def feed(self, mic: np.ndarray, played: np.ndarray | None = None) -> list[Heard]:
        """More audio (and what was playing while it was heard); the commands decided."""
        mic16 = self.mic_in(mic)
        self._meter(mic16)
        self._cancelling(played is not None)
        if played is None:
            return self._decide(self.recognizer.feed(mic16))
        if self.canceller is None:
            self.canceller = EchoCanceller()
        self._mic = np.concatenate([self._mic, mic16])
        self._played = np.concatenate([self._played, self.played_in(played)])
        n = min(len(self._mic), len(self._played)) // BLOCK * BLOCK
        if n == 0:
            return []
        residual = np.empty(n, np.float32)
        segmented = np.empty(n, np.float32)
        for i in range(0, n, BLOCK):
            mic_block = self._mic[i : i + BLOCK]
            residual[i : i + BLOCK] = self.canceller.process(mic_block, self._played[i : i + BLOCK])
            mic_power = float(np.mean(mic_block.astype(np.float64) ** 2))
            share = (self.canceller.residual + 1e-12) / (mic_power + 1e-12)
            self._blocks.append((self._clock, self.canceller.residual, mic_power))
            if not self.converged or share >= 10 ** (ECHO_ONLY_DB / 10):
                self._near = ECHO_ONLY_HOLD
            segmented[i : i + BLOCK] = self.canceller.quieted if self._near else 0.0
            self._near = max(self._near - 1, 0)
            self._clock += BLOCK / RATE
        self._mic, self._played = self._mic[n:], self._played[n:]
        return self._decide(self.recognizer.feed(residual, segmented))

    def _cancelling(self, cancelling: bool) -> None:
        """Set the recognizer's checks for audio with or without the session cancelled
        (recognizer.py: a cancelled stream is held by the near-end check as well)."""
        r = self.recognizer
        r.max_lead = MAX_LEAD if cancelling else MAX_LEAD_UNCANCELLED
        r.min_guide = MIN_GUIDE if cancelling else MIN_GUIDE_UNCANCELLED
        r.min_match = MIN_MATCH if cancelling else MIN_MATCH_UNCANCELLED
        r.looser = LOOSER if cancelling else 0.0
        r.windowed = cancelling

    @property
    def converged(self) -> bool:
        """Whether the canceller holds the session's echo down (CONVERGED_DB)."""
        return self.canceller is not None and self.canceller.erle_db >= CONVERGED_DB

    def flush(self) -> list[Heard]:
        return self._decide(self.recognizer.flush())

    def _meter(self, block: np.ndarray) -> None:
        if block.size:
            self.level.db = level_db(block)
            self.level.history = [*self.level.history[-49:], self.level.db]

    def _decide(self, heard: list[Heard]) -> list[Heard]:
        keep = []
        for h in heard:
            last = self._last
            if last and last.command == h.command and h.at - last.at < REPEAT_SECONDS:
                continue  # one command, decoded once from a longer stretch and once alone
            if self._admit(h):
                keep.append(h)
                self._last = h
            else:
                self.gated.append(h)
        return keep

    def _admit(self, h: Heard) -> bool:
        """Whether a decoded command is a person's (see the module docstring)."""
        if self.converged:
            return self.near_end_db(h.at, h.end) >= NEAR_END_DB
        if self.speaking is None:
            return True
        span = np.arange(h.at - 0.3, max(h.end, h.at + COMMAND_SECONDS), 0.1)
        return not any(self.speaking(float(t)) for t in span)

    def near_end_db(self, start: float, end: float) -> float:
        """The share of the microphone's power the canceller left over [start, end) (dB).

        Over the louder half of the blocks (by what is left): near 0 dB when
        the microphone heard a person (or the session was quiet), far below
        when it heard only the session, however well or badly it was cancelled.
        """
        spans = np.array([(r, m) for t, r, m in self._blocks if start <= t < end])
        if not len(spans):
            return -120.0
        louder = spans[np.argsort(-spans[:, 0])][: max(1, len(spans) // 2)]
        residual, mic = np.sum(louder, axis=0)
        return float(10 * np.log10((residual + 1e-12) / (mic + 1e-12)))

    @property
    def now(self) -> float:
        """Seconds of audio heard so far."""
        return self.recognizer.now
