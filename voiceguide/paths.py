"""Where voiceguide keeps things on this machine (each overridable for tests and packagers)."""

from __future__ import annotations

import os
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
