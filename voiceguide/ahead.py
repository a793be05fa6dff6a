"""Items of an iterable made ahead in a thread the kernel counts as idle.

A warm render's critical path is the encoder, on one core of two. The mixer's thread,
woken each time the encoder drains its pipe, ran beside ffmpeg's threads and slowed an
hour's encode by about 6 % (31.8-32.3 s against 29.9-30.0 s, alternated runs;
docs/benchmarks.md). Under ``SCHED_IDLE`` the thread runs only on time no other thread
wants, and the kernel places ffmpeg's waking threads on its core as if it were free.

An unprivileged thread cannot leave ``SCHED_IDLE`` (``RLIMIT_NICE``). So when the machine
is busy and the idle thread waits on a run queue instead of running, the caller's thread
takes the iteration over where it stopped, at normal priority. A process forked by an idle
thread would inherit the policy: only iterables that start no processes belong here.
Linux only; elsewhere (or when the policy cannot be set) the caller's thread makes the items.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

#: Items made ahead of the caller (a mix's block is 0.7 MB).
DEPTH = 4
#: Seconds the idle thread may spend waiting on a run queue while the caller waits for its
#: next item, before the caller takes over (the encoder's 1 MB pipe lasts it about 0.05 s).
STARVED = 0.25
_POLL = 0.05


def ahead(items: Iterable[T]) -> Iterator[T]:
    """``items`` in order, made in an idle thread while the caller uses the ones before."""
    it = iter(items)
    maker = _IdleMaker.start(it)
    if maker is None:
        yield from it
        return
    try:
        yield from maker.items()
    finally:
        maker.stop()
    if maker.handed_over:
        yield from it


@dataclass
class _Failed:
    error: BaseException


_END = object()


class _IdleMaker:
    """The idle thread, its queue, and the caller's side of the hand-over."""

    def __init__(self, it: Iterator[object]) -> None:
        self._it = it
        self._queue: queue.Queue[object] = queue.Queue(DEPTH)
        self._handover = threading.Event()
        self._abort = threading.Event()
        self._go = threading.Event()
        self._stat: str | None = None  # the thread's schedstat, once it runs idle
        self._thread = threading.Thread(target=self._run, name="voiceguide-ahead", daemon=True)
        self.handed_over = False

    @classmethod
    def start(cls, it: Iterator[object]) -> _IdleMaker | None:
        """The thread, made idle by this one (an idle thread could wait long for its turn)."""
        if not hasattr(os, "SCHED_IDLE"):
            return None
        maker = cls(it)
        maker._thread.start()  # it waits for the go before it touches the iterator
        tid = maker._thread.native_id
        stat = f"/proc/self/task/{tid}/schedstat"
        try:
            os.sched_setscheduler(tid or -1, os.SCHED_IDLE, os.sched_param(0))
            _run_delay(stat)
        except (OSError, ValueError, IndexError):  # refused, or no counters to watch it by
            maker._abort.set()
            maker._go.set()
            maker._thread.join()
            return None
        maker._stat = stat
        maker._go.set()
        return maker

    def items(self) -> Iterator[object]:
        """What the thread made; returns at the end, or once it handed the iteration over."""
        waiting_since: float | None = None  # the thread's run delay when the wait began
        while True:
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    self.handed_over = True
                    return
                delay = _run_delay(self._stat)
                if waiting_since is None:
                    waiting_since = delay
                elif delay - waiting_since > STARVED:
                    self._handover.set()
                continue
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
            waiting_since = None

    def stop(self) -> None:
        """End the thread (early: the caller stopped, or failed); it drops what it made."""
        self._abort.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._thread.join(timeout=1.0)  # it finishes the item in hand; a daemon if starved

    def _run(self) -> None:
        self._go.wait()
        try:
            while not (self._handover.is_set() or self._abort.is_set()):
                try:
                    item = next(self._it)
                except StopIteration:
                    self._put(_END)
                    return
                self._put(item)
        except BaseException as error:  # raised in the caller's thread
            self._put(_Failed(error))

    def _put(self, item: object) -> None:
        while not self._abort.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue


def _run_delay(stat: str | None) -> float:
    """Seconds the thread has spent runnable but waiting for a CPU (Linux's schedstat)."""
    assert stat is not None
    with open(stat) as f:
        return int(f.read().split()[1]) / 1e9
