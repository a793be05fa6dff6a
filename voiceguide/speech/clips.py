"""Raw engine output → a finished clip: trimmed, 44.1 kHz, level-matched, peak-safe."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np

from voiceguide.errors import SpeechError
from voiceguide.loudness import integrated_loudness_fft as integrated_loudness
from voiceguide.loudness import limiter_gain, true_peak_db
from voiceguide.speech.settings import CLIP_RATE, PEAK_CEILING_DBTP, TARGET_LUFS

_PAD_SECONDS = 0.015
_SILENCE_DB = -50.0
_LIMITER_WINDOW = 0.005
#: Samples limited at a time: a whole clip at once held ten copies of it (a worker's
#: peak memory followed its longest clip).
_LIMITER_BLOCK = 1 << 15


def db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def trim_silence(x: np.ndarray, rate: int, pad: float = _PAD_SECONDS) -> np.ndarray:
    """Cut leading/trailing silence (below −50 dB re the clip's peak), keeping ``pad`` s.

    espeak adds ~0.1–0.3 s of silence around each phrase; the compiler times
    cues from the first sound, so it has to go.
    """
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0:
        return x[:0]
    loud = np.flatnonzero(np.abs(x) > peak * db_to_gain(_SILENCE_DB))
    keep = round(pad * rate)
    return x[max(0, loud[0] - keep) : min(len(x), loud[-1] + 1 + keep)]


def resample(x: np.ndarray, rate: int, target: int = CLIP_RATE) -> np.ndarray:
    """Polyphase resampling (anti-aliased), e.g. espeak's 22 050 Hz → 44 100 Hz."""
    if rate == target:
        return x
    g = math.gcd(rate, target)
    up, down = target // g, rate // g
    if down == 1 and up <= 4:  # espeak's and Piper's 22 050 Hz: no scipy in the worker
        return _upsample(np.asarray(x, dtype=np.float64), up)
    from scipy import signal  # loaded on first use: it is slow to import

    return signal.resample_poly(x, up, down)


def _upsample(x: np.ndarray, up: int) -> np.ndarray:
    """``scipy.signal.resample_poly(x, up, 1)`` in numpy, to rounding (same filter, same
    alignment): importing scipy costs a speech worker 55–70 MB and a second."""
    half = 10 * up
    n = np.arange(2 * half + 1) - half
    taps = np.sinc(n / up) / up * np.kaiser(2 * half + 1, 5.0)
    taps = taps / taps.sum() * up
    # Phase by phase: the zero-stuffed copy and its full convolution (each twice the
    # output's size) were most of a long clip's processing memory in a speech worker.
    out = np.empty(len(x) * up)
    for phase in range(up):
        first = (half + phase) % up  # output j = i - half takes taps[first::up] at i = j + half
        start = (half + phase) // up
        out[phase::up] = np.convolve(x, taps[first::up])[start : start + len(x)]
    return out


def limit_peaks(x: np.ndarray, ceiling: float, rate: int) -> np.ndarray:
    """Smooth look-ahead peak limiter (offline), so |x| never exceeds ``ceiling``.

    The required gain per sample is held by a minimum filter over ±2w, then
    averaged over ±w/2; every average then only includes gains at most the
    one needed at that sample, so the ceiling holds while the gain moves
    smoothly (about 5 ms attack and release): transparent on speech.
    """
    radius = max(2, round(_LIMITER_WINDOW * rate))
    margin = 2 * radius  # the gain depends on peaks within 1.5 radius only
    out = np.empty(len(x))
    for start in range(0, len(x), _LIMITER_BLOCK):  # the gain's ten temporaries stay small
        stop = min(len(x), start + _LIMITER_BLOCK)
        lo, hi = max(0, start - margin), min(len(x), stop + margin)
        gain = limiter_gain(np.abs(x[lo:hi]), ceiling, radius)
        out[start:stop] = x[start:stop] * gain[start - lo : stop - lo]
    return out


def level_match(
    x: np.ndarray,
    rate: int,
    target: float = TARGET_LUFS,
    ceiling: float = PEAK_CEILING_DBTP,
) -> np.ndarray:
    """Bring ``x`` to ``target`` LUFS with true peaks at or below ``ceiling`` dBTP.

    espeak speech has a peak-to-loudness ratio near 19 dB, so plain gain to
    −16 LUFS would peak at +3 dBTP. So peaks are limited (0.5 dB under the
    ceiling, the usual inter-sample overshoot) with the gain chosen so the
    *limited* clip lands on the target; only if the true peak still exceeds
    the ceiling is the gain lowered, as the brief asks.
    """
    y = fit_loudness(x, rate, target, ceiling - 0.5)
    return guard_true_peak(y, rate, ceiling)


def fit_loudness(x: np.ndarray, rate: int, target: float, sample_ceiling_db: float) -> np.ndarray:
    """Gain to ``target`` LUFS, limiting sample peaks to ``sample_ceiling_db`` on the way."""
    x = np.asarray(x, dtype=np.float64)
    loudness = integrated_loudness(x, rate)
    if not math.isfinite(loudness):
        return x
    gain = target - loudness
    sample_ceiling = db_to_gain(sample_ceiling_db)
    if max(float(np.max(x)), -float(np.min(x))) * db_to_gain(gain) > sample_ceiling:
        return _fit_limited(x, gain, target, sample_ceiling, rate)
    return x * db_to_gain(gain)


def guard_true_peak(y: np.ndarray, rate: int, ceiling: float = PEAK_CEILING_DBTP) -> np.ndarray:
    """Lower the gain just enough that the true peak is at most ``ceiling`` dBTP."""
    excess = true_peak_db(y, rate) - ceiling
    return y * db_to_gain(-excess - 0.01) if excess > 0 else y


def _fit_limited(
    x: np.ndarray, gain: float, target: float, ceiling: float, rate: int
) -> np.ndarray:
    """Find the gain whose limited result measures ``target`` (secant, ≤ 4 tries).

    Loudness after limiting grows with the gain, a little slower than 1 dB
    per dB, so the secant method settles within 0.05 LU in two or three steps.
    """

    def attempt(g: float) -> tuple[np.ndarray, float]:
        y = limit_peaks(x * db_to_gain(g), ceiling, rate)
        return y, integrated_loudness(y, rate) - target

    y, miss = attempt(gain)
    previous = None
    for _ in range(3):
        if abs(miss) < 0.05:
            break
        slope = 1.0
        if previous is not None and previous[0] != gain:
            slope = max(0.2, (miss - previous[1]) / (gain - previous[0]))
        previous = (gain, miss)
        gain -= miss / slope
        del y  # one clip-sized try alive at a time
        y, miss = attempt(gain)
    return y


def process_pcm(pcm: np.ndarray, rate: int, volume: float = 1.0) -> np.ndarray:
    """espeak's raw output → a finished clip (float32, 44 100 Hz).

    Loudness is fitted at espeak's own 22 050 Hz (half the work; its output
    has nothing above 11 kHz, so K-weighted loudness is the same within
    0.05 LU) and the true peak is checked after resampling, on what ships.
    """
    x = trim_silence(np.asarray(pcm, dtype=np.float64), rate)
    y = resample(fit_loudness(x, rate, TARGET_LUFS, PEAK_CEILING_DBTP - 0.5), rate)
    # Final trim at 44.1 kHz: onto the target where the peak allows, under the ceiling always.
    correction = min(
        TARGET_LUFS - integrated_loudness(y, CLIP_RATE),
        PEAK_CEILING_DBTP - 0.01 - true_peak_db(y, CLIP_RATE),
    )
    gain = volume * (db_to_gain(correction) if math.isfinite(correction) else 1.0)
    if np.shares_memory(y, pcm):  # a clip at 44.1 kHz that fit_loudness left as it was
        return (y * gain).astype(np.float32)
    y *= gain  # in place otherwise: a long clip's copies add up
    return y.astype(np.float32)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """16-bit mono WAV → float samples in [−1, 1) and the rate."""
    with wave.open(str(path), "rb") as w:
        rate, width, frames = w.getframerate(), w.getsampwidth(), w.readframes(w.getnframes())
    if width != 2:
        raise SpeechError(f"espeak wrote {8 * width}-bit audio; expected 16-bit")
    return np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0, rate
