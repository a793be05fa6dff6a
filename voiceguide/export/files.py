"""Writing files whole or not at all, and which formats a file name asks for.

Nothing is written at the target path until it is complete: every output
goes to a temporary file beside it and is renamed into place, so an error or
Ctrl-C leaves an existing file untouched and no partial file behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import stat
import string
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from voiceguide.errors import AudioError, VoiceguideError

#: File name suffix -> format. ``.m4a`` is the same container as ``.m4b``
#: (AAC in MP4 with chapters); players sort them into music or audiobooks.
FORMATS = {
    ".mp3": "mp3",
    ".m4b": "m4b",
    ".m4a": "m4b",
    ".opus": "opus",
    ".ogg": "ogg",
    ".oga": "ogg",
    ".flac": "flac",
    ".wav": "wav",
}
LOSSY = frozenset({"mp3", "m4b", "opus", "ogg"})


def format_of(path: Path) -> str:
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise AudioError(f"{path}: unsupported format {Path(path).suffix!r} (use {known})")
    return fmt


#: Our temporary files: ``.NAME.XXXXXXXX.part.EXT`` (and ``….audio`` beside an MP3's,
#: ``….keep`` for the old file a commit holds until every output is in place).
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.part(\.[A-Za-z0-9]+)?(\.audio|\.keep)?$")
_KEEP = ".keep"
_KEPT_NAME = re.compile(r"^\.(.+)\.[A-Za-z0-9_]{8}\.part(\.[A-Za-z0-9]+)?\.keep$")
#: A temp younger than this may be between its creation and its lock: never swept.
_SWEEP_MIN_AGE = 2.0


@dataclass
class _Temp:
    """A temporary file held under an exclusive ``flock`` for as long as we write it.

    The lock is what tells a live render's temps from a killed one's: the
    kernel drops it when the process dies, however it dies.
    """

    path: Path
    fd: int

    @classmethod
    def beside(cls, target: Path, suffix: str = "") -> _Temp:
        folder = target.parent
        try:
            fd, name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=f".part{target.suffix}{suffix}", dir=folder
            )
        except OSError as err:
            raise VoiceguideError(f"{target}: cannot write there ({err.strerror})") from None
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a session file is not a secret
        return cls(Path(name), fd)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def real_target(target: Path) -> Path:
    """Where writing ``target`` should land: through a symlink, the file it points to."""
    target = Path(target)
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def sweep_stale_temps(folder: Path) -> list[Path]:
    """Remove temps of our naming in ``folder`` left by a killed process; return them.

    A temp is stale when nobody holds its lock. Anything else (a live render's
    temps, other programs' files, symlinks, very young files) is left alone.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not _TEMP_NAME.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            if not entry.is_file(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < _SWEEP_MIN_AGE:
                continue
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its writer lives
                if os.fstat(fd).st_ino == os.stat(entry.path, follow_symlinks=False).st_ino:
                    _clear(Path(entry.path))
                    removed.append(Path(entry.path))
            finally:
                os.close(fd)
    return removed


def _clear(path: Path) -> None:
    """Remove a stale temp; an old file a killed commit had set aside goes back in its place
    if nothing took that place (else the commit got that far, and the old file is not needed)."""
    kept = _KEPT_NAME.match(path.name)
    target = path.with_name(kept.group(1)) if kept else None
    if target is not None and not os.path.lexists(target):
        os.rename(path, target)
    else:
        os.unlink(path)


@contextlib.contextmanager
def atomic_paths(*targets: Path) -> Iterator[list[Path]]:
    """Temporary paths beside ``targets``, renamed onto them together if the block succeeds.

    Every temp is made before the block runs, so a folder that cannot be
    written fails before any work; if anything fails, every temp is removed
    and every existing target is left as it was.
    """
    reals = [real_target(t) for t in targets]
    for shown, real in zip(targets, reals, strict=True):
        if not real.resolve().parent.is_dir():
            raise VoiceguideError(f"{shown}: folder {real.resolve().parent} does not exist")
    for folder in dict.fromkeys(real.resolve().parent for real in reals):
        sweep_stale_temps(folder)
    temps: list[_Temp] = []
    try:
        for real in reals:
            temps.append(_Temp.beside(real))
        yield [temp.path for temp in temps]
        _commit(targets, reals, [temp.path for temp in temps])
    except BaseException:
        for temp in temps:
            temp.discard()
        raise
    finally:
        for temp in temps:
            temp.close()


def _commit(shown: Sequence[Path], reals: Sequence[Path], temps: Sequence[Path]) -> None:
    """Rename every temp onto its target, all or none.

    Each existing target is first kept under a locked ``.keep`` name beside it
    (a hard link, so the target never goes missing). If any rename fails (or
    Ctrl-C comes between two), the targets already replaced get their old file
    back, or are removed if there was none, and the error names the file that
    failed. Either way no ``.keep`` is left; one a SIGKILL leaves is unlocked,
    and the next sweep of the folder clears it (:func:`sweep_stale_temps`).
    """
    kept: list[_Kept | None] = []
    done = 0
    try:
        kept.extend(_Kept.beside(real) for real in reals)
        for target, real, temp, keep in zip(shown, reals, temps, kept, strict=True):
            try:
                if keep is not None:
                    keep.set_aside()
                os.replace(temp, real)
            except OSError as err:
                raise VoiceguideError(f"{target}: cannot write there ({err.strerror})") from None
            done += 1
    except BaseException:
        _roll_back(reals, kept, done)
        raise
    finally:
        for keep in kept:
            if keep is not None:
                keep.discard()


def _roll_back(reals: Sequence[Path], kept: Sequence[_Kept | None], done: int) -> None:
    """Put back what the first ``done`` targets held before the commit (and the next one,
    if it was renamed aside when its own rename failed)."""
    if done < len(kept) and kept[done] is not None:
        with contextlib.suppress(OSError):
            kept[done].put_back(only_if_aside=True)  # type: ignore[union-attr]
    for real, keep in reversed(list(zip(reals[:done], kept[:done], strict=True))):
        with contextlib.suppress(OSError):
            if keep is None:
                os.unlink(real)  # there was no file: there is none again
            else:
                keep.put_back()


@dataclass
class _Kept:
    """An existing target's old file, kept beside it under a locked temp name during a commit.

    A hard link keeps the target in place meanwhile; where the file system has
    none (FAT on a phone or a card), the target is renamed aside just before its
    replacement arrives instead.
    """

    target: Path
    path: Path
    fd: int
    #: "linked": a second name of the target; "unmade": nothing at path yet; "aside": the
    #: old file's only name; "restored": back at the target; "stuck": could not be put back
    #: (left for the sweep, which restores it if the target is missing)
    state: str

    @classmethod
    def beside(cls, target: Path) -> _Kept | None:
        if not os.path.lexists(target):
            return None
        if not stat.S_ISREG(os.stat(target, follow_symlinks=False).st_mode):
            return None  # a folder or a device is never replaced: its rename fails, untouched
        fd = _locked(target)  # the lock comes with the inode: the new name is locked at birth
        for _ in range(100):
            name = target.parent / f".{target.name}.{_random_tag()}.part{target.suffix}{_KEEP}"
            try:
                os.link(target, name, follow_symlinks=False)
            except FileExistsError:
                continue
            except OSError:  # no hard links here: renamed aside at the last moment
                return cls(target, name, fd, "unmade")
            return cls(target, name, fd, "linked")
        if fd >= 0:
            os.close(fd)
        raise VoiceguideError(f"{target}: cannot write there (no free temporary name)")

    def set_aside(self) -> None:
        if self.state == "unmade":
            os.replace(self.target, self.path)
            self.state = "aside"

    def put_back(self, only_if_aside: bool = False) -> None:
        if self.state == "aside" or (self.state == "linked" and not only_if_aside):
            try:
                os.replace(self.path, self.target)
            except OSError:
                self.state = "stuck"
                raise
            self.state = "restored"

    def discard(self) -> None:
        if self.state in ("linked", "aside"):
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _random_tag() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(8))


def _locked(path: Path) -> int:
    """An fd holding ``flock`` on the file, so a sweep meanwhile leaves its other names
    alone (-1 if it cannot be opened: then no sweep can open it either)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return -1
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed onto it only if the block succeeds."""
    with atomic_paths(target) as (tmp,):
        yield tmp


def unused_name(path: Path) -> Path:
    """``path``, or ``stem-2.ext``, ``stem-3.ext``…: the first name nothing has yet.

    For files the user did not name (a fallback ``say.wav``): those never
    replace anything.
    """
    candidate, n = Path(path), 1
    while os.path.lexists(candidate):
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def refuse_overlaps(outputs: Mapping[str, Path | None], inputs: Mapping[str, Path | None]) -> None:
    """Refuse, before any work, an output that is an input or another output.

    Files are compared as the system sees them (device and inode, so a
    symlink or hard link to the routine counts); outputs that do not exist
    yet by their real paths.
    """
    seen: dict[tuple[object, ...], str] = {}
    for label, path in inputs.items():
        if path is not None and Path(path).exists():
            seen.setdefault(_identity(Path(path)), label)
    for label, path in outputs.items():
        if path is None:
            continue
        key = _identity(Path(path))
        if key in seen:
            raise VoiceguideError(
                f"{path}: the {label} would overwrite the {seen[key]}; name another file"
            )
        seen[key] = label


def _identity(path: Path) -> tuple[object, ...]:
    try:
        info = path.stat()
    except OSError:
        return ("path", os.path.realpath(path))
    return ("inode", info.st_dev, info.st_ino)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        write_into(tmp, text, shown=target)


def write_into(tmp: Path, text: str, shown: Path) -> None:
    """Text into an open temp; a full disk is one line naming the file meant."""
    try:
        tmp.write_text(text, encoding="utf-8")
    except OSError as err:
        raise VoiceguideError(f"{shown}: cannot write ({err.strerror})") from None
