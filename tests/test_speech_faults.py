"""Speech under faults a real machine has: an unusable cache, a dead worker, a full cache."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from voiceguide.cli import main
from voiceguide.speech import ClipCache, Speaker, VoiceSettings

ESPEAK = VoiceSettings(engine="pyttsx3")


def test_a_cache_path_that_is_a_file_gives_one_warning_and_speech_goes_on(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    warnings: list[str] = []
    with Speaker(ESPEAK, cache_dir=blocker, workers=1, warn=warnings.append) as s:
        clips = s.clips(["Breathe in.", "Breathe out."])
        temp = s.cache.root
        assert temp != blocker and temp.is_dir()
    assert all(c.duration > 0.3 for c in clips.values())
    assert len(warnings) == 1 and "cannot be used" in warnings[0] and str(blocker) in warnings[0]
    assert not temp.exists()  # the temporary folder goes with the speaker
    assert blocker.read_text() == "not a folder"


def test_render_with_an_unusable_cache_warns_once_and_writes(
    runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("")
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(blocker))
    routine = tmp_path / "r.yaml"
    routine.write_text(
        "voiceguide: 1\ntitle: Short\nsteps:\n"
        "  - title: Warm the oil\n    say: Rub a little oil between your palms.\n"
        "    duration: 20s\n"
    )
    out = tmp_path / "s.wav"
    result = runner.invoke(main, ["render", str(routine), "-o", str(out), "-q",
                                  "--ambience", "none"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 44_100
    assert result.output.count("warning: the speech cache") == 1


def test_least_recently_used_clips_are_evicted_first(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, limit_mb=0.5)  # each clip below is 0.2 MB: room for two
    clip = np.zeros(44_100, np.float32)  # 1 s
    keys = [f"{i:02d}" * 32 for i in range(4)]
    for age, key in enumerate(keys):
        path = cache.store(key, clip)
        os.utime(path, (time.time() - 100 + age, time.time() - 100 + age))
    assert cache.load(keys[0]) is not None  # used just now: the newest
    assert cache.evict() == 2
    assert [cache.load(k) is not None for k in keys] == [True, False, False, True]
    info = cache.info()
    assert info["entries"] == 2 and info["bytes"] <= info["limit_bytes"]


def test_cache_info_shows_use_and_limit(runner, tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[cache]\nmax_mb = 50\n")
    monkeypatch.setenv("VOICEGUIDE_CONFIG", str(config))
    result = runner.invoke(main, ["cache", "info"])
    assert result.exit_code == 0
    assert "of 50 MB" in result.output
    config.write_text("[cache]\nmax_mb = 0\n")
    result = runner.invoke(main, ["cache", "info"])
    assert result.exit_code == 2 and "[cache] max_mb" in result.output


def test_a_worker_that_dies_is_restarted_once(tmp_path: Path) -> None:
    with Speaker(ESPEAK, cache_dir=tmp_path, workers=1) as s:
        s.clip("One.")
        worker = s._pool._all[0]
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
        clip = s.clip("Two.")  # said by a fresh worker, not an error
        assert clip.duration > 0.2
        assert s._pool.restarts == 1


def test_speech_workers_leave_no_scratch_files_killed_or_closed(tmp_path: Path) -> None:
    """espeak writes each phrase to a WAV in a scratch folder; a worker that is killed
    (a hang, the user's Ctrl-C) cannot remove it, so its parent does. Before, every
    session left a /tmp/voiceguide-* folder behind (636 of them after a day of tests)."""
    with Speaker(ESPEAK, cache_dir=tmp_path, workers=2) as s:
        s.clips(["One.", "Two."])
        first, second = s._pool._all
        assert Path(first.scratch, "phrase.wav").is_file() or Path(second.scratch).is_dir()
        os.kill(first.proc.pid, signal.SIGKILL)  # dies mid-session: replaced on next use
        first.proc.wait()
        s.clips(["Three.", "Four.", "Five."])
        assert not Path(first.scratch).exists()  # swept when the dead worker was replaced
        fresh = [w for w in s._pool._all if w is not first]
        s._pool.abort()  # Ctrl-C: every worker killed mid-clip
    for worker in fresh:
        assert worker.proc.returncode is not None and not Path(worker.scratch).exists()
    with Speaker(ESPEAK, cache_dir=tmp_path, workers=1) as s:
        s.clip("Six.")
        worker = s._pool._all[0]
    assert worker.proc.returncode == 0 and not Path(worker.scratch).exists()  # closed politely


PARENT_EXITS = """
import os, sys
from pathlib import Path
from voiceguide.speech import Speaker, VoiceSettings
s = Speaker(VoiceSettings(engine="pyttsx3"), cache_dir=Path(sys.argv[1]), workers=1)
s.clip("One.")
print(s._pool._all[0].scratch, flush=True)
os._exit(0)  # no close: the worker's stdin ends, or it sees its parent gone
"""


def test_a_worker_whose_parent_exits_without_closing_removes_its_scratch(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", PARENT_EXITS, str(tmp_path)], check=True,
                         capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    scratch = Path(out.strip().splitlines()[-1])
    deadline = time.monotonic() + 5
    while scratch.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not scratch.exists()


def test_a_long_text_is_spoken_in_pieces(tmp_path: Path) -> None:
    from voiceguide.speech.speaker import LONG_TEXT, _sentence_groups

    words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    text = " ".join(f"Stroke {w} {v}, warm and heavy, on the lower back." for v in words[:3]
                    for w in words)  # fmt: skip
    pieces = _sentence_groups(text)
    assert len(pieces) > 1 and all(len(p) <= LONG_TEXT for p in pieces)
    assert " ".join(pieces) == text
    with Speaker(ESPEAK, cache_dir=tmp_path, workers=2) as s:
        clip = s.clip(text)
        assert s.engine_calls == len(set(pieces))
    assert clip.duration > 30 * 2.5  # every sentence said


def test_validate_catches_text_the_voice_cannot_read(runner, tmp_path: Path) -> None:
    routine = tmp_path / "r.yaml"
    routine.write_text(
        "voiceguide: 1\ntitle: Mixed\nsteps:\n"
        "  - title: Warm the oil\n    say: Rub a little oil between your palms.\n"
        "    duration: 20s\n"
        "  - title: Glide\n    say: Скользите ладонями вверх по спине.\n"
        "    duration: 30s\n"
    )
    result = runner.invoke(main, ["validate", str(routine)])
    assert result.exit_code == 2
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(f"{routine}:7:") and "steps[1] (Glide)" in line
    assert "cannot read Cyrillic text" in line
    result = runner.invoke(main, ["show", str(routine)])
    assert result.exit_code != 0 and "cannot read Cyrillic text" in result.output
