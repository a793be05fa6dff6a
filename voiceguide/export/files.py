"""Writing files whole or not at all, and which formats a file name asks for.

Nothing is written at the target path until it is complete: every output
goes to a temporary file beside it and is renamed into place, so an error or
Ctrl-C leaves an existing file untouched and no partial file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
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


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed onto it only if the block succeeds."""
    target = Path(target)
    folder = target.resolve().parent
    if not folder.is_dir():
        raise VoiceguideError(f"{target}: folder {folder} does not exist")
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=f".part{target.suffix}", dir=folder
        )
    except OSError as err:
        raise VoiceguideError(f"{target}: cannot write there ({err.strerror})") from None
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a session file is not a secret
    try:
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError as err:
            raise VoiceguideError(f"{target}: cannot write there ({err.strerror})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
