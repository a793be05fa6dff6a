"""Where live sound goes, and the clocks that pace it.

The session goes out as **one continuous stream** (:class:`voiceguide.stream.StreamSink`)
whose device clock drives the player: a sound server sees one client that never
stops, and what the screen shows follows the samples actually taken. simpleaudio
stays as the fallback where the streaming library cannot open a device: it can
only play one-shot buffers, so there the player chains short overlapping blocks
on a wall clock (:class:`RealClock`), as it did before the stream existed.
"""

from __future__ import annotations

import os
import time
import warnings
from collections import deque
from typing import Protocol

import numpy as np

from voiceguide.device import quiet_stderr
from voiceguide.errors import AudioError
from voiceguide.mixer import RATE
from voiceguide.stream import Capture, StreamSink, StreamUnavailable

__all__ = [
    "Clock",
    "RealClock",
    "SimpleaudioSink",
    "Sink",
    "StreamClock",
    "VirtualClock",
    "open_sink",
]


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep_until(self, t: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, t: float) -> None:
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class VirtualClock:
    """Time that passes only when asked to: an hour of playback in seconds."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep_until(self, t: float) -> None:
        self.t = max(self.t, t)


class StreamClock:
    """Seconds of the stream the device has taken: the session's own clock.

    It only moves while something is queued, so a player on it keeps writing
    (silence when paused); sleeping with nothing queued returns at once rather
    than waiting for time that cannot pass.
    """

    def __init__(self, sink: StreamSink) -> None:
        self.sink = sink

    def now(self) -> float:
        return self.sink.played() / self.sink.rate

    def sleep_until(self, t: float) -> None:
        # the very comparison the player makes (now() >= t): a tolerance here let the
        # player spin until the next callback whenever a deadline sat a rounding error away
        while self.now() < t and self.sink.buffered():
            self.sink.wait(0.05)  # woken by every device callback; raises if the device died


class Sink(Protocol):
    def play(self, pcm: np.ndarray) -> None: ...
    def drain(self) -> None: ...
    def stop(self) -> None: ...


class SimpleaudioSink:
    """The fallback: the default ALSA output, one one-shot stream per block."""

    continuous = False

    def __init__(self) -> None:
        try:
            import simpleaudio
        except ImportError:
            raise AudioError(
                "live playback needs simpleaudio: pip install 'voiceguide[play]' "
                "(it builds against ALSA: apt-get install libasound2-dev)"
            ) from None
        if os.environ.get("PYTHONMALLOC") != "malloc":
            warnings.warn(
                "simpleaudio frees memory without holding the GIL; run long playback with "
                "PYTHONMALLOC=malloc (voiceguide play does this itself)",
                RuntimeWarning,
                stacklevel=2,
            )
        self._sa = simpleaudio
        self._live: deque = deque()
        self._started = False

    def probe(self) -> None:
        """Open the device once with a moment of silence, to fail before anything starts."""
        self.play(np.zeros((RATE // 100, 2), np.int16))

    def play(self, pcm: np.ndarray) -> None:
        try:
            with quiet_stderr():  # ALSA prints its own complaints straight to fd 2
                obj = self._sa.play_buffer(np.ascontiguousarray(pcm), 2, 2, RATE)
        except Exception as err:  # SimpleaudioError is not importable by name reliably
            reason = str(err).replace(" -- ", "; ")
            if not self._started:
                raise AudioError(
                    f"no audio output device ({reason}); "
                    "use `voiceguide render` to write the session to a file instead"
                ) from None
            raise AudioError(f"cannot play audio: the output device went away ({reason})") from None
        self._started = True
        self._live.append(obj)
        while self._live and not self._live[0].is_playing():
            self._live.popleft()

    def drain(self) -> None:
        """Wait for what was handed over to finish playing."""
        while self._live:
            self._live.popleft().wait_done()

    def stop(self) -> None:
        while self._live:
            self._live.popleft().stop()


def open_sink(
    paced: bool = True, capture: Capture | None = None, fallback: bool = True
) -> StreamSink | SimpleaudioSink:
    """The session's one stream; simpleaudio only where no stream can be opened.

    ``VOICEGUIDE_SINK=simpleaudio`` forces the fallback. ``paced=False`` lets
    ALSA's file device run as fast as the player (tests play an hour in
    seconds). Fails with one line when neither can reach a device.
    """
    if os.environ.get("VOICEGUIDE_SINK") != "simpleaudio":
        sink = StreamSink(pace=paced, capture=capture)
        try:
            sink.open()
            return sink
        except StreamUnavailable:
            if not fallback:
                raise
    oneshot = SimpleaudioSink()
    oneshot.probe()
    return oneshot
