"""A warning raised during live play appears on the screen's own lines, not over the frame."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from support.alsa import alsa_home
from support.routines import TWO_SIDED
from test_play_terminal import Tmux, wait_file

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def test_an_unusable_cache_warns_on_the_live_screen_and_after_it(tmp_path: Path) -> None:
    env, _ = alsa_home(tmp_path)
    env.pop("PYTHONMALLOC")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["TERM"] = "xterm-256color"
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    env["VOICEGUIDE_CACHE_DIR"] = str(blocked)
    (tmp_path / "r.yaml").write_text(TWO_SIDED)
    tmux = Tmux(tmp_path, env)
    vg = f"{sys.executable} -m voiceguide play r.yaml --ambience none"
    tmux.start(f"cd {tmp_path} && {vg} 2> err.txt; echo $? > code.txt; sleep 60", 100, 30)
    try:
        screen = tmux.wait_for(lambda s: "Step 1 of 3" in s and "speech cache" in s)
        line = next(x for x in screen.splitlines() if "speech cache" in x)
        assert line.strip().startswith("warning: the speech cache"), screen
        assert not (tmp_path / "err.txt").read_text(), "printed to stderr over the live screen"
        tmux("send-keys", "-t", "t", "q")
        wait_file(tmp_path / "code.txt")
        err = (tmp_path / "err.txt").read_text().splitlines()
        warned = [x for x in err if x.startswith("voiceguide: warning: the speech cache")]
        assert len(warned) == 1, err  # once, after the screen, for the scroll-back
    finally:
        tmux.kill()
