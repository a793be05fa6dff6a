"""Speech gone altogether during play: the session stops with one line and a resume point,
instead of the bed playing on forever with nothing said (issue 14)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.alsa import alsa_home
from support.routines import SHORT


def _workers(parent: int) -> list[int]:
    """The speech worker processes of ``parent`` (found by their boot line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            if f"PPid:\t{parent}\n" in status and "worker_main" in (entry / "cmdline").read_text():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_speech_workers_that_keep_dying_stop_play_within_two_seconds_with_a_resume_point(
    tmp_path: Path,
) -> None:
    env, _ = alsa_home(tmp_path)
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["VOICEGUIDE_CACHE_DIR"] = str(tmp_path / "cache")  # cold: every cue needs a worker
    (tmp_path / "r.yaml").write_text(SHORT)
    proc = subprocess.Popen([sys.executable, "-m", "voiceguide", "play", "r.yaml"], cwd=tmp_path,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    first_kill = None
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            for pid in _workers(proc.pid):  # every worker, and every one started again
                try:
                    os.kill(pid, signal.SIGKILL)
                    first_kill = first_kill or time.monotonic()
                except OSError:
                    pass
            time.sleep(0.02)
        stopped = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=30)
    assert first_kill is not None, err
    assert proc.returncode == 1, err
    assert stopped - first_kill < 2.0, err
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert "speech stopped working" in lines[-1] and "play --resume" in lines[-1], err
    assert any((tmp_path / "state").rglob("*.json")), "no resume point saved"
