"""Stopping cleanly: SIGTERM taken like Ctrl-C, and child processes that die with us.

A render is killed politely (SIGTERM from a service manager or ``timeout``)
or not at all (SIGKILL, a crash). Politely, it unwinds like Ctrl-C, so every
``finally`` removes its temporary files and stops its children. Not at all,
nothing of ours runs: the children are told by the kernel (ffmpeg through
``PR_SET_PDEATHSIG``) or notice by themselves (speech workers watch their
parent), and the temporary files are swept by the next write into that
folder (:func:`voiceguide.export.sweep_stale_temps`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: pipes keep their size
    fcntl = None  # type: ignore[assignment]

_PR_SET_PDEATHSIG = 1
#: A child's output pipe, in bytes: the most Linux gives an unprivileged process by default.
PIPE_BYTES = 1 << 20


def widen_pipe(pipe: IO[bytes]) -> None:
    """Give a pipe to or from a child 1 MB instead of Linux's 64 KB, where the system allows.

    ffmpeg decodes 64 KB of a bed in well under a millisecond and then waits
    for us to read; every read needs the GIL, which a busy main thread holds
    for up to 5 ms at a time. With a wider pipe, ffmpeg decodes the opening
    seconds in a few large pieces instead of fifty small ones, and the first
    live sound, which waits for them, comes that much sooner. The other way, an
    encoder fed through 64 KB waits whenever the mixer makes a slow block.
    """
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if setsize is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe.fileno(), setsize, PIPE_BYTES)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so it unwinds like Ctrl-C (exit 143)."""

    exit_code = 128 + signal.SIGTERM


@contextlib.contextmanager
def terminate_like_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` in the main thread.

    Scoped, not process-wide: commands with their own SIGTERM handling (play
    saves the spot, serve lets uvicorn shut down) keep theirs, and a library
    caller gets its own handler back afterwards.
    """

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc() if sys.platform.startswith("linux") else None


def child_dies_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when this process dies.

    Only from the main thread: the kernel ties the signal to the thread that
    forked, and a helper thread ending would kill a healthy child. Elsewhere
    children rely on their pipes (ffmpeg stops at end of input or a broken
    pipe) and on :func:`watch_parent`.
    """
    if _LIBC is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def arm() -> None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)

    return arm


def watch_parent(interval: float = 0.2, last: Callable[[], None] | None = None) -> None:
    """In a child process: exit at once when the process that started it is gone.

    For Python children (speech workers) that may be started from any
    thread: a daemon thread polls the parent pid, which becomes another
    process's (init's or a subreaper's) when the parent dies. ``last`` runs
    just before (removing what only the parent would have removed).
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        if last is not None:
            with contextlib.suppress(Exception):
                last()
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
