"""Issue 14: the audio and its side files are renamed into place as one transaction.

A rename that fails halfway (here: a folder appears where a side file goes, while the
render runs) puts back every file the commit had already replaced, and leaves no temp
and no kept copy. The old files a SIGKILL leaves mid-commit are recognised by the sweep.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.routines import SHORT

from voiceguide.compiler import Options, compile
from voiceguide.errors import VoiceguideError
from voiceguide.export import atomic_paths, sweep_stale_temps
from voiceguide.export.files import _TEMP_NAME
from voiceguide.render import FileOptions, render
from voiceguide.routine import loads


def _old_files(folder: Path) -> dict[str, str]:
    files = {"out.mp3": "old audio", "out.json": "old script"}
    for name, text in files.items():
        (folder / name).write_text(text)
    return files


def _listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_a_render_whose_last_rename_fails_puts_back_every_old_file(tmp_path: Path) -> None:
    """A real render with three outputs: the subtitles' place becomes a folder mid-render,
    so its rename (the last) fails after the audio and the script were already renamed."""
    old = _old_files(tmp_path)
    subtitles = tmp_path / "out.vtt"  # no file there before: none after

    def meanwhile(stage: str, done: int, total: int) -> None:
        if stage == "mix" and not subtitles.exists():
            subtitles.mkdir()
            (subtitles / "keep.txt").write_text("a folder the user made")

    script = compile(loads(SHORT), Options())
    files = FileOptions(subtitles=subtitles, script_json=tmp_path / "out.json")
    with pytest.raises(VoiceguideError, match=r"out\.vtt: cannot write there"):
        render(script, tmp_path / "out.mp3", files=files, progress=meanwhile)
    for name, text in old.items():
        assert (tmp_path / name).read_text() == text, name
    assert _listing(tmp_path) == ["out.json", "out.mp3", "out.vtt"]
    assert _listing(subtitles) == ["keep.txt"]


def _commit_with_a_folder_in_the_way(folder: Path) -> None:
    """a, b and c written together; c's place becomes a folder before the renames."""
    targets = [folder / name for name in ("a.txt", "b.txt", "c.txt")]
    with pytest.raises(VoiceguideError, match=r"c\.txt: cannot write there"):  # noqa: SIM117
        with atomic_paths(*targets) as temps:
            for temp in temps:
                temp.write_text("new")
            targets[-1].mkdir()


def test_a_failed_commit_removes_the_targets_that_did_not_exist(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old a")
    _commit_with_a_folder_in_the_way(tmp_path)
    assert (tmp_path / "a.txt").read_text() == "old a"
    assert _listing(tmp_path) == ["a.txt", "c.txt"]


def test_without_hard_links_the_old_files_are_set_aside_and_put_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FAT card or phone storage has no hard links: the old file is renamed aside instead.

    The missing hard links are a mock (no FAT file system can be made here); the failing
    rename is real.
    """

    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "a.txt").write_text("old a")
    (tmp_path / "b.txt").write_text("old b")
    _commit_with_a_folder_in_the_way(tmp_path)
    assert [(tmp_path / n).read_text() for n in ("a.txt", "b.txt")] == ["old a", "old b"]
    assert _listing(tmp_path) == ["a.txt", "b.txt", "c.txt"]
    with atomic_paths(tmp_path / "a.txt", tmp_path / "b.txt") as temps:
        for temp in temps:
            temp.write_text("new")
    assert [(tmp_path / n).read_text() for n in ("a.txt", "b.txt")] == ["new", "new"]
    assert _listing(tmp_path) == ["a.txt", "b.txt", "c.txt"]


KILLED_MID_COMMIT = """
import os, signal, sys
from pathlib import Path
from voiceguide.export import files
folder, linked = Path(sys.argv[1]), sys.argv[2] == "linked"
def no_links(*args, **kwargs):
    raise PermissionError(1, "Operation not permitted")
if not linked:
    os.link = no_links  # a file system without hard links: the old file is renamed aside
kept = files._Kept.beside(folder / "out.mp3")
kept.set_aside()
print(kept.path.name, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # between setting the old file aside and the new one's rename
"""


@pytest.mark.parametrize("linked", [True, False], ids=["hard-link", "renamed-aside"])
def test_the_sweep_clears_what_a_sigkill_mid_commit_leaves(tmp_path: Path, linked: bool) -> None:
    """The old file is never lost: a copy beside a target is removed, an old file whose
    target is missing (renamed aside, then killed) goes back in its place."""
    (tmp_path / "out.mp3").write_text("old audio")
    an_hour_ago = time.time() - 3600
    os.utime(tmp_path / "out.mp3", (an_hour_ago, an_hour_ago))
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_MID_COMMIT, str(tmp_path), "linked" if linked else "aside"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    kept = proc.stdout.strip()
    assert _TEMP_NAME.match(kept), kept
    assert (kept in _listing(tmp_path)) and (("out.mp3" in _listing(tmp_path)) == linked)
    assert [p.name for p in sweep_stale_temps(tmp_path)] == [kept]
    assert _listing(tmp_path) == ["out.mp3"]
    assert (tmp_path / "out.mp3").read_text() == "old audio"


def test_a_live_commits_kept_copy_is_never_swept(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old a")
    an_hour_ago = time.time() - 3600
    os.utime(tmp_path / "a.txt", (an_hour_ago, an_hour_ago))
    from voiceguide.export import files

    kept = files._Kept.beside(tmp_path / "a.txt")
    assert kept is not None
    try:
        assert sweep_stale_temps(tmp_path) == []
        assert kept.path.exists()
    finally:
        kept.discard()
    assert _listing(tmp_path) == ["a.txt"]
