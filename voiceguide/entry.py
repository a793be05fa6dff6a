"""The console entry point: kept tiny so it can act before anything heavy is imported."""

from __future__ import annotations

import contextlib
import os
import sys


def run() -> None:
    from voiceguide.cli import main

    main(prog_name="voiceguide")  # help and errors say `voiceguide play`, not `python -m …`


def reexec_for_simpleaudio() -> None:
    """Start ``voiceguide play`` again with PYTHONMALLOC=malloc, forced onto simpleaudio.

    Only the fallback sink needs it: simpleaudio 1.0.4 frees each finished
    stream's bookkeeping with PyMem_Free from its own playback thread without
    holding the GIL. Python's default small-object allocator is not
    thread-safe, so with a new stream every 0.2 s that corrupts memory now and
    then (measured here: a crash in 1 of 10 runs of 6 000 streams; none in 35
    runs with libc malloc, which is thread-safe). The one stream needs none of
    this (its callback holds the GIL), so it is done only once the stream could
    not be opened, before anything has played.
    """
    if os.environ.get("PYTHONMALLOC") == "malloc":
        return
    env = {**os.environ, "PYTHONMALLOC": "malloc", "VOICEGUIDE_SINK": "simpleaudio"}
    sys.stdout.flush()
    sys.stderr.flush()
    with contextlib.suppress(OSError):  # if it fails, play on with the default allocator
        os.execve(sys.executable, [sys.executable, "-m", "voiceguide", *sys.argv[1:]], env)
