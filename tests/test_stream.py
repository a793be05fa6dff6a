"""The one-stream sink (voiceguide.stream): ALSA's file plugin, a full disk, a real sound server.

ALSA's file plugin takes whatever it is given, as fast as it comes: the stream
must carry every sample in order, as one stream. A sound server is where one
stream per block went wrong (a dip at every join, gaps and doubled audio under
load): here a session is played in real time through PortAudio -> ALSA's pulse
device -> a private PulseAudio, its null sink's monitor recorded with parec and
compared with the samples written, level by level every 10 ms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support import pulse
from support.routines import SHORT

RATE = 44100
why_not = pulse.available()


FEED = """
import json, sys, time
import numpy as np
from voiceguide.compiler import Options, compile
from voiceguide.live import LiveSession
from voiceguide.routine import loads
from voiceguide.speech import VoiceSettings
from voiceguide.stream import StreamSink
config = json.loads(sys.argv[1])
session = LiveSession(compile(loads(config["routine"]), Options()), VoiceSettings())
session.start()
session.done.wait()
mixer = session.mixer
pos, end = round(config["start"] * 44100), round(config["end"] * 44100)
pause = [round(t * 44100) for t in config.get("pause", [])]  # stream samples of silence
sink = StreamSink(pace=config["pace"])
sink.open()
written, blocks = 0, []
try:
    while pos < end:
        while sink.buffered() < 4410 and pos < end:
            if pause and pause[0] <= written < pause[1]:
                block = np.zeros((2205, 2), np.int16)
            else:
                n = min(2205, end - pos)
                block = np.clip(np.round(mixer.render(pos, n) * 32767), -32768, 32767)
                block = block.astype(np.int16)
                pos += n
            sink.write(block)
            blocks.append(block)
            written += len(block)
        sink.wait(0.02)
    sink.drain()
    error = None
except Exception as err:
    sink.stop()
    error = str(err)
np.save(config["stream"], np.concatenate(blocks) if blocks else np.zeros((0, 2), np.int16))
print(json.dumps({"error": error, "played": sink.played(), "written": written,
                  "underruns": sink.underruns, "opened": sink.streams_opened}))
"""


def feed(env: dict[str, str], tmp: Path, **config) -> dict:  # type: ignore[no-untyped-def]
    """Play part of the short session through a StreamSink in its own process."""
    config = {"routine": SHORT, "pace": False, "stream": str(tmp / "stream.npy"), **config}
    proc = subprocess.run([sys.executable, "-c", FEED, json.dumps(config)], env=env,
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["stderr"] = proc.stderr
    result["stream"] = np.load(tmp / "stream.npy")
    return result


def file_device(tmp: Path, target: Path | None = None) -> tuple[dict[str, str], Path]:
    """A HOME whose default ALSA device writes to one file (PortAudio opens one stream)."""
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    out = target or tmp / "out.raw"
    (home / ".asoundrc").write_text(f'pcm.!default {{ type file; slave.pcm "null"; '
                                    f'file "{out}"; format "raw"; truncate false }}\n')  # fmt: skip
    return {**os.environ, "HOME": str(home)}, out


def test_one_stream_carries_every_sample_written_in_order(tmp_path: Path) -> None:
    """Through ALSA's file plugin: one file, exactly what was written (after the priming)."""
    env, out = file_device(tmp_path)
    result = feed(env, tmp_path, start=20.0, end=35.0, pause=[5.0, 7.0])
    assert result["error"] is None and result["opened"] == 1 and result["underruns"] == 0
    assert result["played"] == result["written"] == len(result["stream"])  # the device clock
    assert sorted(p.name for p in tmp_path.glob("out.raw*")) == ["out.raw"]
    audio = np.fromfile(out, dtype="<i2").reshape(-1, 2)
    stream = result["stream"]
    lead = int(np.argmax(np.abs(audio).max(axis=1) > 0)) - int(
        np.argmax(np.abs(stream).max(axis=1) > 0))  # fmt: skip
    assert 0 <= lead <= 0.3 * RATE and not audio[:lead].any()  # priming: silence only
    assert np.array_equal(audio[lead : lead + len(stream)], stream)  # to the bit, no gaps
    assert not audio[lead + len(stream) :].any()


def test_a_device_that_fails_says_so_in_one_line_and_alsa_stays_quiet(tmp_path: Path) -> None:
    """A full disk under ALSA's file plugin: its writes fail after about six seconds."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        env, _ = file_device(tmp_path, target=folder / "out.raw")
        result = feed(env, tmp_path, start=0.0, end=40.0)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    assert result["error"].startswith("cannot play audio: the output device went away")
    assert "No space left on device" in result["error"]  # ALSA's own reason, in our line
    assert "ALSA lib" not in result["stderr"] and "pa_linux_alsa" not in result["stderr"]
    assert 4.0 < result["played"] / RATE < (1 << 20) / (4 * RATE) + 0.5  # what fitted


def control_gaps(server: pulse.PrivatePulse, tmp: Path, stream: np.ndarray) -> int:
    """The same samples through paplay (C, one stream, same buffer): gaps this machine makes."""
    import wave

    with wave.open(str(tmp / "control.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.round(stream * 32767).astype("<i2").tobytes())
    recorder = server.record(tmp / "control.raw")
    time.sleep(0.3)
    subprocess.run(["paplay", "--latency-msec=120", str(tmp / "control.wav")], env=server.env,
                   check=True, timeout=120)  # fmt: skip
    time.sleep(0.3)
    recorder.terminate()
    recorder.wait()
    recording = np.fromfile(tmp / "control.raw", dtype="<i2").reshape(-1, 2)
    return pulse.compare(recording, stream)["gaps"]


def judged(server: pulse.PrivatePulse, tmp: Path, written: np.ndarray,
           lives: pulse.StreamLives) -> dict:  # fmt: skip
    """The recording against what was written; a skip when paplay could not do better.

    Each underrun makes ALSA's pulse plugin open the server stream again (a new
    sink input): on a machine too loaded to keep any client fed, the test
    cannot judge us.
    """
    recording = np.fromfile(tmp / "rec.raw", dtype="<i2").reshape(-1, 2)
    report = {**pulse.compare(recording, written), "sink_inputs": lives.lasting(),
              "brief_sink_inputs": lives.brief()}  # fmt: skip
    troubled = report["gaps"] or report["sink_inputs"] != 1
    if troubled and control_gaps(server, tmp, written):
        pytest.skip(f"this machine is too loaded for real-time sound: paplay's own copy "
                    f"had gaps too (ours: {report})")  # fmt: skip
    return report


def assert_one_clean_stream(report: dict) -> None:
    """One sink input, no gaps, dips, doubled audio or drift; the server passed it untouched.

    Besides it, at most the one stream of under a tenth of a second that ALSA's pulse
    plugin makes and frees while PortAudio opens the device (see ``pulse.StreamLives``).
    """
    assert report["sink_inputs"] == 1 and report["brief_sink_inputs"] <= 1, report
    assert report["gaps"] == 0 and report["doubled"] == 0, report
    assert report["worst_10ms_db"] <= 0.5, report
    assert abs(report["drift_ms"]) < 1.0, report
    assert report["max_error_lsb"] <= 1.0, report


def test_through_pulseaudio_one_stream_plays_what_was_written_with_a_pause(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """15 s of session with a 2 s pause, in real time: one stream, no dips, gaps or drift."""
    if why_not is not None:
        pytest.skip(why_not)
    with pulse.PrivatePulse(tmp_path_factory.mktemp("pulse")) as server:
        with pulse.recording(server, tmp_path / "rec.raw") as lives:
            result = feed(server.env, tmp_path, start=66.0, end=79.0, pause=[5.0, 7.0], pace=True)
        assert result["error"] is None and result["opened"] == 1
        assert "ALSA lib" not in result["stderr"]
        report = judged(server, tmp_path, result["stream"] / 32767.0, lives)
    assert_one_clean_stream(report)  # one stream the whole time, open in the pause


CAPTURE = """
import json, sys
import numpy as np
from voiceguide.stream import StreamSink
heard, played = [], []
sink = StreamSink(pace=False, capture=lambda h, p: (heard.append(h), played.append(p)))
sink.open()
out = np.stack([np.arange(2 * 44100) % 777] * 2, axis=1).astype(np.int16)
for i in range(0, len(out), 2205):
    sink.write(out[i : i + 2205])
sink.drain()
np.save(sys.argv[1], np.concatenate(heard))
np.save(sys.argv[2], np.concatenate(played))
print(json.dumps({"error": sink.capture_error, "delay": sink.echo_delay}))
"""


def test_the_listener_gets_the_microphone_beside_what_was_playing(tmp_path: Path) -> None:
    """A duplex stream on ALSA's file plugin: the mic reads a file, the speakers write one."""
    mic = (np.arange(3 * RATE) % 1000 - 500).astype("<i2")
    mic.tofile(tmp_path / "in.raw")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        f'pcm.!default {{ type file; slave.pcm "null"; file "{tmp_path}/out.raw"; '
        f'infile "{tmp_path}/in.raw"; format "raw"; truncate false }}\n'
    )
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", CAPTURE, str(tmp_path / "h.npy"),
                           str(tmp_path / "p.npy")], env=env, capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    info = json.loads(proc.stdout)
    assert info["error"] is None and info["delay"] == 0.0
    heard, played = np.load(tmp_path / "h.npy"), np.load(tmp_path / "p.npy")
    assert heard.dtype == np.float32 and heard.ndim == 1 and played.shape == (len(heard), 2)
    n = 2 * RATE  # what was written; the callback goes on a moment with silence while draining
    assert len(heard) >= n
    assert np.array_equal(np.round(heard[:n] * 32767), mic[:n])  # the mic, sample for sample
    expected = np.stack([np.arange(n) % 777] * 2, axis=1)
    assert np.array_equal(np.round(played[:n] * 32767), expected)  # beside what was playing


def test_the_player_through_pulseaudio_is_one_stream_on_the_device_clock(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The player itself in real time: a jump, a pause, a resume and a quit; one sink input."""
    if why_not is not None:
        pytest.skip(why_not)
    from support.live import run_driver

    keys = [[4.0, "n"], [7.0, "space"], [9.0, "space"], [13.0, "q"]]
    with pulse.PrivatePulse(tmp_path_factory.mktemp("pulse")) as server:
        with pulse.recording(server, tmp_path / "rec.raw") as lives:
            started = time.monotonic()
            result, written = run_driver(tmp_path, SHORT, env=server.env, paced=True, keys=keys,
                                         start=20.0)  # fmt: skip
            took = time.monotonic() - started
        report = judged(server, tmp_path, written, lives)
    assert result["error"] is None and not result["finished"]
    played = result["played"]
    size = played[0]["samples"]
    assert [round(p["deadline"] * RATE) for p in played] == [i * size for i in range(len(played))]
    assert 13.0 < len(written) / RATE < 13.0 + 0.1 + 0.5  # quit at 13 s, then the fade
    assert took > len(written) / RATE  # the device's clock paced it: real time
    assert_one_clean_stream(report)  # one stream, open through the pause
