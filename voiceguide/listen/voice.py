"""Voice control during live playback: a thread that listens and hands commands over.

The player is steered the way a key steers it: each command becomes
``Player.command(action)`` (thread-safe, and confirmed by ear like a key).
The listener runs on its own thread, so recognition never delays an audio
block.

It knows when the session is speaking: every microphone block is stamped
with whether a cue was sounding at that moment (the player's position in the
script). With its own microphone (no played signal) a command said over
narration is dropped; driven by a duplex stream (``on_capture``) the echo
canceller takes the session out and such commands are heard (listener.py).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable

import numpy as np

from voiceguide.errors import VoiceguideError
from voiceguide.listen.audio import MUTED_DB
from voiceguide.listen.grammar import COMMANDS
from voiceguide.listen.recognizer import Heard

#: Seconds of dead silence from the microphone before listening gives up with a message.
MUTED_AFTER = 3.0


class SpeakingLog:
    """Whether the session was speaking at each stream second (a step function)."""

    def __init__(self) -> None:
        self._times: list[float] = []
        self._states: list[bool] = []

    def mark(self, t: float, speaking: bool) -> None:
        if not self._states or self._states[-1] != speaking:
            self._times.append(t)
            self._states.append(speaking)

    def __call__(self, t: float) -> bool:
        i = bisect.bisect_right(self._times, t) - 1
        return self._states[i] if i >= 0 else False


class VoiceControl:
    """Listen; ``act(action)`` for each command heard (an action of COMMANDS).

    Two ways in. With its own microphone (``rate=None``): :meth:`open`,
    :meth:`start` and :meth:`stop` run a listening thread. Driven by a duplex
    output stream (``rate`` = the stream's rate): pass :meth:`on_capture` as
    the stream's capture callback (``StreamSink(capture=...)``); it gets each
    microphone block with the block that was playing as it was heard, so the
    echo canceller can take the session out and commands said over the
    narration are heard too.
    """

    def __init__(
        self,
        act: Callable[[str], None],
        speaking: Callable[[], bool],
        warn: Callable[[str], None] | None = None,
        rate: int | None = None,
    ) -> None:
        from voiceguide.listen.listener import Listener

        self.log = SpeakingLog()
        self.listener = Listener(rate=rate or 16_000, speaking=self.log)
        self.microphone = None
        if rate is None:
            from voiceguide.listen.capture import Microphone

            self.microphone = Microphone()
        self.rate = rate
        self._samples = 0  # microphone samples taken: the stream's clock
        self._loudest = -120.0
        self.act = act
        self.speaking = speaking
        self.warn = warn or (lambda text: None)
        self.heard: list[Heard] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="listen", daemon=True)

    def use_stream(self, rate: int) -> None:
        """Be driven by a duplex stream at ``rate`` (its capture callback is :meth:`on_capture`)."""
        from voiceguide.listen.audio import Resampler

        self.microphone = None
        self.rate = rate
        self.listener.mic_in = Resampler(rate)
        self.listener.played_in = Resampler(rate)

    def open(self) -> None:
        """Open the microphone before playback starts: a missing one is a one-line error."""
        assert self.microphone is not None, "driven by a stream: use on_capture"
        self.microphone.__enter__()
        self.rate = self.microphone.rate
        self.listener.mic_in.__init__(self.microphone.rate)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3.0)
        if self.microphone is not None:
            self.microphone.__exit__(None, None, None)

    def on_capture(self, heard: np.ndarray, played: np.ndarray) -> None:
        """The stream's capture callback: a microphone block (n,) and what played (n,) or (n, 2).

        Called on the stream's capture thread, never the audio thread; after
        the microphone has been found silent it does nothing more.
        """
        if self.error is not None:
            return
        mono = played.mean(axis=1) if played.ndim == 2 else played
        try:
            self._take(heard.astype(np.float32), mono.astype(np.float32))
        except VoiceguideError as err:
            self.error = str(err)
            self.warn(self.error)

    def _run(self) -> None:
        assert self.microphone is not None
        try:
            while not self._stop.is_set():
                self._take(self.microphone.read(), None)
        except VoiceguideError as err:
            self.error = str(err)
            self.warn(self.error)

    def _take(self, block: np.ndarray, played: np.ndarray | None) -> None:
        """One microphone block: mark the script's state, recognize, act, check the level."""
        rate = self.rate or 16_000
        self.log.mark(self._samples / rate, self.speaking())
        self._samples += len(block)
        for h in self.listener.feed(block, played):
            self.heard.append(h)
            self.act(COMMANDS[h.command])
        self._loudest = max(self._loudest, self.listener.level.db)
        if self._samples >= MUTED_AFTER * rate and self._loudest < MUTED_DB:
            raise VoiceguideError(
                "voice control off: the microphone is silent (muted or unplugged?)"
            )
