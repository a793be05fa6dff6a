"""Runs play_driver.py through ALSA's file plugin and gives back what a listener heard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from support.alsa import alsa_home

DRIVER = Path(__file__).parent / "play_driver.py"
RATE = 44100


def run_driver(tmp: Path, routine: str, env: dict[str, str] | None = None,
               **config) -> tuple[dict, np.ndarray]:  # type: ignore[no-untyped-def]  # fmt: skip
    """The session's result and its sound from the first block on, stereo float, in stream time.

    On the one stream the device's file must be exactly what was handed over
    (after PortAudio's priming silence), in one file; with the simpleaudio
    fallback every block is its own file, placed at its deadline.
    """
    check = config.pop("check_stream", True) and env is None  # else a sound server has it
    if env is None:
        env, capture = alsa_home(tmp)
    else:
        capture = tmp / "nothing-captured-here"
    config_path, result_path, tape = tmp / "config.json", tmp / "result.json", tmp / "tape.npy"
    config_path.write_text(json.dumps({"routine": routine, "tape": str(tape), **config}))
    proc = subprocess.run([sys.executable, str(DRIVER), str(config_path), str(result_path)],
                          env=env, timeout=240, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(result_path.read_text())
    files = sorted(capture.glob("out.raw*"), key=lambda p: (len(p.name), p.name))
    streams = [np.fromfile(f, dtype="<i2").reshape(-1, 2) for f in files]
    if config.get("sink") == "simpleaudio":
        return result, _placed(result["played"], streams)
    written = np.load(tape).astype(np.int16)
    if not check:  # a device that failed holds only part of it
        return result, written / 32767.0
    assert len(streams) == 1, "one stream for the whole session"
    return result, _unprimed(streams[0], written)


def _unprimed(device: np.ndarray, written: np.ndarray) -> np.ndarray:
    """What was written, checked to the bit against what the device got after its priming."""
    sound = np.abs(device).max(axis=1) > 0
    first = np.abs(written).max(axis=1) > 0
    lead = int(np.argmax(sound)) - int(np.argmax(first)) if first.any() else 0
    assert 0 <= lead <= 0.3 * RATE and not device[:lead].any(), "priming is silence only"
    assert np.array_equal(device[lead : lead + len(written)], written), "the stream, to the bit"
    assert not device[lead + len(written) :].any(), "only silence after the last block"
    return written / 32767.0


def _placed(played: list[dict], streams: list[np.ndarray]) -> np.ndarray:
    assert len(streams) == len(played)
    at = [round(p["deadline"] * RATE) for p in played]
    out = np.zeros((max(a + len(s) for a, s in zip(at, streams, strict=True)), 2))
    for a, s in zip(at, streams, strict=True):
        out[a : a + len(s)] += s / 32767.0
    return out
