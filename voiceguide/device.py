"""The sound card, for the commands that just play something once (say, previews)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np


def play_once(samples: np.ndarray, rate: int) -> str | None:
    """Play mono (n,) or (n, channels) audio and wait; return why not when it cannot play."""
    try:
        import simpleaudio
    except ImportError:
        return "simpleaudio is not installed: pip install 'voiceguide[play]'"
    audio = samples[:, None] if samples.ndim == 1 else samples
    pcm = np.ascontiguousarray(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    try:
        with quiet_stderr():  # ALSA prints a screenful when there is no card
            playing = simpleaudio.play_buffer(pcm, pcm.shape[1], 2, rate)
        playing.wait_done()
    except Exception as exc:  # simpleaudio raises its own error type with no public base
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Point fd 2 at /dev/null for a moment: ALSA writes its complaints there directly."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
