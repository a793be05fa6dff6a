"""Runs a live session in its own process (ALSA reads ~/.asoundrc once per process).

Usage: python play_driver.py CONFIG.json RESULT.json. The sink is the real
one stream (unpaced, so ALSA's file device runs as fast as the player and
its clock is the device's), or with ``"sink": "simpleaudio"`` the real
fallback on a virtual clock; keys arrive at scripted session times. With
``"tape"`` every block handed to the stream is saved too, to compare with
what reached the device.
"""

from __future__ import annotations

import faulthandler
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, replace

import numpy as np

from voiceguide.compiler import Options, compile
from voiceguide.confirm import FIXED_PHRASES, Confirmer, step_phrases
from voiceguide.live import LiveSession
from voiceguide.navigation import segment_at
from voiceguide.player import Played, Player, SimpleaudioSink, VirtualClock
from voiceguide.routine import loads
from voiceguide.sinks import StreamClock
from voiceguide.speech import VoiceSettings
from voiceguide.stream import StreamSink

CHECKLIST = "Before we start. Press space when you are ready."


class TapSink(StreamSink):
    """The real stream, keeping a copy of every block handed to it."""

    def __init__(self, pace: bool) -> None:
        super().__init__(pace=pace)
        self.tape: list[np.ndarray] = []

    def write(self, pcm: np.ndarray) -> None:
        self.tape.append(np.array(pcm, np.int16))
        super().write(pcm)


class ScriptedKeys:
    """Keys pressed at given times on the player's clock, as it read it this turn.

    ``now`` is the reading the player took just before polling (``_polled``),
    so a key due by it is answered by the block mixed in the same turn.
    """

    def __init__(self, now: Callable[[], float], events: list[tuple[float, str]]) -> None:
        self.now = now
        self.events = sorted(events)

    def poll(self) -> list[str]:
        now = self.now()  # once: a device clock moves on between two readings
        due = [key for t, key in self.events if t <= now]
        self.events = [(t, key) for t, key in self.events if t > now]
        return due


def main() -> None:
    faulthandler.enable()
    with open(sys.argv[1]) as f:
        config = json.load(f)
    script = compile(loads(config["routine"]), Options(**config.get("options", {})))
    waits = set(config.get("wait_steps", []))
    steps = tuple(replace(s, wait=i in waits) for i, s in enumerate(script.steps))
    script = replace(script, steps=steps, checklist=tuple(config.get("checklist", ())))
    session = LiveSession(script, VoiceSettings())
    session.start()
    if config.get("wait_for_speech", True):
        session.done.wait()
    confirm = None
    if config.get("confirm"):
        confirm = Confirmer(VoiceSettings(), gain=session.mixer.master_gain)
        confirm.start([CHECKLIST, *FIXED_PHRASES, *step_phrases(script)])
        confirm.warm.wait(60)
    if config.get("sink") == "simpleaudio":
        sink, clock = SimpleaudioSink(), VirtualClock()
    else:
        sink = TapSink(pace=config.get("paced", False))
        sink.open()
        clock = StreamClock(sink)
    played = []

    def on_block(block: Played) -> None:  # where each block was, by the script of that moment
        segment = segment_at(session.script, block.position / 44100)
        side = segment.side if segment else None
        played.append({**asdict(block), "step": segment.step if segment else None, "side": side})

    player = Player(session, sink, clock=clock,
                    start=config.get("start", 0.0), on_block=on_block,
                    confirm=confirm)  # fmt: skip
    player.keys = ScriptedKeys(lambda: player._polled,
                               [tuple(e) for e in config.get("keys", [])])  # fmt: skip
    if script.checklist:
        player.start_with_checklist(CHECKLIST)
    outcome = player.run()
    if confirm is not None:
        confirm.stop()
    result = {
        "played": played,
        "finished": outcome.finished,
        "position": outcome.position,
        "error": str(outcome.error) if outcome.error else None,
        "script": session.script.to_dict(),
        "gain": session.mixer.master_gain,
        "said": [[at / 44100, text] for at, text in confirm.said] if confirm else [],
        "failed": session.failed,
    }
    with open(sys.argv[2], "w") as f:
        json.dump(result, f)
    if config.get("tape") and isinstance(sink, TapSink):
        np.save(config["tape"], np.concatenate(sink.tape) if sink.tape else np.zeros((0, 2)))
    if config.get("reference"):  # the same session mixed in one piece, for comparison
        mixer = session.mixer
        np.save(config["reference"], mixer.render(0, mixer.length))


if __name__ == "__main__":
    main()
