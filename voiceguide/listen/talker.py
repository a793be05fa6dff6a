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
textbook way), as long as most commands fit it better than none (AGREEMENT):
when two people share the commands, a deep voice and a light one, their
average would suit neither. It is per session: a new recognizer starts from
no warp, and a few commands in (FIT_AFTER) it has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The warps tried (the talker's frequencies divided by this). Replayed over eight
#: placements, one talker each (tenth pass): the deep voices settle at 0.8, the light
#: ones at 1.3, and the voices the model already fits stay at 1.0 or near it. Down to
#: 0.7 heard one natural command more and let a "back" through as a wrong "stop";
#: 0.8-1.2 heard 3 natural commands fewer; steps of 0.05 the same as 0.1.
WARPS = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
#: Commands taken before any warp is used: one command's own best warp often lies 0.1-0.4
#: from its talker's (tenth pass), and the average of two is already steadier.
FIT_AFTER = 2
#: How much better (log score per 1000 frames, averaged over the commands taken) the
#: best warp must fit than none: a voice the model already fits gains under this from
#: any warp, and a warp chosen on noise would only move its errors about.
MARGIN = 0.03
#: The share of the commands taken that must each fit the chosen warp better than none.
#: Replayed (tenth pass) with one talker per placement, each talker's own commands
#: agree at 0.83-1.0 on a warp that helps it (under 0.8 only on warps that gained
#: nothing); with the four voices taking turns the average warp drew 0.41-0.75, cost
#: natural voices 3 commands and turned a "back" into a wrong "stop". With 0.8 the
#: turns are heard as without fitting, and one talker loses one espeak command of 160.
AGREEMENT = 0.8
#: The fit counted for a warp under which a command's audio found no path at all.
NO_PATH = -5.0


@dataclass
class Talker:
    """What the commands taken so far say about the voice giving them."""

    fits: dict[float, float] = field(default_factory=lambda: dict.fromkeys(WARPS, 0.0))
    better: dict[float, int] = field(default_factory=lambda: dict.fromkeys(WARPS, 0))
    commands: int = 0

    def heard(self, scores: Mapping[float, float | None], frames: int) -> None:
        """Count one command: its path score (natural log, None for no path) at each warp.

        Scores are taken per 1000 frames so that a long command does not outweigh
        a short one.
        """
        fit = {}
        for warp in self.fits:
            score = scores.get(warp)
            fit[warp] = NO_PATH if score is None else score * 1000 / max(frames, 1)
            self.fits[warp] += fit[warp]
        for warp in self.better:
            self.better[warp] += fit[warp] > fit.get(1.0, fit[warp])
        self.commands += 1

    @property
    def warp(self) -> float:
        """The warp to decode with now (1.0: none)."""
        if self.commands < FIT_AFTER:
            return 1.0
        best = max(self.fits, key=lambda w: self.fits[w])
        gain = (self.fits[best] - self.fits.get(1.0, self.fits[best])) / self.commands
        agree = self.better[best] / self.commands
        return best if gain >= MARGIN and agree >= AGREEMENT else 1.0


def set_warp(decoder: Any, warp: float) -> None:
    """Decode with ``warp`` from now on (1.0 restores pocketsphinx's own front end).

    pocketsphinx keeps the warp in process-wide statics, and skips a parameter
    string equal to the last one it applied, even when a neutral warp (none) came
    in between: 0.8, none, 0.8 left the front end unwarped. So a warp goes in by
    way of "1", which differs from every other string set here. It also means one
    process fits one talker at a time: every decoder in it hears the last warp set.
    """
    decoder.config["warp_type"] = "inverse_linear"
    if warp != 1.0:
        decoder.config["warp_params"] = "1"
        decoder.reinit_feat()
    decoder.config["warp_params"] = None if warp == 1.0 else f"{warp:g}"
    decoder.reinit_feat()
