"""Cancelling the session's own sound from the microphone, against what was played.

The player knows every sample it sends to the speakers, so the part of the
microphone signal that is the session (narration, bed, chime, with the
room's reflections) can be predicted and subtracted: an adaptive filter
learns the path speakers -> room -> microphone. What is left is mostly the
person in the room. This is a partitioned-block frequency-domain NLMS filter
(overlap-save), the standard echo canceller shape: its cost is a few FFTs per
16 ms block whatever the tail length.

Adaptation slows when the residual is much louder than the predicted echo
(someone is talking over the session: "double talk"), so a command spoken over
the narration does not teach the filter to cancel the command.
"""

from __future__ import annotations

from collections import deque

import numpy as np

#: Samples per block at 16 kHz (16 ms).
BLOCK = 256
#: Played blocks louder than this (power, about −40 dBFS) count towards the echo measure.
LOUD = 1e-4
#: Partitions: the filter covers PARTITIONS * BLOCK samples of echo path (0.48 s).
PARTITIONS = 30


class EchoCanceller:
    """Feed (microphone, played) blocks of BLOCK samples; get the residual back."""

    def __init__(self, partitions: int = PARTITIONS, step: float = 0.35) -> None:
        bins = BLOCK + 1
        self.step = step
        self.weights = np.zeros((partitions, bins), np.complex128)
        self.history = np.zeros((partitions, bins), np.complex128)
        self.ref = np.zeros(2 * BLOCK)
        self.power = np.full(bins, 1e-6)
        self.echo_power = 0.0  # smoothed power of the predicted echo
        self.residual_power = 0.0
        self._gain = 1.0  # of the residual echo suppressor
        self._erle: deque[float] = deque(maxlen=400)  # dB per block while the session is loud

    def process(self, mic: np.ndarray, played: np.ndarray) -> np.ndarray:
        """One block: the microphone minus the predicted echo of ``played``."""
        self.ref[:BLOCK] = self.ref[BLOCK:]
        self.ref[BLOCK:] = played
        spectrum = np.fft.rfft(self.ref)
        self.history = np.roll(self.history, 1, axis=0)
        self.history[0] = spectrum
        predicted = np.fft.irfft(np.einsum("pk,pk->k", self.history, self.weights))[BLOCK:]
        residual = mic - predicted
        if float(np.mean(played**2)) > LOUD:
            ratio = float(np.mean(mic**2)) / max(float(np.mean(residual**2)), 1e-12)
            self._erle.append(10 * np.log10(max(ratio, 1e-12)))
        self._adapt(spectrum, residual, float(np.mean(predicted**2)), float(np.mean(mic**2)))
        return self._suppress(residual, float(np.mean(predicted**2)))

    def _suppress(self, residual: np.ndarray, echo: float) -> np.ndarray:
        """Turn down what is left of the echo (about echo / ERLE), not the person.

        A linear canceller leaves the session some 15–30 dB down; the rest is
        still speech to a voice detector and would run into a command said
        over it. Where the residual is no louder than that leftover would be,
        it is attenuated (to at most −26 dB), smoothly from block to block.
        """
        leftover = echo * 10 ** (-max(self.erle_db, 6.0) / 10)
        power = float(np.mean(residual**2)) + 1e-12
        target = float(np.clip(1.0 - 3.0 * leftover / power, 0.05, 1.0))
        rate = 0.5 if target > self._gain else 0.3  # open fast, close a little slower
        start = self._gain
        self._gain += rate * (target - self._gain)
        ramp = np.linspace(start, self._gain, len(residual), dtype=np.float32)
        return (residual * ramp).astype(np.float32)

    @property
    def erle_db(self) -> float:
        """How far the echo is pushed down lately (dB, the median over the loud blocks
        of the last ~6 s: a person talking over the session does not drag it down)."""
        if len(self._erle) < 50:
            return 0.0
        return float(np.median(np.array(self._erle)))

    def _adapt(self, spectrum: np.ndarray, residual: np.ndarray, echo: float, mic: float) -> None:
        self.power = 0.85 * self.power + 0.15 * (np.abs(spectrum) ** 2)
        res = float(np.mean(residual**2))
        self.echo_power = 0.9 * self.echo_power + 0.1 * echo
        self.residual_power = 0.9 * self.residual_power + 0.1 * res
        step = self.step
        if res > 4.0 * echo and echo > 1e-9 and self.residual_power > 2.0 * self.echo_power:
            step *= 0.1  # double talk (or a path change): adapt slowly
        if mic < 1e-10:
            return
        error = np.fft.rfft(np.concatenate([np.zeros(BLOCK), residual]))
        gradient = np.conj(self.history) * error / (len(self.history) * self.power + 1e-6)
        taps = np.fft.irfft(gradient, axis=1)
        taps[:, BLOCK:] = 0.0  # keep the filter causal and linear (overlap-save constraint)
        self.weights += step * np.fft.rfft(taps, axis=1)


def cancel(mic: np.ndarray, played: np.ndarray) -> np.ndarray:
    """The residual of a whole recording against what was played (same length, 16 kHz)."""
    canceller = EchoCanceller()
    n = min(len(mic), len(played)) // BLOCK * BLOCK
    out = np.empty(n, np.float32)
    for i in range(0, n, BLOCK):
        out[i : i + BLOCK] = canceller.process(mic[i : i + BLOCK], played[i : i + BLOCK])
    return out
