"""Short room recordings for the listen tests: a real session, real commands, a simulated room."""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from support.room import RATE, TALKERS, Spoken, command_clips, room_mix, to_mic_rate
from support.routines import SHORT
from voiceguide.compiler import Options, compile
from voiceguide.mixer import Mixer
from voiceguide.render import prepare
from voiceguide.routine import Routine, loads
from voiceguide.speech import VoiceSettings

SECONDS = 40.0


@dataclass(frozen=True)
class RoomCase:
    with_commands: Path  # 16 kHz mono WAV: the room with someone giving commands
    without: Path  # the same room, the session alone
    played: Path  # what the speakers played (16 kHz mono WAV)
    script: Path  # the session's script JSON (cue texts and times)
    spoken: list[Spoken]


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def build(folder: Path) -> RoomCase:
    """40 s of the SHORT session in a room; three commands in the quiet, one over narration.

    The first command comes after 10 s: the echo canceller needs a few seconds
    of narration to learn the room.
    """
    mixer, session = _rendered(loads(SHORT), SECONDS)
    cues = [(c.at, c.end) for c in mixer.script.cues if c.at < SECONDS]
    clips = dict(command_clips(TALKERS[:1]))  # one voice, not the narration's
    quiet = [t for t in np.arange(10.0, SECONDS - 3.0, 0.25)
             if not any(a - 1.0 < t + 2.0 and t < b + 1.0 for a, b in cues)]  # fmt: skip
    over = [t for t in np.arange(10.0, SECONDS - 3.0, 0.25)
            if any(a + 0.3 <= t and t + 1.6 <= b for a, b in cues)]  # fmt: skip
    assert len(quiet) > 40 and over, f"the test session's cues moved: {cues}"
    starts = [quiet[0], quiet[len(quiet) // 2], quiet[-1], over[0]]
    commands = ("pause", "more time", "next", "louder")
    placed = [(float(at), c, clips[c]) for at, c in zip(starts, commands, strict=True)]
    mixed, spoken = room_mix(session, placed)
    alone, _ = room_mix(session, [])
    case = RoomCase(folder / "room.wav", folder / "alone.wav", folder / "played.wav",
                    folder / "script.json", spoken)  # fmt: skip
    write_wav(case.with_commands, mixed)
    write_wav(case.without, alone)
    write_wav(case.played, session)
    cue_list = [{"at": c.at, "text": c.text, "length": c.length} for c in mixer.script.cues]
    case.script.write_text(json.dumps({"cues": cue_list}))
    return case


def played_session(routine: str, seconds: float) -> np.ndarray:
    """The first ``seconds`` of a built-in routine as the speakers play it (16 kHz mono):
    narration, bed and the quiet between cues, for measuring the echo canceller."""
    from voiceguide.routine import load_builtin

    return _rendered(load_builtin(routine), seconds)[1]


def _rendered(routine: Routine, seconds: float) -> tuple[Mixer, np.ndarray]:
    """A routine's mixer and its first ``seconds`` as played, at the microphone's rate."""
    mixer, _ = prepare(compile(routine, Options()), VoiceSettings())
    return mixer, to_mic_rate(mixer.render(0, int(seconds * 44_100)), 44_100)
