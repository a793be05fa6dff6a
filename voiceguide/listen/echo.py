"""Cancelling the session's own sound from the microphone, against what was played.

The player knows every sample it sends to the speakers, so the part of the
microphone signal that is the session (narration, bed, chime, with the
room's reflections) can be predicted and subtracted: an adaptive filter
learns the path speakers -> room -> microphone. What is left is mostly the
person in the room. This is a partitioned-block frequency-domain NLMS filter
(overlap-save), the standard echo canceller shape: its cost is a few FFTs per
16 ms block whatever the tail length.

Double talk (someone speaking over the session) would teach a single filter
to cancel the person. So there are two filters, as in Speex's and WebRTC's
cancellers: a *background* filter that always adapts, fast, and a
*foreground* filter that does the cancelling and only takes the background's
weights when they cancel clearly better. While a person talks, the
background's error grows and it is not copied; if it drifts far off it is
reset from the foreground. Measured (docs/benchmarks.md): this holds 39 dB
of echo return loss enhancement over the narration in the simulated room
(energy-weighted; 43 dB median), where the single filter with a slowed step
on suspected double talk held about 25 dB (median).
"""

from __future__ import annotations

from collections import deque

import numpy as np

#: Samples per block at 16 kHz (16 ms).
BLOCK = 256
#: Played blocks louder than this (power, about −40 dBFS) count towards the echo measure.
LOUD = 1e-4
#: Played blocks quieter than this (about −70 dBFS) teach the filter nothing.
ACTIVE = 1e-7
#: Partitions: the filter covers PARTITIONS * BLOCK samples of echo path (0.48 s; a
#: living room's RT60 is 0.3–0.5 s).
PARTITIONS = 30
#: The foreground takes the background's weights when its error is this much smaller,
COPY_BELOW = 0.8
#: and the background is reset from the foreground when its error is this much larger.
RESET_ABOVE = 8.0
#: A residual this far (dB) above the echo the filter should have left is a person talking:
#: neither filter learns from it (for HOLD blocks more), so a command does not become echo.
#: It checks only once the median ERLE is above it, too. At 15 dB it fired on the
#: narration's own onsets (the loud blocks are cancelled worst) and kept the filter from
#: learning: energy-weighted ERLE 17 dB, a command over narration only ~10 dB above the
#: echo left. At 25 dB (sixth pass, simulated room, two placements): 22 dB, and commands
#: ~22 dB above the echo left; with the detector off the same, so the two filters alone
#: keep a command from being learnt as echo.
TALK_DB = 25.0
HOLD = 15
#: The suppressor treats the echo left as this many times its median estimate (the
#: echo left in one block varies a lot about the median), and turns blocks down to FLOOR.
OVERSUPPRESS = 10.0
FLOOR = 0.05
#: Regularization of the NLMS normalization (|X|² of the played signal summed over the
#: partitions, a 512-point FFT of samples in ±1): where and when the session barely sounds
#: (the bed between cues, some 25 dB under the narration and with next to nothing above
#: 3 kHz), the filter learns slowly; at 0.01 it learnt there what the next narration
#: paid for (likely the room's noise, taken for echo). Measured on the bench's
#: 15-minute session in the simulated room, the echo over narration held down
#: (energy-weighted, noise 45 dB under): 25 dB at 0.01, 38 dB at 0.3, 39 dB at 1.0
#: and 3.0, against 45 dB possible.
#: In absolute units on purpose: the room's noise does not follow the volume; at −12
#: and −24 dB volume the same value still takes the echo down to that noise.
REG = 1.0


class EchoCanceller:
    """Feed (microphone, played) blocks of BLOCK samples; get the residual back.

    After each block, ``echo`` is the power of the echo it predicted and
    ``residual`` the power of what was left: their ratio says whether someone in
    the room is talking (see Listener). ``quieted`` is the same block with what
    is likely left of the echo turned down (the residual suppressor): what a
    voice activity detector should hear, not what a decoder should (see
    :meth:`_suppress`).
    """

    def __init__(self, partitions: int = PARTITIONS, step: float = 0.3) -> None:
        bins = BLOCK + 1
        self.step = step
        self.foreground = np.zeros((partitions, bins), np.complex128)
        self.background = np.zeros((partitions, bins), np.complex128)
        self.history = np.zeros((partitions, bins), np.complex128)
        self.spectra_power = np.zeros((partitions, bins))
        self.ref = np.zeros(2 * BLOCK)
        self._fore_error = 0.0  # smoothed error energies of the two filters
        self._back_error = 0.0
        self.echo = 0.0
        self.residual = 0.0
        self._gain = 1.0  # of the residual echo suppressor
        self.quieted = np.zeros(BLOCK, np.float32)  # the last block, suppressed
        self._hold = 0  # blocks left without learning after talk was heard
        self.talk = False  # the last block held a person talking over the session
        self._erle: deque[float] = deque(maxlen=400)  # dB per block while the session is loud

    def process(self, mic: np.ndarray, played: np.ndarray) -> np.ndarray:
        """One block: the microphone minus the predicted echo of ``played`` (and
        the same turned down where only echo is likely left, in ``quieted``)."""
        mic = mic.astype(np.float64)
        self.ref[:BLOCK] = self.ref[BLOCK:]
        self.ref[BLOCK:] = played
        spectrum = np.fft.rfft(self.ref)
        self.history = np.roll(self.history, 1, axis=0)
        self.history[0] = spectrum
        self.spectra_power = np.roll(self.spectra_power, 1, axis=0)
        self.spectra_power[0] = np.abs(spectrum) ** 2
        predicted = self._predict(self.foreground)
        residual = mic - predicted
        back = mic - self._predict(self.background)
        self._fore_error = 0.85 * self._fore_error + 0.15 * float(np.sum(residual**2))
        self._back_error = 0.85 * self._back_error + 0.15 * float(np.sum(back**2))
        loudness = float(np.mean(played**2))
        self.echo = float(np.mean(predicted**2))
        self.residual = float(np.mean(residual**2))
        self.talk = self.erle_db > TALK_DB and self.residual > self.leftover * 10 ** (TALK_DB / 10)
        if self.talk and not self._hold:
            self.background[:] = self.foreground  # forget what the talk's first block taught
            self._back_error = self._fore_error
        self._hold = HOLD if self.talk else max(self._hold - 1, 0)
        if loudness > ACTIVE and not self._hold:
            self._adapt(back)
        if loudness > LOUD:
            ratio = float(np.mean(mic**2)) / max(self.residual, 1e-12)
            self._erle.append(10 * np.log10(max(ratio, 1e-12)))
        self.quieted = self._suppress(residual)
        return residual.astype(np.float32)

    def _predict(self, weights: np.ndarray) -> np.ndarray:
        return np.fft.irfft(np.einsum("pk,pk->k", self.history, weights))[BLOCK:]

    def _adapt(self, error: np.ndarray) -> None:
        """NLMS on the background; then copy or reset (see the module docstring)."""
        norm = np.sum(self.spectra_power, axis=0) + REG
        spectrum = np.fft.rfft(np.concatenate([np.zeros(BLOCK), error]))
        taps = np.fft.irfft(np.conj(self.history) * (spectrum / norm), axis=1)
        taps[:, BLOCK:] = 0.0  # keep the filter causal and linear (overlap-save constraint)
        self.background += self.step * np.fft.rfft(taps, axis=1)
        if self._back_error < COPY_BELOW * self._fore_error:
            self.foreground[:] = self.background
            self._fore_error = self._back_error
        elif self._back_error > RESET_ABOVE * self._fore_error:
            self.background[:] = self.foreground
            self._back_error = self._fore_error

    def _suppress(self, residual: np.ndarray) -> np.ndarray:
        """Turn down what is left of the echo (about echo / ERLE), not the person.

        A linear canceller leaves the session some 25–40 dB down; the rest is
        still speech to a voice detector and would run into a command said
        over it. Where the residual is no louder than that leftover would be,
        it is attenuated (to at most −26 dB), smoothly from block to block.
        Only the endpointer hears this. Until the ninth pass the decoder did
        too, and the gain, block by block, also cut into commands said over
        narration: they fit the phone loop worse (MIN_MATCH). Replayed on the
        bench's eight placements, the decoder hearing the residual unsuppressed
        heard 7 more of 160 natural commands and 3 more espeak ones, with one
        more wrong in each family and no false trigger (docs/benchmarks.md).
        """
        power = self.residual + 1e-12
        target = float(np.clip(1.0 - OVERSUPPRESS * self.leftover / power, FLOOR, 1.0))
        rate = 0.5 if target > self._gain else 0.3  # open fast, close a little slower
        start = self._gain
        self._gain += rate * (target - self._gain)
        ramp = np.linspace(start, self._gain, len(residual), dtype=np.float32)
        return (residual * ramp).astype(np.float32)

    @property
    def leftover(self) -> float:
        """The power of echo the last block likely still holds: predicted echo ÷ ERLE."""
        return self.echo * 10 ** (-max(self.erle_db, 6.0) / 10)

    @property
    def erle_db(self) -> float:
        """How far the echo is pushed down lately (dB, the median over the loud blocks
        of the last ~6 s: a person talking over the session does not drag it down)."""
        if len(self._erle) < 50:
            return 0.0
        return float(np.median(np.array(self._erle)))
