"""Speech worker processes, any engine: JSON lines over a private pipe.

Engines print (``Audio saved to …``), hang, are not thread-safe, and espeak
calls ``exit(1)`` on a bad data folder. So synthesis runs in small worker
processes that speak JSON lines over a private pipe (their stdout goes to
/dev/null). A hung or dead worker becomes a :class:`SpeechError`, never a
hung or dead CLI. Workers stay alive between requests, so a live player can
ask for a few cues at a time cheaply. A worker finishes each clip
(:func:`process_pcm`) and stores it in the cache itself, so only a short
answer crosses the pipe.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from voiceguide.errors import SpeechError
from voiceguide.speech.cache import ClipCache
from voiceguide.speech.clips import process_pcm
from voiceguide.speech.engines import Backend, Engine, engine_class
from voiceguide.speech.settings import CLIP_RATE


class CacheWriteError(SpeechError):
    """The worker made the clip but could not store it (read-only or full cache)."""


_WORKER_BOOT = "from voiceguide.speech.worker import worker_main; worker_main()"
_ROOT = str(Path(__file__).resolve().parents[2])


# --------------------------------------------------------------------------- worker side

#: After a clip this long, the worker hands its freed memory back (a long ``say``'s
#: 40-second pieces leave ~100 MB of freed heap that the next model run would sit on).
LONG_CLIP_SECONDS = 15.0


def _serve(backend: Backend, request: dict[str, Any]) -> dict[str, Any]:
    """Handle one request; errors a user can act on come back as messages."""
    if request.get("op") == "synth":
        pcm, rate = backend.synthesize(
            request["text"], request["voice"], request["rate"], request["pitch"]
        )
        samples = process_pcm(pcm, rate, request["volume"])
        del pcm
        try:
            ClipCache(Path(request["cache"])).store(request["key"], samples)
        except OSError as err:
            why = f"cannot write the clip cache {request['cache']}: {err.strerror or err}"
            return {"ok": False, "cache": True, "error": why}
        seconds = len(samples) / CLIP_RATE
        del samples
        if seconds > LONG_CLIP_SECONDS:  # the next clip's model run starts from a lean heap
            from voiceguide.clipbank import release_freed_memory

            release_freed_memory()
        return {"ok": True, "seconds": seconds}
    answer = backend.handle(request)
    if answer is None:
        return {"ok": False, "error": f"unknown request {request.get('op')!r}"}
    return answer


def worker_main() -> None:
    """Entry point of a worker process: it serves until its stdin ends or its parent is
    gone, and its scratch folder goes with it either way."""
    from voiceguide.lifeline import watch_parent

    scratch = os.environ.get("VOICEGUIDE_SCRATCH")

    def sweep() -> None:  # the parent sweeps too; this covers a parent that exits first
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)

    watch_parent(last=sweep)  # a SIGKILLed parent must not leave workers (or files) behind
    try:
        _serve_forever()
    finally:
        sweep()


def _serve_forever() -> None:
    """JSON lines in on stdin, out on a private fd.

    Stdout (fd 1) is pointed at /dev/null before the engine loads, so its
    prints and anything a C library writes go nowhere.
    """
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process

    def send(message: dict[str, Any]) -> None:
        proto.write(json.dumps(message) + "\n")

    try:
        backend = engine_class(os.environ["VOICEGUIDE_ENGINE"]).backend(dict(os.environ))
    except (SpeechError, OSError, RuntimeError, ImportError) as exc:
        send({"ok": False, "error": str(exc)})
        return
    send({"ok": True, "ready": True, "pid": os.getpid()})
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("op") == "quit":
            break
        try:
            send(_serve(backend, request))
        except SpeechError as exc:
            send({"ok": False, "error": str(exc)})


# --------------------------------------------------------------------------- main side


class Worker:
    """One worker process and its pipe, with a timeout on every answer."""

    def __init__(self, engine: Engine, niceness: int = 0) -> None:
        self.engine = engine
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        self._buffer = b""
        self._ready = False
        # The engine's scratch files (espeak writes each phrase to a WAV): made and removed
        # here, since a worker that is killed (a hang, Ctrl-C) cleans up nothing itself.
        self.scratch = tempfile.mkdtemp(prefix="voiceguide-speech-")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_BOOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=self._environment(),
            close_fds=True,
        )
        if niceness:
            self.renice(niceness)

    def renice(self, niceness: int) -> None:
        """Run at a lower priority (best effort: a process already gone is no matter)."""
        with contextlib.suppress(OSError, AttributeError):  # no setpriority on Windows
            os.setpriority(os.PRIO_PROCESS, self.proc.pid, niceness)

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_ROOT, env.get("PYTHONPATH")]))
        env["VOICEGUIDE_ENGINE"] = self.engine.name
        env["VOICEGUIDE_SCRATCH"] = self.scratch
        env.update(self.engine.worker_env())
        # Workers are the parallelism: a BLAS thread pool in each would only fight over cores.
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = "1"
        return env

    def ready(self, timeout: float) -> None:
        """Wait for the worker's hello (start-up takes ~0.3 s: numpy, scipy, espeak)."""
        if self._ready:
            return
        hello = self._read(timeout, "starting")
        if not hello.get("ok"):
            raise SpeechError(f"speech engine failed to start: {hello.get('error')}")
        self._ready = True

    def request(self, message: dict[str, Any], timeout: float, doing: str) -> dict[str, Any]:
        """Send one request and wait for its answer."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died(doing) from None
        return self._read(timeout, doing)

    def _read(self, timeout: float, doing: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.kill()
                raise SpeechError(
                    f"speech engine hung: no answer within {timeout:g} s while {doing}; "
                    f"{self.engine.hint}"
                )
            chunk = os.read(fd, 65536)
            if not chunk:
                raise self._died(doing)
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _died(self, doing: str) -> SpeechError:
        """Explain a crashed worker, with the last thing it wrote to stderr."""
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        self._stderr.seek(0)
        tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        detail = f": {tail[-1]}" if tail else ""
        hint = ""
        if code == 1 and not self._ready:
            hint = (
                " (espeak-ng exits like this when its data folder is wrong: check ESPEAK_DATA_PATH)"
            )
        return SpeechError(
            f"speech engine stopped (exit status {code}) while {doing}{detail}{hint}"
        )

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.sweep()

    def sweep(self) -> None:
        """Remove the scratch folder (the worker has ended, or is being killed)."""
        shutil.rmtree(self.scratch, ignore_errors=True)

    def close(self) -> None:
        """Ask politely, then insist."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.write(b'{"op": "quit"}\n')
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.kill()
        for stream in (self.proc.stdout, self.proc.stdin):
            with contextlib.suppress(OSError, ValueError):
                if stream:
                    stream.close()
        self._stderr.close()
        self.sweep()


class Pool:
    """Workers shared by threads: a request borrows an idle worker, any worker.

    Started lazily and together (they boot in parallel). A worker that hung or
    died is replaced by a fresh one, so one bad phrase does not poison the rest.
    """

    def __init__(self, engine: Engine, size: int, timeout: float) -> None:
        self.engine, self.size = engine, max(1, size)
        self.timeout = timeout * engine.slowness
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._started = False
        self._all: list[Worker] = []
        self.restarts = 0  # workers replaced after dying or hanging
        self.aborted = False  # set by abort(): no request is retried, no worker replaced
        self.niceness = 0  # see lower_priority()

    def lower_priority(self, niceness: int) -> None:
        """Workers now and to come run at ``niceness``: their speech is needed later than
        the work beside them (a render's encoder, the one stage that cannot wait)."""
        with self._lock:
            self.niceness = niceness
            workers = list(self._all)
        for worker in workers:
            worker.renice(niceness)

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            for _ in range(self.size):
                worker = Worker(self.engine, self.niceness)
                self._all.append(worker)
                self._idle.put(worker)
            self._started = True

    def call(self, message: dict[str, Any], doing: str, timeout: float | None = None) -> dict:
        """Send a request to an idle worker; a worker that dies or hangs is restarted once.

        The request is tried again on the fresh worker; if that one fails
        too, the error (which names what was being said) goes to the caller.
        """
        try:
            reply = self._attempt(message, doing, timeout)
        except SpeechError:
            if self.aborted:
                raise
            reply = self._attempt(message, doing, timeout)
        if not reply.get("ok"):
            kind = CacheWriteError if reply.get("cache") else SpeechError
            raise kind(str(reply.get("error")))
        return reply

    def _attempt(self, message: dict[str, Any], doing: str, timeout: float | None) -> dict:
        self.start()
        worker = self._idle.get()
        try:
            worker.ready(max(20.0, self.timeout))
            return worker.request(message, timeout or self.timeout, doing)
        except SpeechError:
            worker.kill()
            if not self.aborted:
                worker = self._replace(worker)
                self.restarts += 1
            raise
        finally:
            self._idle.put(worker)

    def _replace(self, dead: Worker) -> Worker:
        dead.close()
        with self._lock:
            if self.aborted:  # stopping: a fresh worker would only be killed again
                return dead
            fresh = Worker(self.engine, self.niceness)
            self._all = [w for w in self._all if w is not dead] + [fresh]
        return fresh

    def abort(self) -> None:
        """Kill every worker now, mid-clip: the user stopped us (Ctrl-C, SIGTERM).

        Asking politely would wait for the clip being made (seconds for a long
        text under load); killed, each worker's pipe ends at once, so the
        threads waiting on them return and nothing is retried.
        """
        with self._lock:
            self.aborted = True
            workers = list(self._all)
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.proc.kill()
        for worker in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(timeout=1)
            worker.sweep()

    def close(self) -> None:
        with self._lock:
            workers, self._all, self._started = self._all, [], False
            self._idle = queue.Queue()
        for worker in workers:
            worker.close()
