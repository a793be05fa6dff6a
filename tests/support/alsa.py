"""A home folder whose default ALSA device is a file: what would reach the speakers."""

from __future__ import annotations

import os
from pathlib import Path


def alsa_home(tmp: Path) -> tuple[dict[str, str], Path]:
    """A HOME whose default ALSA device writes every stream to its own file."""
    capture = tmp / "capture"
    capture.mkdir(parents=True, exist_ok=True)
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / ".asoundrc").write_text(
        'pcm.!default { type file; slave.pcm "null"; '
        f'file "{capture}/out.raw"; format "raw"; truncate false }}\n'
    )
    # simpleaudio frees memory without the GIL: see voiceguide/entry.py
    return {**os.environ, "HOME": str(home), "PYTHONMALLOC": "malloc"}, capture
