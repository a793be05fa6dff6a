"""``voiceguide play`` on a real terminal (tmux): the screen at three sizes, clicker keys,
pause, and SIGTERM / SIGHUP / a closed terminal leaving the terminal as it was and a
resume point that brings every option back (issues 9 and 14)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.alsa import alsa_home
from support.routines import TWO_SIDED

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Tmux:
    """A private tmux server (its own socket) running one command in a pane."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.socket = str(tmp / "tmux.sock")
        self.env = env

    def __call__(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-S", self.socket, *args], env=self.env, check=True,
                             capture_output=True, text=True, timeout=20)  # fmt: skip
        return out.stdout

    def start(self, command: str, width: int, height: int) -> None:
        for _ in range(20):  # a server just killed can still hold the socket for a moment
            try:
                self("-f", "/dev/null", "new-session", "-d", "-x", str(width), "-y", str(height),
                     "-s", "t", command)  # fmt: skip
                break
            except subprocess.CalledProcessError:
                time.sleep(0.25)
        else:
            raise AssertionError("tmux would not start a session")
        self("set-option", "-g", "remain-on-exit", "on")
        self("set-option", "-g", "status", "off")

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "t")

    def wait_for(self, test: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if test(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out; the screen was:\n{text}")

    def state(self) -> tuple[str, str]:
        """(alternate screen on?, cursor shown?) of the pane, as tmux tracks them."""
        out = self("display-message", "-p", "-t", "t", "#{alternate_on} #{cursor_flag}").split()
        return out[0], out[1]

    def player_pid(self) -> int:
        shell = int(self("display-message", "-p", "-t", "t", "#{pane_pid}").strip())
        for _ in range(100):
            found = subprocess.run(["pgrep", "-P", str(shell)], capture_output=True, text=True)
            if found.stdout.strip():
                return int(found.stdout.split()[0])
            time.sleep(0.1)
        raise AssertionError("voiceguide did not start")

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], env=self.env,
                       capture_output=True, timeout=20)  # fmt: skip


@pytest.fixture
def term(tmp_path: Path) -> Iterator[tuple[Tmux, Path, dict[str, str]]]:
    env, _ = alsa_home(tmp_path)
    env.pop("PYTHONMALLOC")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # resume points of this test only
    env["TERM"] = "xterm-256color"
    (tmp_path / "r.yaml").write_text(TWO_SIDED)
    tmux = Tmux(tmp_path, env)
    yield tmux, tmp_path, env
    tmux.kill()


def play_in_pane(tmp: Path, args: str) -> str:
    """A shell line: terminal settings before, voiceguide, exit code and settings after."""
    vg = f"{sys.executable} -m voiceguide play {args}"
    return (f"cd {tmp} && stty -a > before.txt && {vg}; echo $? > code.txt; "
            "stty -a > after.txt; sleep 60")  # fmt: skip  # alive: a dead pane shows no cursor


def wait_file(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.1)
    raise AssertionError(f"{path} never appeared")


def modes(stty: Path) -> str:
    """``stty -a`` without its first line (the size, which the test changes on purpose)."""
    text = stty.read_text()
    assert " echo " in f" {text} " or "-echo" in text
    return text.split("\n", 1)[1]


def status(screen: str) -> str:
    """The last line on the screen: the plain-words status line."""
    lines = [line for line in screen.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def points(tmp: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (tmp / "state").rglob("resume/*.json")]


def test_screen_keys_and_sigterm_then_resume_with_every_option(term) -> None:  # type: ignore[no-untyped-def]
    tmux, tmp, env = term
    options = "--pace 0.9 --bed-volume -20 --rate 160 --detail minimal --ambience rain"
    tmux.start(play_in_pane(tmp, f"r.yaml {options}"), 100, 30)
    big = tmux.wait_for(lambda s: "Step 1 of 3" in s)
    assert "█" in big or "▀" in big  # the title in large type
    assert tmux.state() == ("1", "0")  # alternate screen, cursor hidden
    tmux("send-keys", "-t", "t", "NPage")  # a clicker's "next"
    tmux.wait_for(lambda s: "Step 2 of 3 · LEFT SIDE" in s)
    tmux("send-keys", "-t", "t", "Right")  # next moves by side first
    screen = tmux.wait_for(lambda s: "Step 2 of 3 · RIGHT SIDE" in s)
    assert "Kneading" in screen.splitlines()[-1]  # the status line, in plain words
    tmux("send-keys", "-t", "t", "+", "Up")  # 30 s more, louder: both must come back
    tmux.wait_for(lambda s: "volume +3 dB" in s)
    tmux("send-keys", "-t", "t", "b")  # the clicker's blank key pauses
    paused = tmux.wait_for(lambda s: "space to resume" in s)
    assert sum("█" in line for line in paused.splitlines()) >= 5  # PAUSED fills the screen
    for width, height in ((80, 24), (40, 12)):
        tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))
        tmux("send-keys", "-t", "t", "space")  # playing again, at the new size
        screen = tmux.wait_for(lambda s: status(s).startswith("Step 2 of 3, RIGHT SIDE"))
        lines = screen.splitlines()
        assert len(lines) <= height
        assert all(len(line) <= width for line in lines)
        assert any("█" in line or "▀" in line for line in lines)  # still large at 40x12
        title = tmux("display-message", "-p", "-t", "t", "#{pane_title}")
        assert "RIGHT SIDE" in title and "Kneading" in title  # the whole status, uncut
        tmux("send-keys", "-t", "t", "b")
        tmux.wait_for(lambda s: status(s).startswith("PAUSED"))
    os.kill(tmux.player_pid(), 15)
    assert wait_file(tmp / "code.txt").strip() == "143"
    wait_file(tmp / "after.txt")
    assert tmux.state() == ("0", "1")  # main screen back, cursor shown
    assert modes(tmp / "after.txt") == modes(tmp / "before.txt")  # echo, icanon, ...
    [point] = points(tmp)
    assert point["step_title"] == "Kneading" and point["side"] == "right"
    assert point["extra"] == 30 and point["volume_db"] == 3
    saved = point["options"]
    assert (saved["pace"], saved["bed_volume"], saved["rate"]) == (0.9, -20, 160)
    assert (saved["detail"], saved["ambience"]) == ("minimal", "rain")

    resumed = subprocess.Popen(
        [sys.executable, "-m", "voiceguide", "play", "--resume"], cwd=tmp,
        env={**env, "VOICEGUIDE_PLAY_CLOCK": "virtual"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        first = resumed.stdout.readline() if resumed.stdout else ""
        resumed.terminate()  # SIGTERM again: the point is saved again, in place
        _, err = resumed.communicate(timeout=60)
    finally:
        resumed.kill()
    assert "Step 2 of 3, RIGHT SIDE" in first and "Kneading" in first, (first, err)
    assert resumed.returncode == 143 and "stopped by SIGTERM" in err
    [again] = points(tmp)
    assert again["options"] == point["options"] and again["volume_db"] == 3


def test_sighup_and_a_closed_terminal_save_the_spot_and_restore_the_terminal(term) -> None:  # type: ignore[no-untyped-def]
    tmux, tmp, _ = term
    tmux.start(play_in_pane(tmp, "r.yaml --from 2"), 80, 24)
    tmux.wait_for(lambda s: "LEFT SIDE" in s)
    os.kill(tmux.player_pid(), 1)
    assert wait_file(tmp / "code.txt").strip() == "129"
    wait_file(tmp / "after.txt")
    assert tmux.state() == ("0", "1")
    assert modes(tmp / "after.txt") == modes(tmp / "before.txt")
    assert [p["step_title"] for p in points(tmp)] == ["Kneading"]
    tmux.kill()
    for path in (*tmp.glob("*.txt"), *(tmp / "state").rglob("*.json")):
        path.unlink()

    tmux.start(play_in_pane(tmp, "r.yaml"), 80, 24)  # the terminal window closed
    tmux.wait_for(lambda s: "Warm up" in s or "WARM" in s or "Step 1 of 3" in s)
    pid = tmux.player_pid()
    tmux("kill-server")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists()
    assert [p["step_title"] for p in points(tmp)] == ["Warm up"]


def test_dumb_terminal_gets_plain_lines(tmp_path: Path) -> None:
    env, _ = alsa_home(tmp_path)
    env.update(TERM="dumb", VOICEGUIDE_PLAY_CLOCK="virtual", XDG_STATE_HOME=str(tmp_path / "s"))
    (tmp_path / "r.yaml").write_text(TWO_SIDED)
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "voiceguide", "play", "r.yaml",
                                   "--from", "3"], env)  # fmt: skip
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert "Circles" in text and "session complete" in text
    assert "\x1b" not in text  # no escape codes at all on a dumb terminal
