"""Live playback through ALSA's file plugin: what would reach the speakers, measured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support.alsa import alsa_home
from support.live import run_driver
from support.routines import SHORT

from voiceguide.ambience import decode
from voiceguide.compiler import Options, compile
from voiceguide.errors import VoiceguideError
from voiceguide.player import BLOCK, FADE, LEAD, ONESHOT, RATE
from voiceguide.render import render
from voiceguide.routine import loads
from voiceguide.script import Script

ROUTINE = SHORT
#: From a key press to the first block that answers it: the queue ahead, and one block.
ANSWER = LEAD + BLOCK / RATE


def run(tmp: Path, **config) -> tuple[dict, np.ndarray]:  # type: ignore[no-untyped-def]
    return run_driver(tmp, ROUTINE, **config)


def rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x**2) + 1e-20)


def moving(result: dict) -> list[dict]:
    """Blocks of the session itself (not the silence written while paused)."""
    return [p for p in result["played"] if p["moving"]]


@pytest.fixture(scope="module")
def hands_free(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, np.ndarray]:
    tmp = tmp_path_factory.mktemp("free")
    result, audio = run(tmp, reference=str(tmp / "reference.npy"))
    result["reference"] = np.load(tmp / "reference.npy")
    return result, audio


def test_hands_free_plays_the_whole_session_as_one_stream_and_stops(hands_free) -> None:
    result, audio = hands_free  # run_driver checked: one stream, bit-exact to what was written
    assert result["finished"] and result["error"] is None
    duration = result["script"]["duration"]
    assert abs(len(audio) / RATE - duration) < BLOCK / RATE + 0.01


def test_blocks_join_without_gaps_or_clicks(hands_free) -> None:
    """The stream equals the session mixed in one piece, to the last bit."""
    result, audio = hands_free
    reference = result["reference"]
    n = min(len(reference), len(audio))
    assert np.abs(audio[:n] - reference[:n]).max() <= 1 / 32767
    positions = [p["position"] for p in result["played"]]
    assert positions == list(range(0, BLOCK * len(positions), BLOCK))
    deadlines = [round(p["deadline"] * RATE) for p in result["played"]]
    assert deadlines == positions  # the device clock and the session agree, sample for sample


def test_the_simpleaudio_fallback_still_rejoins_its_blocks(tmp_path: Path) -> None:
    """Where no stream opens: one-shot overlapping blocks on a wall clock, summing to the mix."""
    result, audio = run(tmp_path, sink="simpleaudio", reference=str(tmp_path / "ref.npy"))
    reference = np.load(tmp_path / "ref.npy")
    assert result["finished"] and len(result["played"]) > 1
    n = min(len(reference), len(audio))
    assert np.abs(audio[:n] - reference[:n]).max() <= 2 / 32767
    positions = [p["position"] for p in result["played"]]
    assert positions == list(range(0, ONESHOT.block * len(positions), ONESHOT.block))


def test_live_sounds_like_the_rendered_file(hands_free, tmp_path: Path) -> None:
    result, audio = hands_free
    script = Script.from_dict(result["script"])
    rendered = render(compile(loads(ROUTINE), Options()), tmp_path / "r.wav").script
    assert [round(c.at, 2) for c in rendered.cues] == [round(c.at, 2) for c in script.cues]
    file_audio = decode(tmp_path / "r.wav")
    n = min(len(file_audio), len(audio))
    a, b = audio[:n, 0], file_audio[:n, 0]
    lag_window = 2048
    corr = np.correlate(a[RATE : RATE * 40], b[RATE - lag_window : RATE * 40 + lag_window], "valid")
    lag = int(np.argmax(corr)) - lag_window
    assert lag == 0  # the same cue positions, to the sample
    similarity = corr.max() / np.sqrt(
        np.sum(a[RATE : RATE * 40] ** 2) * np.sum(b[RATE : RATE * 40] ** 2)
    )
    assert similarity > 0.99
    assert abs(rms_db(a) - rms_db(b)) < 1.0  # the live gain is predicted, the file's measured


def test_pause_fades_out_keeps_the_stream_and_resume_restarts_the_sentence(tmp_path: Path) -> None:
    script = compile(loads(ROUTINE), Options())
    instruction = next(c for c in script.cues if c.kind == "instruction")
    press = instruction.at + 1.0  # in the middle of the first instruction
    result, audio = run(tmp_path, keys=[[press, "space"], [press + 5, "space"]])
    assert result["finished"]  # one stream throughout (run_driver): the pause wrote silence
    window = int(0.25 * RATE)
    quiet_from = int((press + ANSWER + FADE / RATE + 0.01) * RATE)
    assert np.abs(audio[quiet_from : int((press + 4.9) * RATE)]).max() == 0  # paused: silence
    assert rms_db(audio[int(press * RATE) - window : int(press * RATE)]) > -40  # it was playing
    resumed = [p for p in moving(result) if p["deadline"] >= press + 5]
    assert resumed[0]["deadline"] - (press + 5) <= ANSWER + 1e-6  # within a tenth of a second
    expected = round((instruction.at - 0.4) * RATE)
    assert resumed[0]["position"] == expected  # the sentence starts again


def test_next_jumps_to_the_next_step(tmp_path: Path) -> None:
    script = compile(loads(ROUTINE), Options())
    result, audio = run(tmp_path, keys=[[8.0, "n"]])
    target = round(Script.from_dict(result["script"]).steps[1].start * RATE)
    seams = [(a["position"], b["position"], b["deadline"]) for a, b in
             zip(result["played"], result["played"][1:], strict=False)
             if b["position"] != a["position"] + a["samples"]]  # fmt: skip
    jump = next((p for p in result["played"] if abs(p["position"] - target) <= 0.002 * RATE), None)
    assert jump is not None, (target, seams)
    assert 8.0 <= jump["deadline"] <= 8.0 + ANSWER + 1e-9  # queued within 0.1 s
    total = len(audio) / RATE
    assert total < script.duration - (target / RATE - 8.0) + 1.0  # the skipped time is not played


def test_extend_adds_thirty_seconds_and_later_cues_move(tmp_path: Path) -> None:
    script = compile(loads(ROUTINE), Options())
    result, _ = run(tmp_path, keys=[[12.0, "+"]])
    live = Script.from_dict(result["script"])
    assert live.duration == pytest.approx(script.duration + 30, abs=0.01)
    later = [c for c in script.cues if c.at > 15]
    moved = [c for c in live.cues if c.at > 15 + 30 - 1e-6]
    assert [c.text for c in moved][-len(later) :] == [c.text for c in later]
    assert result["finished"]


def test_quit_fades_out_and_stops_early(tmp_path: Path) -> None:
    result, audio = run(tmp_path, keys=[[10.0, "q"]])
    assert not result["finished"]
    assert len(audio) / RATE < 10.0 + ANSWER + FADE / RATE + 0.05
    assert np.abs(audio[-int(0.01 * RATE) :]).max() < 0.005  # faded to nothing, not cut
    assert 9.5 < result["position"] < 10.5


def full_disk(folder: Path, size: str) -> None:
    """Mount a small tmpfs: ALSA's file device fails its writes once it is full."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")


def test_a_device_that_dies_mid_session_stops_cleanly(tmp_path: Path) -> None:
    full_disk(tmp_path / "dev" / "capture", "1800k")  # about 10 s of sound fits
    try:
        result, _ = run_driver(tmp_path / "dev", ROUTINE, check_stream=False)
    finally:
        subprocess.run(["umount", "-l", str(tmp_path / "dev" / "capture")], check=False)
    assert not result["finished"]
    assert result["error"].startswith("cannot play audio: the output device went away")
    assert "No space left on device" in result["error"]
    assert 9 < result["position"] < 11


def test_speech_that_is_late_holds_the_bed_instead_of_going_silent(tmp_path: Path) -> None:
    result, audio = run(tmp_path, wait_for_speech=False)
    assert result["finished"]
    script = Script.from_dict(result["script"])
    for cue in script.cues:  # every cue was really spoken, however late the speech was
        a = round(cue.at * RATE)
        assert rms_db(audio[a : a + int(0.3 * RATE)]) > -35, cue.text


def cli(tmp_path: Path, *args: str, clock: str = "virtual") -> subprocess.CompletedProcess:
    tmp_path.mkdir(parents=True, exist_ok=True)
    env, _ = alsa_home(tmp_path)
    env["VOICEGUIDE_PLAY_CLOCK"] = clock
    (tmp_path / "r.yaml").write_text(ROUTINE)
    return subprocess.run([sys.executable, "-m", "voiceguide", "play", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=120)  # fmt: skip


def test_cli_without_a_terminal_prints_a_line_per_step(tmp_path: Path) -> None:
    proc = cli(tmp_path, "r.yaml")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    where = [line.split("] ", 1)[1].split(". ")[0].split(": ")[-1] for line in lines]
    steps = ["Introduction", "Spread the oil", "Strokes beside the spine", "Circles", "Closing"]
    assert list(dict.fromkeys(where)) == steps, proc.stdout
    assert "\x1b" not in proc.stdout  # no terminal: plain lines, no escape codes
    assert "session complete" in proc.stderr


def test_cli_from_step(tmp_path: Path) -> None:
    proc = cli(tmp_path, "r.yaml", "--from", "circ")
    assert proc.returncode == 0, proc.stderr
    assert "Spread the oil" not in proc.stdout and "Circles" in proc.stdout
    bad = cli(tmp_path, "r.yaml", "--from", "9")
    assert bad.returncode == 1 and "steps 1 to 3" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_with_no_audio_device_says_so_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}  # no .asoundrc, and no sound card here
    env.pop("PYTHONMALLOC", None)  # the command sets it for itself
    (tmp_path / "r.yaml").write_text(ROUTINE)
    proc = subprocess.run([sys.executable, "-m", "voiceguide", "play", "r.yaml"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "no audio output device" in proc.stderr and "voiceguide render" in proc.stderr


def test_ctrl_c_saves_the_spot_and_resume_starts_there(tmp_path: Path) -> None:
    env, _ = alsa_home(tmp_path)
    env.pop("PYTHONMALLOC")
    (tmp_path / "r.yaml").write_text(ROUTINE)
    proc = subprocess.Popen([sys.executable, "-m", "voiceguide", "play", "r.yaml", "--from", "2"],
                            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert "Strokes beside the spine" in proc.stdout.readline()  # playing in real time
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped at Strokes beside the spine" in err and "--resume" in err
    resumed = cli(tmp_path, "r.yaml", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    from voiceguide import resume as points

    with pytest.raises(VoiceguideError, match="nothing to resume"):  # finishing cleared it
        points.latest(str((tmp_path / "r.yaml").resolve()))
    first = resumed.stdout.splitlines()[0]
    assert "Strokes beside the spine" in first, resumed.stdout
    assert "Spread the oil" not in resumed.stdout
    nothing = cli(tmp_path / "other", "r.yaml", "--resume")
    assert nothing.returncode == 1 and "nothing to resume" in nothing.stderr


def test_on_a_terminal_the_screen_shows_the_step_and_q_quits(tmp_path: Path) -> None:
    """The whole command on a pseudo-terminal: big-type screen, a real key press, a clean exit."""
    import pty
    import select

    env, _ = alsa_home(tmp_path)
    env.pop("PYTHONMALLOC")
    env.update(TERM="xterm", COLUMNS="100", LINES="30")
    (tmp_path / "r.yaml").write_text(ROUTINE)
    pid, fd = pty.fork()
    if pid == 0:  # the child: voiceguide, with the pty as its terminal
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "voiceguide", "play", "r.yaml",
                                   "--from", "circles"], env)  # fmt: skip
    seen = b""
    deadline = time.monotonic() + 30
    quit_sent = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if not quit_sent and b"Step 3 of 3" in seen:
            os.write(fd, b"q")
            quit_sent = True
    _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert quit_sent, text[-500:]
    assert os.waitstatus_to_exitcode(status) == 0, text[-500:]
    assert "\x1b[?1049h" in text and "\x1b[?1049l" in text  # alternate screen entered and left
    assert "█" in text  # the step title in large type
    assert "stopped at Circles" in text


def test_cli_says_so_when_the_device_goes_away_and_saves_the_spot(tmp_path: Path) -> None:
    env, capture = alsa_home(tmp_path)
    env["VOICEGUIDE_PLAY_CLOCK"] = "virtual"
    full_disk(capture, "1800k")
    (tmp_path / "r.yaml").write_text(ROUTINE)
    try:
        proc = subprocess.run([sys.executable, "-m", "voiceguide", "play", "r.yaml"],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)  # fmt: skip
    finally:
        subprocess.run(["umount", "-l", str(capture)], check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "output device went away" in last and "stopped at" in last and "--resume" in last
    assert "No space left on device" in last
    assert "Traceback" not in proc.stderr and "ALSA lib" not in proc.stderr


def test_sentence_starts_land_in_the_pause_between_sentences() -> None:
    """Resuming after a pause restarts the cut-off sentence, at the quiet before it."""
    from voiceguide.player import sentence_starts
    from voiceguide.speech import Speaker, VoiceSettings

    text = "Glide up beside the spine to the shoulders. Then rest your hands for a moment."
    with Speaker(VoiceSettings()) as speaker:
        clip = speaker.clip(text)
    starts = sentence_starts(text, clip.samples, clip.rate)
    assert len(starts) == 2 and starts[0] == 0.0
    assert 0.25 * clip.duration < starts[1] < 0.75 * clip.duration
    at = int(starts[1] * clip.rate)
    around = clip.samples[at - 441 : at + 441]  # 20 ms either side of the chosen point
    assert np.sqrt(np.mean(around**2)) < 0.1 * np.sqrt(np.mean(clip.samples**2))
