"""Renders stopped from outside, for real: SIGTERM unwinds like Ctrl-C; after SIGKILL
no child lives on and the next render into the folder sweeps the temps (never a live
render's)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.routines import SHORT

LONG = SHORT.replace("duration: 25s", "duration: 30m")


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for init to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _is_ffmpeg(pid: int) -> bool:
    try:
        return "ffmpeg" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _start(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "voiceguide", "render", *args, "-q"],
        cwd=folder, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1", **(env or {})},  # a hang dumps its stacks
    )  # fmt: skip


def _finish(proc: subprocess.Popen[str], seconds: float) -> str:
    """Its stderr once it exits; if it does not in time, its threads' stacks as the failure."""
    try:
        return proc.communicate(timeout=seconds)[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        raise AssertionError(f"still running after {seconds} s:\n{proc.communicate()[1]}") from None


def _wait_for_encoder(proc: subprocess.Popen[str]) -> list[int]:
    """Wait until the render is encoding (an ffmpeg child runs); its children then."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kids = _children(proc.pid)
        if any(_is_ffmpeg(k) for k in kids):
            time.sleep(0.3)  # some audio written
            return _children(proc.pid)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    raise AssertionError("the render never reached encoding")


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "long.yaml").write_text(LONG)
    for name, text in (("out.mp3", "old audio"), ("out.vtt", "old subs"), ("out.json", "{}")):
        (tmp_path / name).write_text(text)
    return tmp_path


def test_sigterm_is_handled_like_ctrl_c(folder: Path) -> None:
    proc = _start(folder, "long.yaml", "-o", "out.mp3", "--subtitles", "out.vtt",
                  "--script", "out.json")  # fmt: skip
    kids = _wait_for_encoder(proc)
    assert _temps(folder), "the render should be writing temps"
    proc.send_signal(signal.SIGTERM)
    err = _finish(proc, 60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == ["voiceguide: terminated"]
    assert _temps(folder) == []
    assert (folder / "out.mp3").read_text() == "old audio"
    assert (folder / "out.vtt").read_text() == "old subs"
    assert (folder / "out.json").read_text() == "{}"
    assert _gone_within(kids, 1.0) == []


def test_sigkill_leaves_no_children_and_the_next_render_sweeps_its_temps(folder: Path) -> None:
    live = _start(folder, "long.yaml", "-o", "live.mp3")
    killed = _start(folder, "long.yaml", "-o", "out.mp3", "--subtitles", "out.vtt")
    try:
        _wait_for_encoder(live)
        kids = _wait_for_encoder(killed)
        killed.kill()
        killed.wait(timeout=10)
        assert _gone_within(kids, 1.0) == [], "ffmpeg or a worker outlived its parent"
        left = [t for t in _temps(folder) if t.startswith((".out.", "..out."))]
        assert left, "SIGKILL leaves temps behind (the case being tested)"
        time.sleep(2.1)  # temps younger than 2 s are never swept
        (folder / "short.yaml").write_text(SHORT)
        done = subprocess.run(
            [sys.executable, "-m", "voiceguide", "render", "short.yaml", "-o", "short.wav",
             "-q", "--ambience", "none"], cwd=folder, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        remaining = _temps(folder)
        assert not any(t in remaining for t in left), remaining
        assert any(".live.mp3." in t for t in remaining), "a live render's temps were touched"
        assert (folder / "out.mp3").read_text() == "old audio"
    finally:
        live.kill()
        live.wait(timeout=10)


def _long_texts_routine(steps: int = 12) -> str:
    """Steps whose words take a neural voice seconds each to synthesize (one clip apiece)."""
    sentence = (
        "Keep your hands soft and your strokes slow, moving from the lower back up "
        "beside the spine towards the shoulders, then glide back down the sides. "
    )
    body = "".join(
        f"  - title: Step {i}\n    say: >\n      Round {i}. {sentence * 3}\n    duration: 2m\n"
        for i in range(steps)
    )
    return f"voiceguide: 1\ntitle: Long words\nsteps:\n{body}"


@pytest.mark.parametrize(
    ("how", "code", "line"),
    [("SIGTERM", 143, "voiceguide: terminated"), ("Ctrl-C", 130, "voiceguide: interrupted")],
)
def test_a_stop_during_speech_synthesis_exits_within_a_second(
    tmp_path: Path, how: str, code: int, line: str
) -> None:
    """A stop while the workers make long clips: killed at once, not waited for.

    Ctrl-C is SIGINT to the whole process group, as a terminal sends it (the
    workers get it too); SIGTERM goes to the render alone.
    """
    pytest.importorskip("piper")
    (tmp_path / "words.yaml").write_text(_long_texts_routine())
    (tmp_path / "out.mp3").write_text("old audio")
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [sys.executable, "-m", "voiceguide", "render", "words.yaml", "-o", "out.mp3", "-q",
         "--engine", "piper", "--ambience", "none"],
        cwd=tmp_path, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "VOICEGUIDE_CACHE_DIR": str(cache), "PYTHONFAULTHANDLER": "1"},
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while not list(cache.glob("clips/*/*.clip")):  # the first clip is made: mid-synthesis
        assert proc.poll() is None and time.monotonic() < deadline, "no clip was ever made"
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert workers, "speech workers should be running"
    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    sent = time.monotonic()
    err = _finish(proc, 60)
    took = time.monotonic() - sent
    assert proc.returncode == code, err
    assert err.strip().splitlines() == [line]
    assert took < 1.5, f"exit took {took:.2f} s after {how}"
    assert _gone_within(workers, 1.0) == []
    assert _temps(tmp_path) == []
    assert (tmp_path / "out.mp3").read_text() == "old audio"
    assert not list(cache.rglob("*.tmp")), "a half-written clip was left in the cache"


def test_sigkill_during_an_m4b_encode_leaves_only_temps_the_sweep_removes(folder: Path) -> None:
    """The M4B chapters (ffmpeg reads them during the encode) are left nowhere: not in the
    folder, not in the system temp folder (they come from a file without a name)."""
    from voiceguide.export.files import _TEMP_NAME

    system_temp = folder / "system-temp"
    system_temp.mkdir()
    before = set(os.listdir(folder))
    proc = _start(folder, "long.yaml", "-o", "book.m4b", env={"TMPDIR": str(system_temp)})
    try:
        deadline = time.monotonic() + 90
        while not any(p.stat().st_size > 0 for p in folder.glob(".book.m4b.*.part.m4b")):
            assert proc.poll() is None and time.monotonic() < deadline, "never encoded"
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    left = sorted(set(os.listdir(folder)) - before)
    assert left, "SIGKILL during the encode leaves the audio temp (the case being tested)"
    assert all(_TEMP_NAME.match(name) for name in left), left
    assert os.listdir(system_temp) == []


def test_say_stopped_by_sigterm_during_synthesis_exits_at_once(tmp_path: Path) -> None:
    """`say` of a long text (synthesized a few sentences at a time): SIGTERM while it speaks."""
    pytest.importorskip("piper")
    text = " ".join(f"Round {i}. Keep your hands soft and your strokes slow." for i in range(60))
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [sys.executable, "-m", "voiceguide", "say", text, "-o", "out.wav", "--engine", "piper"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "VOICEGUIDE_CACHE_DIR": str(cache), "PYTHONFAULTHANDLER": "1"},
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while not list(cache.glob("clips/*/*.clip")):  # the first piece is made: mid-synthesis
        assert proc.poll() is None and time.monotonic() < deadline, "no clip was ever made"
        time.sleep(0.05)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    err = _finish(proc, 60)
    took = time.monotonic() - sent
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == ["voiceguide: terminated"]
    assert took < 1.5, f"exit took {took:.2f} s after SIGTERM"
    assert _gone_within(workers, 1.0) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]
