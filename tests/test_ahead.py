"""Items made ahead in an idle thread: order, errors, early stops, and a starved thread."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from voiceguide.ahead import ahead

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling only")


def _made(log: list[tuple[int, int]], count: int, work: float = 0.0) -> Iterator[int]:
    for n in range(count):
        until = time.thread_time() + work
        while time.thread_time() < until:  # CPU, not sleep: a starved thread gets none
            pass
        log.append((threading.get_ident(), os.sched_getscheduler(0)))
        yield n


def _ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "voiceguide-ahead"]


def test_items_come_in_order_made_by_an_idle_thread() -> None:
    log: list[tuple[int, int]] = []
    assert list(ahead(_made(log, 50))) == list(range(50))
    assert {policy for _, policy in log} == {os.SCHED_IDLE}
    assert threading.get_ident() not in {ident for ident, _ in log}
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the caller's thread is untouched


def test_an_error_while_making_reaches_the_caller_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield from range(3)
        raise ValueError("a bad block")

    got: list[int] = []
    with pytest.raises(ValueError, match="a bad block"):
        for item in ahead(failing()):
            got.append(item)
    assert got == [0, 1, 2]


def test_a_caller_that_stops_early_ends_the_thread() -> None:
    log: list[tuple[int, int]] = []
    items = ahead(_made(log, 10_000))
    assert [next(items), next(items)] == [0, 1]
    items.close()
    deadline = time.monotonic() + 2
    while _ahead_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _ahead_threads()
    assert len(log) < 20  # it made a few ahead, not the rest


def test_a_starved_idle_thread_hands_the_rest_to_the_caller() -> None:
    """A busy loop at normal priority on the one CPU both threads may use: the idle thread
    gets almost no time, so the caller takes over and every item still comes, in order."""
    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    hog = subprocess.Popen([sys.executable, "-c",
                            f"import os, time; os.sched_setaffinity(0, {{{cpu}}})\n"
                            "end = time.monotonic() + 60\n"
                            "while time.monotonic() < end: pass"])  # fmt: skip
    try:
        time.sleep(0.3)  # the loop is running
        os.sched_setaffinity(0, {cpu})  # this thread, and the thread it starts
        log: list[tuple[int, int]] = []
        started = time.monotonic()
        got = []
        for item in ahead(_made(log, 100, work=0.005)):
            got.append(item)
            assert time.monotonic() - started < 20, "the caller never took over"
        assert got == list(range(100))
        mine = [n for n, (ident, _) in enumerate(log) if ident == threading.get_ident()]
        assert mine and mine == list(range(mine[0], 100))  # from the hand-over to the end
    finally:
        os.sched_setaffinity(0, before)
        hog.kill()
        hog.wait()
