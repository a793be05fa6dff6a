"""Voice control during live playback: a thread that listens and hands commands over.

The player is steered the way a key steers it: each command becomes
``Player.command(action)`` (thread-safe, and confirmed by ear like a key).
The listener runs on its own thread, so recognition never delays an audio
block.

It knows when the session is speaking: every microphone block is stamped
with whether a cue was sounding at that moment (the player's position in the
script), and a command said over narration is dropped (see listener.py for
why: measured, a wrong command there is likelier than a right one).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable

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
    """Listen on a thread; ``act(action)`` for each command heard (an action of COMMANDS)."""

    def __init__(
        self,
        act: Callable[[str], None],
        speaking: Callable[[], bool],
        warn: Callable[[str], None] | None = None,
    ) -> None:
        from voiceguide.listen.capture import Microphone
        from voiceguide.listen.listener import Listener

        self.log = SpeakingLog()
        self.listener = Listener(speaking=self.log)
        self.microphone = Microphone()
        self.act = act
        self.speaking = speaking
        self.warn = warn or (lambda text: None)
        self.heard: list[Heard] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="listen", daemon=True)

    def open(self) -> None:
        """Open the microphone before playback starts: a missing one is a one-line error."""
        self.microphone.__enter__()
        self.listener.mic_in.__init__(self.microphone.rate)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3.0)
        self.microphone.__exit__(None, None, None)

    def _run(self) -> None:
        rate = self.microphone.rate
        heard_samples = 0
        loudest = -120.0
        try:
            while not self._stop.is_set():
                block = self.microphone.read()
                self.log.mark(heard_samples / rate, self.speaking())
                heard_samples += len(block)
                for h in self.listener.feed(block):
                    self.heard.append(h)
                    self.act(COMMANDS[h.command])
                loudest = max(loudest, self.listener.level.db)
                if heard_samples >= MUTED_AFTER * rate and loudest < MUTED_DB:
                    raise VoiceguideError(
                        "voice control off: the microphone is silent (muted or unplugged?)"
                    )
        except VoiceguideError as err:
            self.error = str(err)
            self.warn(self.error)
