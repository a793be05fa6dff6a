"""The microphone, through sounddevice (PortAudio).

Opened at 16 kHz mono 16-bit when the device takes it (the recognizer's own
rate, and what ALSA's ``file`` plugin replays in tests), else at the device's
own rate and resampled. Blocks are handed over through a queue, so PortAudio's
thread never waits for the recognizer.
"""

from __future__ import annotations

import queue
from types import TracebackType
from typing import Any

import numpy as np

from voiceguide.device import quiet_stderr
from voiceguide.errors import AudioError
from voiceguide.listen.audio import RATE

#: Seconds of audio per block from the device.
BLOCK_SECONDS = 0.1


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class Microphone:
    """``with Microphone() as mic: for block in mic.blocks(): ...`` (float32 mono)."""

    def __init__(self, device: int | str | None = None) -> None:
        self.device = device
        self.rate = RATE
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=600)
        self._stream: Any = None
        self.dropped = 0

    def __enter__(self) -> Microphone:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as err:
            raise AudioError(
                f"listening needs sounddevice and PortAudio ({_first_line(err)}): "
                "pip install 'voiceguide[listen]' and apt-get install libportaudio2"
            ) from None
        with quiet_stderr():  # ALSA prints a screenful when there is no card
            self._stream = self._open(sd)
            self._stream.start()
        return self

    def _open(self, sd: Any) -> Any:
        try:
            info = sd.query_devices(self.device, kind="input")
        except Exception as err:  # PortAudioError, ValueError
            raise AudioError(
                f"no microphone: no capture device found ({_first_line(err)})"
            ) from None
        last: Exception | None = None
        for rate in (RATE, int(info["default_samplerate"])):
            try:
                stream = sd.InputStream(device=self.device, samplerate=rate, channels=1,
                                        dtype="int16", blocksize=int(rate * BLOCK_SECONDS),
                                        callback=self._callback)  # fmt: skip
            except Exception as err:
                last = err
                continue
            self.rate = rate
            return stream
        raise AudioError(f"cannot open the microphone {info['name']!r} ({_first_line(last)})")

    def _callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        try:
            self._queue.put_nowait(indata[:, 0].astype(np.float32) / 32768.0)
        except queue.Full:
            self.dropped += 1

    def read(self, timeout: float = 2.0) -> np.ndarray:
        """The next block; AudioError when the device stops delivering."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AudioError("the microphone stopped delivering sound") from None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            with quiet_stderr():
                self._stream.stop()
                self._stream.close()
            self._stream = None
