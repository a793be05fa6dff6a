"""The listener: microphone (and what the speakers played) in, commands out.

The session must never obey itself. Two defences, both from knowing exactly
what is playing:

1. with the played signal (live playback can hand it over sample-aligned; a
   file can come with ``--played``), an echo canceller subtracts the session
   from the microphone before anything is segmented or decoded, so the end
   of a cue does not run into a command said just after it;
2. a gate from the script: a command whose words overlap a sounding cue is
   dropped. Measured (docs/benchmarks.md): with the gate open over
   cancelled narration, what is left of the narration still decoded as
   commands 18 times in 15 minutes, far over the target of at most one, and
   a "louder" said over narration came out as "stop". A wrong command is
   worse than a missed one, so commands are for the quiet between cues.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from voiceguide.listen.audio import RATE, Resampler, level_db
from voiceguide.listen.echo import BLOCK, EchoCanceller
from voiceguide.listen.recognizer import Heard, Recognizer

#: A command takes about this long to say; the gate checks its whole span.
COMMAND_SECONDS = 1.2


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
        self._mic = np.zeros(0, np.float32)
        self._played = np.zeros(0, np.float32)

    def feed(self, mic: np.ndarray, played: np.ndarray | None = None) -> list[Heard]:
        """More audio (and what was playing while it was heard); the commands decided."""
        mic16 = self.mic_in(mic)
        self._meter(mic16)
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
        for i in range(0, n, BLOCK):
            residual[i : i + BLOCK] = self.canceller.process(
                self._mic[i : i + BLOCK], self._played[i : i + BLOCK]
            )
        self._mic, self._played = self._mic[n:], self._played[n:]
        return self._decide(self.recognizer.feed(residual))

    def flush(self) -> list[Heard]:
        return self._decide(self.recognizer.flush())

    def _meter(self, block: np.ndarray) -> None:
        if block.size:
            self.level.db = level_db(block)
            self.level.history = [*self.level.history[-49:], self.level.db]

    def _decide(self, heard: list[Heard]) -> list[Heard]:
        if self.speaking is None or not heard:
            return heard
        keep = []
        for h in heard:
            span = np.arange(h.at - 0.3, max(h.end, h.at + COMMAND_SECONDS), 0.1)
            (self.gated if any(self.speaking(float(t)) for t in span) else keep).append(h)
        return keep

    @property
    def now(self) -> float:
        """Seconds of audio heard so far."""
        return self.recognizer.now
