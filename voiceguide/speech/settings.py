"""What a voice sounds like (settings) and what speech becomes (a clip).

Shared by every other part of the speech package, so it depends on none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from voiceguide.errors import SpeechError
from voiceguide.loudness import hop_powers

DEFAULT_VOICE = "auto"
#: The pyttsx3 voice `auto` falls back to when no neural voice is installed.
DEFAULT_ESPEAK_VOICE = "gmw/en-us"
DEFAULT_RATE = 150
DEFAULT_PITCH = 40
CLIP_RATE = 44_100
TARGET_LUFS = -16.0
PEAK_CEILING_DBTP = -1.0
RATE_RANGE = (80, 300)
PITCH_RANGE = (0, 100)
# Bump when trimming/resampling/levelling changes, so old cache entries stop matching.
PROCESSING_VERSION = 1


@dataclass(frozen=True)
class VoiceSettings:
    """How the guide sounds. Defaults are calm: unhurried and a little low.

    ``voice`` is ``auto`` (the best installed voice: the neural one when
    present), a voice id or name, or a Piper ``.onnx`` path. ``engine``
    (None = any) narrows where the name is looked up. ``volume`` scales the
    level-matched clip (1.0 = −16 LUFS); it is not passed to the engine.
    ``pitch`` None means the engine's own (espeak: :data:`DEFAULT_PITCH`);
    Piper cannot change pitch, so a pitch with a Piper voice is refused.
    """

    voice: str = DEFAULT_VOICE
    rate: int = DEFAULT_RATE
    volume: float = 1.0
    pitch: int | None = None
    system_espeak: bool = False
    engine: str | None = None

    def __post_init__(self) -> None:
        _check_range("rate", self.rate, *RATE_RANGE, "words per minute")
        if self.pitch is not None:
            _check_range("pitch", self.pitch, *PITCH_RANGE, "")
        _check_range("volume", self.volume, 0.0, 1.0, "")
        if not str(self.voice).strip():
            raise SpeechError("voice: empty voice name; try `voiceguide voices` for a list")


def _check_range(name: str, value: object, low: float, high: float, unit: str) -> None:
    """One-line error for an out-of-range or non-numeric setting."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpeechError(f"{name}: expected a number from {low:g} to {high:g}, got {value!r}")
    if not low <= value <= high:
        unit = f" {unit}" if unit else ""
        raise SpeechError(f"{name}: {value:g} is outside {low:g}–{high:g}{unit}")


@dataclass(frozen=True, eq=False)
class Clip:
    """One spoken cue: float32 mono at 44 100 Hz, trimmed and level-matched.

    ``powers`` are its K-weighted 100 ms hop powers (:func:`hop_powers`), so
    the mixer can predict a session's loudness without measuring again;
    ``peak`` its true peak as 16-bit samples (None: not measured yet).
    """

    samples: np.ndarray
    rate: int = CLIP_RATE
    powers: np.ndarray = field(default_factory=lambda: np.zeros(0))
    peak: float | None = None

    def __post_init__(self) -> None:
        if self.powers.size == 0 and self.samples.size >= self.rate // 10:
            object.__setattr__(self, "powers", hop_powers(self.samples, self.rate))

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.rate
