"""Where voiceguide keeps things on this machine (each overridable for tests and packagers)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    """``$VOICEGUIDE_CACHE_DIR`` or the platform's user cache folder: clips and decoded beds."""
    env = os.environ.get("VOICEGUIDE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("voiceguide"))


def data_dir() -> Path:
    """``$VOICEGUIDE_DATA_DIR`` or the platform's user data folder: installed voices."""
    env = os.environ.get("VOICEGUIDE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("voiceguide"))


def replace_file(path: Path, data: bytes, *, prefix: str = ".", durable: bool = False) -> None:
    """Write ``data`` to a temp beside ``path`` and rename it over ``path``.

    A reader (another session, a second render) sees the old file or the new one, never half of
    one. ``durable`` also syncs the data before the rename, for state a power cut must not eat.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
