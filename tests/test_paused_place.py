"""A paused playhead stays on the side the giver paused on while speech re-lays the script."""

from __future__ import annotations

import numpy as np
from support.routines import TWO_SIDED

from voiceguide.compiler import compile
from voiceguide.live import LiveSession
from voiceguide.navigation import segment_at, segments
from voiceguide.player import Player, VirtualClock
from voiceguide.routine import loads
from voiceguide.speech import VoiceSettings


class _Silent:
    """A sink that only counts: this is about positions, not sound."""

    def play(self, pcm: np.ndarray) -> None:
        pass

    def drain(self) -> None:
        pass

    def stop(self) -> None:
        pass


def test_time_opened_before_a_paused_playhead_keeps_it_on_its_side() -> None:
    script = compile(loads(TWO_SIDED))
    session = LiveSession(script, VoiceSettings())  # not started: placeholders, no speech
    right = next(s for s in segments(script) if s.side == "right")
    player = Player(session, _Silent(), clock=VirtualClock(), start=right.start + 1.0)
    player.toggle_pause()
    # as when speech for lines jumped over arrives and the script is laid out again:
    # the left side gets longer, and the switch to the right side moves past the
    # paused playhead (a resume point saved then named the left side)
    session.hold(right.start - 2.0, 3.0)
    outcome = player._stop(finished=False)
    here = segment_at(session.script, outcome.position)
    assert here is not None and here.side == "right"
    assert abs(outcome.position - here.start - 1.0) < 1e-3  # the same second into it
