"""Runs a live session in its own process (ALSA reads ~/.asoundrc once per process).

Usage: python play_driver.py CONFIG.json RESULT.json. The sink is the real
simpleaudio one; time is virtual and keys arrive at scripted session times.
"""

from __future__ import annotations

import faulthandler
import json
import sys
from dataclasses import asdict

import numpy as np

from voiceguide.compiler import Options, compile
from voiceguide.live import LiveSession
from voiceguide.player import Player, SimpleaudioSink, VirtualClock
from voiceguide.routine import loads
from voiceguide.speech import VoiceSettings


class ScriptedKeys:
    """Keys pressed at given times (seconds on the virtual clock)."""

    def __init__(self, clock: VirtualClock, events: list[tuple[float, str]]) -> None:
        self.clock = clock
        self.events = sorted(events)

    def poll(self) -> list[str]:
        due = [key for t, key in self.events if t <= self.clock.now()]
        self.events = [(t, key) for t, key in self.events if t > self.clock.now()]
        return due


def main() -> None:
    faulthandler.enable()
    with open(sys.argv[1]) as f:
        config = json.load(f)
    script = compile(loads(config["routine"]), Options(**config.get("options", {})))
    session = LiveSession(script, VoiceSettings())
    session.start()
    if config.get("wait_for_speech", True):
        session.done.wait()
    clock = VirtualClock()
    played = []
    player = Player(session, SimpleaudioSink(), clock=clock,
                    keys=ScriptedKeys(clock, [tuple(e) for e in config.get("keys", [])]),
                    start=config.get("start", 0.0), on_block=played.append)  # fmt: skip
    outcome = player.run()
    result = {
        "played": [asdict(p) for p in played],
        "finished": outcome.finished,
        "position": outcome.position,
        "error": str(outcome.error) if outcome.error else None,
        "script": session.script.to_dict(),
        "gain": session.mixer.master_gain,
    }
    with open(sys.argv[2], "w") as f:
        json.dump(result, f)
    if config.get("reference"):  # the same session mixed in one piece, for comparison
        mixer = session.mixer
        np.save(config["reference"], mixer.render(0, mixer.length))


if __name__ == "__main__":
    main()
