"""Rendering for real: speech from espeak-ng, an MP3 from ffmpeg, decoded and measured."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mutagen.id3 import ID3
from support.routines import SHORT

from voiceguide.ambience import decode, ffmpeg_exe
from voiceguide.cli import main
from voiceguide.compiler import Options, compile
from voiceguide.export import Tags, encode, write_text
from voiceguide.mixer import MixSettings
from voiceguide.render import prepare, render
from voiceguide.routine import loads
from voiceguide.script import Chapter, Script
from voiceguide.speech import VoiceSettings

RATE = 44100
ROUTINE = SHORT


@pytest.fixture(scope="module")
def steady_bed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A steady white-noise bed, so ducking can be measured to a fraction of a dB."""
    noise = np.random.default_rng(7).standard_normal((RATE * 20, 2)) * 0.05
    path = tmp_path_factory.mktemp("bed") / "steady.wav"
    pcm = (noise * 32767).astype("<i2")
    proc = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "s16le", "-ar", str(RATE), "-ac", "2",
         "-i", "-", str(path)], input=pcm.tobytes(), check=True,
    )  # fmt: skip
    assert proc.returncode == 0
    return path


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory, steady_bed: Path) -> dict:
    out = tmp_path_factory.mktemp("render")
    routine = loads(ROUTINE)
    script = compile(routine, Options(ambience=str(steady_bed)))
    result = render(script, out / "s.mp3", subtitles=out / "s.vtt", script_json=out / "s.json")
    # The bed alone, exactly as it went into that mix (same layout, same master gain).
    mixer, _ = prepare(script, VoiceSettings())
    bed = mixer.premaster(0, mixer.length, parts=("bed",)) * mixer.master_gain
    return {"result": result, "audio": decode(out / "s.mp3"), "bed": bed, "dir": out}


def _band_rms_db(x: np.ndarray, lo: float = 300, hi: float = 3000) -> float:
    spectrum = np.fft.rfft(x.mean(axis=1) * np.hanning(len(x)))
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    band = np.abs(spectrum[(freqs >= lo) & (freqs <= hi)]) ** 2
    return 10 * np.log10(band.sum() + 1e-20)


def _rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-20)


def test_length_matches_the_script(session: dict) -> None:
    script: Script = session["result"].script
    assert abs(len(session["audio"]) / RATE - script.duration) <= 0.05


def test_speech_is_heard_at_every_cue(session: dict) -> None:
    script: Script = session["result"].script
    audio, bed = session["audio"], session["bed"]
    for cue in script.cues:
        a, b = int(cue.at * RATE), int(min(cue.end, cue.at + 0.6) * RATE)
        gain = _band_rms_db(audio[a:b]) - _band_rms_db(bed[a:b])
        assert gain > 10, f"no speech at {cue.at:.2f}s ({cue.text!r}): {gain:.1f} dB over the bed"


def test_bed_is_ducked_under_speech(session: dict) -> None:
    script: Script = session["result"].script
    bed = session["bed"]
    settings = MixSettings()
    spans = [(c.at, c.end) for c in script.cues]
    # free: bed moments at least a release + attack away from any speech, after the fade-in
    free = [
        t for t in np.arange(settings.fade_in + 1, script.duration - settings.fade_out - 1, 0.25)
        if all(t + 0.25 < a - settings.attack - 0.05 or t > b + settings.release + 0.05
               for a, b in spans)
    ]  # fmt: skip
    assert len(free) > 20
    open_level = np.median([_rms_db(bed[int(t * RATE) : int((t + 0.25) * RATE)]) for t in free])
    for cue in script.cues:
        if cue.end - cue.at < 0.3:
            continue
        a, b = int((cue.at + 0.05) * RATE), int((cue.end - 0.05) * RATE)
        ducked = open_level - _rms_db(bed[a:b])
        assert ducked >= 6, f"bed only {ducked:.1f} dB down under {cue.text!r}"


def ebur128(path: Path) -> tuple[float, float]:
    """Integrated loudness and true peak as ffmpeg measures them: not our implementation."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path), "-af", "ebur128=peak=true",
         "-f", "null", "-"], capture_output=True, text=True, check=True,
    )  # fmt: skip
    summary = proc.stderr[proc.stderr.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1))
    return integrated, peak


def test_integrated_loudness_measured_by_ffmpeg(session: dict) -> None:
    integrated, peak = ebur128(session["dir"] / "s.mp3")
    assert -17.0 <= integrated <= -15.0
    assert peak <= -0.5  # -1 dBTP in the mix; MP3 encoding may add a few tenths
    assert np.abs(session["audio"]).max() < 1.0


@pytest.mark.parametrize("bed", ["river", "music-bells"])
def test_loudness_with_bundled_beds_is_what_the_render_reports(bed: str, tmp_path: Path) -> None:
    """Real beds swell and fade: the prediction must follow their profile, not their average.

    A mostly-bed session may stay under the target (the voice is kept clean), but the
    loudness the render reports must be the loudness ffmpeg measures.
    """
    script = compile(loads(ROUTINE.replace("duration: 25s", "duration: 3m")), Options(ambience=bed))
    result = render(script, tmp_path / "b.mp3")
    integrated, peak = ebur128(tmp_path / "b.mp3")
    assert abs(integrated - result.lufs) <= 1.0, (integrated, result.lufs)
    assert peak <= -0.5


def test_a_built_in_routine_at_its_own_length_reaches_minus_16(tmp_path: Path) -> None:
    from voiceguide.routine import load_builtin

    result = render(compile(load_builtin("lower-back-relax"), Options()), tmp_path / "l.mp3")
    integrated, peak = ebur128(tmp_path / "l.mp3")
    assert -17.0 <= integrated <= -15.0
    assert abs(result.lufs - result.target_lufs) < 0.1 and peak <= -0.5


def test_chapters_read_back_with_mutagen_in_order(session: dict) -> None:
    script: Script = session["result"].script
    tags = ID3(session["dir"] / "s.mp3")
    assert tags["TIT2"].text == [f"Short test session · {round(script.duration)} s"]
    assert tags["TPE1"].text == ["voiceguide"]
    assert tags["TALB"].text == ["Short test session"]
    comment = tags.getall("COMM")[0].text[0]
    assert "voice" in comment and "words a minute" in comment
    toc = tags.getall("CTOC")[0]
    chapters = [tags[f"CHAP:{eid}"] for eid in toc.child_element_ids]
    assert [c.sub_frames["TIT2"].text[0] for c in chapters] == [c.title for c in script.chapters]
    for frame, chapter in zip(chapters, script.chapters, strict=True):
        assert frame.start_time == round(chapter.start * 1000)
        assert frame.end_time == round(chapter.end * 1000)
    # in the file itself, chapter frames stand in session order (for players ignoring CTOC)
    in_file = [t for t in tags if t.startswith("CHAP:")]
    assert in_file == [f"CHAP:{eid}" for eid in toc.child_element_ids]


def test_ffmpeg_lists_the_chapters_in_order(session: dict) -> None:
    """ffmpeg ignores CTOC, as many players do: frame order is what it shows."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(session["dir"] / "s.mp3")],
        capture_output=True, text=True,
    )  # fmt: skip
    starts = [float(s) for s in re.findall(r"Chapter #0:\d+: start (\d+\.\d+)", proc.stderr)]
    assert len(starts) == len(session["result"].script.chapters)
    assert starts == sorted(starts)


def test_subtitles_and_script_match(session: dict) -> None:
    script: Script = session["result"].script
    vtt = (session["dir"] / "s.vtt").read_text().split("\n\n")
    assert vtt[0] == "WEBVTT"
    entries = [block.splitlines() for block in vtt[1:] if block.strip()]
    assert [e[1] for e in entries] == [c.text for c in script.cues]
    first = entries[0][0].split(" --> ")[0]
    h, m, s = first.split(":")
    assert abs(int(h) * 3600 + int(m) * 60 + float(s) - script.cues[0].at) < 0.001
    again = Script.from_dict(json.loads((session["dir"] / "s.json").read_text()))
    assert [c.at for c in again.cues] == pytest.approx([c.at for c in script.cues], abs=1e-3)


def test_render_cli_writes_the_default_file(runner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "short.yaml").write_text(ROUTINE)
    result = runner.invoke(main, ["render", "short.yaml", "--ambience", "rain", "--length", "1m30s",
                                  "--subtitles", "short.srt", "--mono"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote short.mp3" in result.output
    audio = decode(tmp_path / "short.mp3", channels=1)
    assert abs(len(audio) / RATE - 90) < 2.0
    assert (tmp_path / "short.srt").read_text().startswith("1\n00:00:")
    assert not list(tmp_path.glob(".*part*"))


def test_bad_output_and_bad_ambience_are_one_line(runner, tmp_path: Path) -> None:
    (tmp_path / "short.yaml").write_text(ROUTINE)
    bad_format = runner.invoke(main, ["render", str(tmp_path / "short.yaml"), "-o", "x.aiff"])
    assert bad_format.exit_code != 0 and "unsupported format" in bad_format.output
    bad_bed = runner.invoke(main, ["render", str(tmp_path / "short.yaml"), "-a", "waterfal",
                                   "-o", str(tmp_path / "x.mp3")])  # fmt: skip
    assert bad_bed.exit_code != 0
    assert len(bad_bed.output.strip().splitlines()) == 1 and "river" in bad_bed.output
    assert not (tmp_path / "x.mp3").exists()


def test_an_error_mid_render_leaves_the_existing_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "keep.mp3"
    target.write_bytes(b"precious")
    script = compile(loads(ROUTINE))

    def fail(stage: str, done: int, total: int) -> None:
        if stage == "mix" and done > total // 3:
            raise KeyboardInterrupt  # what Ctrl-C raises mid-encode

    with pytest.raises(KeyboardInterrupt):
        render(script, target, progress=fail)
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp3"]


def test_ctrl_c_on_a_real_render_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "long.yaml").write_text(ROUTINE.replace("duration: 25s", "duration: 40m"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voiceguide", "render", "long.yaml", "-q"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".long.mp3.*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.yaml"]


def test_write_text_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    write_text(target, "one")
    write_text(target, "two")
    assert target.read_text() == "two"
    assert oct(target.stat().st_mode & 0o777) != "0o600"


def test_many_chapters_stay_in_order_for_mutagen_and_ffmpeg(tmp_path: Path) -> None:
    """Past ten chapters, "ch10" must not sort before "ch2": check frame order in the file."""
    titles = [f"Step {'x' * (n * 7 % 23)} {n}" for n in range(25)]
    chapters = tuple(
        Chapter(title=t, start=n * 0.1, end=(n + 1) * 0.1) for n, t in enumerate(titles)
    )
    target = tmp_path / "c.mp3"
    encode([np.zeros((int(2.5 * RATE), 2), np.float32)], target, rate=RATE,
           tags=Tags(title="Order", album="Order"), chapters=chapters)  # fmt: skip
    tags = ID3(target)
    in_file = [tags[k].sub_frames["TIT2"].text[0] for k in tags if k.startswith("CHAP:")]
    assert in_file == titles
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(target)],
                          capture_output=True, text=True)  # fmt: skip
    listed = re.findall(r"Chapter #0:\d+: start (\d+\.\d+)", proc.stderr)
    assert [float(s) for s in listed] == pytest.approx([n * 0.1 for n in range(25)])


def test_a_broken_pipe_in_the_blocks_is_not_taken_for_ffmpeg_and_never_hangs(
    tmp_path: Path,
) -> None:
    """A progress line to a closed stdout raises BrokenPipeError inside the block loop:
    it must reach the caller at once, with ffmpeg stopped, not be taken for ffmpeg
    closing its pipe (ffmpeg would then wait forever for input)."""
    import threading

    read_end, write_end = os.pipe()
    os.close(read_end)  # a reader that went away, for real

    def blocks():
        yield np.zeros((RATE, 2), np.float32)
        os.write(write_end, b"50%\n")  # raises BrokenPipeError (SIGPIPE is ignored)
        yield np.zeros((RATE, 2), np.float32)

    raised: list[BaseException] = []

    def run() -> None:
        try:
            encode(blocks(), tmp_path / "p.mp3", rate=RATE, tags=Tags(title="P", album="P"))
        except BaseException as err:
            raised.append(err)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    os.close(write_end)
    assert not worker.is_alive(), "encode hung waiting on ffmpeg"
    assert len(raised) == 1 and isinstance(raised[0], BrokenPipeError), raised
    assert list(tmp_path.iterdir()) == []
