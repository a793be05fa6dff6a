"""Fitting the recognizer to the one person giving the commands: their vocal tract length.

The bundled acoustic model was trained on American adults of middling voice.
A deep voice's "louder" or a light voice's "back" can fit another command
better than its own, and no threshold after decoding mends that (ninth pass:
four (voice, command) pairs were misheard in almost every room). Vocal tract
length normalization does: the decoder's filter bank is stretched or squeezed
(pocketsphinx's ``warp_type inverse_linear``) until the talker's formants sit
where the model expects them.

The stretch is estimated, not searched per utterance. Taking the best of
several warps for every stretch of audio (ninth pass) gave room talk and
misheard commands as many chances to fit, and lost. Here each command the
recognizer has taken is decoded again at every warp in WARPS; the warp under
which the taken commands fit best on average, by a clear MARGIN over none,
is then used for everything heard after (the maximum-likelihood warp, the
textbook way). It is per session: a new recognizer starts from no warp, and
a few commands in (FIT_AFTER) it has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The warps tried (the talker's frequencies divided by this). Measured over eight
#: placements, one talker each (tenth pass): deep voices settle at 0.7-0.8, light ones
#: at 1.2-1.3; the model's own kind of voice stays at 1.0.
WARPS = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
#: Commands taken before any warp is used: one command's best warp is often not the
#: talker's (a single "back" fits a shifted model best by chance), two agree.
FIT_AFTER = 2
#: How much better (log score per 1000 frames, averaged over the commands taken) the
#: best warp must fit than none: a voice the model already fits gains under this from
#: any warp, and a warp chosen on noise would only move its errors about.
MARGIN = 0.03
#: The fit counted for a warp under which a command's audio found no path at all.
NO_PATH = -5.0


@dataclass
class Talker:
    """What the commands taken so far say about the voice giving them."""

    fits: dict[float, float] = field(default_factory=lambda: dict.fromkeys(WARPS, 0.0))
    commands: int = 0

    def heard(self, scores: Mapping[float, float | None], frames: int) -> None:
        """Count one command: its path score (natural log, None for no path) at each warp.

        Scores are taken per 1000 frames so that a long command does not outweigh
        a short one.
        """
        for warp in self.fits:
            score = scores.get(warp)
            self.fits[warp] += NO_PATH if score is None else score * 1000 / max(frames, 1)
        self.commands += 1

    @property
    def warp(self) -> float:
        """The warp to decode with now (1.0: none)."""
        if self.commands < FIT_AFTER:
            return 1.0
        best = max(self.fits, key=lambda w: self.fits[w])
        gain = (self.fits[best] - self.fits.get(1.0, self.fits[best])) / self.commands
        return best if gain >= MARGIN else 1.0


def set_warp(decoder: Any, warp: float) -> None:
    """Decode with ``warp`` from now on (1.0 restores pocketsphinx's own front end)."""
    decoder.config["warp_type"] = "inverse_linear"
    decoder.config["warp_params"] = None if warp == 1.0 else f"{warp:g}"
    decoder.reinit_feat()
