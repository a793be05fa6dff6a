"""16-bit samples: what the mixer reads and what its plan must measure.

Kept apart (numpy only) so a speech worker can measure a clip's peak as the
mixer will hear it without importing the mixer.
"""

from __future__ import annotations

import numpy as np

from voiceguide import loudness

#: Samples converted at a time: a long clip never exists twice in memory.
CHUNK = 1 << 20


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float [-1, 1] to little-endian int16 (round, clip), any shape (frames first: a
    stereo block stays interleaved), a chunk of frames at a time."""
    out = np.empty(np.shape(samples), "<i2")
    for at in range(0, len(samples), CHUNK):
        part = samples[at : at + CHUNK] * 32767.0
        out[at : at + CHUNK] = np.clip(np.round(part), -32768, 32767)
    return out


def int16_true_peak(pcm: np.ndarray) -> float:
    """True peak (linear, full scale 1) of int16 samples as the mixer scales them."""
    x = pcm.astype(np.float32) / 32767.0
    return 10 ** (loudness.true_peak_db(x) / 20) if len(x) and np.any(x) else 0.0
