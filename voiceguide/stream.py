"""One continuous output stream for a whole live session, and the microphone beside it.

Why one stream: simpleaudio can only play one-shot buffers, so the old player
opened a new stream every 0.2 s and overlapped neighbours with fades. A sound
server (PulseAudio, PipeWire) starts each new stream a few milliseconds off
its neighbour, so the fades no longer summed to one: a level dip five times a
second, and dropouts and doubled audio under load. Here a single PortAudio
stream (through ``sounddevice``) is opened once and fed block by block: the
server sees one client that never stops, and the blocks are contiguous.

How it is fed: the owner :meth:`StreamSink.write` s int16 blocks into a short
FIFO; PortAudio's callback takes from it. The samples the callback has taken
are the **device clock** (:meth:`StreamSink.played`): a feeder keeps about a
tenth of a second queued (``buffered()``, ``wait()``) and can place everything
it shows by that count, so nothing drifts against the audio however long the
session runs. :attr:`StreamSink.latency` is the device's own buffer beyond the
FIFO (about 0.12 s; a sample taken now is heard that much later). When the FIFO
runs dry the callback waits for the player a moment before it plays silence:
on a real card that only happens when the player is already late, and on
ALSA's ``file``/``null`` devices, which take samples as fast as they are given,
it makes the device run exactly as fast as the player (tests play an hour in
seconds; with ``pace=False`` it waits as long as the player needs, so a
loaded test machine never makes up silence). With ``pace=True`` (the default)
the callback never runs more than a second ahead of the wall clock, so those
devices also play in real time when asked to.

Faults: a device that fails (a write error, a server that goes away) ends the
stream or stops calling back; the next :meth:`write` or :meth:`wait` raises
:class:`AudioError` with one line. ALSA and PortAudio print their complaints
straight to file descriptor 2, which would draw over the live screen, so while
the stream is open fd 2 goes to a temporary file (Python's own ``sys.stderr``
keeps the real terminal) and the last complaint becomes the error's reason.

Listening (voice control): ``StreamSink(capture=callback)`` opens a *duplex*
stream where the device has an input, so the microphone runs on the very same
clock as the speakers. ``callback(heard, played)`` is called on a worker
thread (never the audio thread) for every block the device delivers:

- ``heard``: float32, shape ``(n,)``: the microphone (first input channel);
- ``played``: float32, shape ``(n, 2)``: the samples that were leaving the
  speakers at the moments those microphone samples were taken, aligned by
  PortAudio's timestamps (``outputBufferDacTime - inputBufferAdcTime``, the
  offset is :attr:`StreamSink.echo_delay`), so the session's own voice can be
  gated out of recognition sample by sample.

If the device has no input, the stream opens for output only and
:attr:`StreamSink.capture_error` says why; the callback is then never called.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from voiceguide.errors import AudioError

RATE = 44100
CHANNELS = 2
#: What PortAudio is asked to keep in the device: small, so a key is heard quickly.
LATENCY = 0.12
#: How long the callback waits for a late player before it plays silence.
STARVE_WAIT = 0.25
#: A device that has not asked for samples for this long has gone away. Long enough that a
#: loaded machine's late callbacks are not taken for a lost device (2 s was, under load).
STALL = 6.0
#: How long closing a stream may take before the device is taken for hung.
RELEASE_WAIT = 2.0
#: With ``pace``, how far the device may run ahead of the wall clock (plus 0.1 %).
LEAD = 1.0

Capture = Callable[[np.ndarray, np.ndarray], None]


class StreamUnavailable(AudioError):
    """The streaming library cannot be used here (not installed, or no device it can open)."""


class StreamSink:
    """A live session's single output stream (see the module docstring)."""

    #: The player writes contiguous blocks on this sink's clock (see voiceguide.sinks).
    continuous = True

    def __init__(
        self,
        rate: int = RATE,
        latency: float = LATENCY,
        capture: Capture | None = None,
        pace: bool = True,
        device: int | str | None = None,
    ) -> None:
        self.rate = rate
        self.latency = latency
        self.pace = pace
        self.device = device
        self.capture_error: str | None = None
        self.echo_delay = 0.0  # seconds from a sample leaving to the mic hearing it
        self.underruns = 0  # callbacks that found the FIFO empty and played silence
        self.streams_opened = 0
        self._capture = capture
        self._fifo: deque[np.ndarray] = deque()
        self._head = 0  # samples of _fifo[0] already taken
        self._queued = 0
        self._played = 0  # written samples the device has taken: the device clock
        self._frames = 0  # every frame handed to the device, silence included
        self._closing = False
        self._started = False
        self._failed: str | None = None
        self._cond = threading.Condition()
        self._stream: Any = None
        self._t0 = 0.0
        self._last_call = 0.0
        self._stderr: _QuietStderr | None = None
        self._listener: _Listener | None = None
        self._stuck = False  # PortAudio did not let go of a dead device (see _release)

    # -- opening and closing

    def open(self) -> None:
        """Open the stream (it starts with the first write, so nothing plays before it)."""
        try:
            import sounddevice as sd
        except (ImportError, OSError) as err:  # OSError: no PortAudio library on the system
            raise StreamUnavailable(f"sounddevice cannot be used ({_first_line(err)})") from None
        self._stderr = _QuietStderr()
        self._stderr.start()
        try:
            self._stream = self._open_stream(sd)
            out = self._stream.latency
            self.latency = float(out[1] if isinstance(out, tuple) else out)
        except Exception as err:  # PortAudioError, ValueError: no device it can open
            self._stderr.stop()
            self._stderr = None
            raise StreamUnavailable(
                f"no audio output device ({_first_line(err)}); "
                "use `voiceguide render` to write the session to a file instead"
            ) from None
        self.streams_opened += 1

    def _open_stream(self, sd: Any) -> Any:
        common = {"samplerate": self.rate, "latency": self.latency,
                  "prime_output_buffers_using_stream_callback": True}  # fmt: skip
        if self._capture is not None:
            try:
                stream = sd.Stream(device=self.device, channels=(1, CHANNELS),
                                   dtype="int16", callback=self._duplex,
                                   finished_callback=self._finished, **common)  # fmt: skip
                self._listener = _Listener(self._capture, self.rate)
                return stream
            except Exception as err:
                self.capture_error = f"no microphone on this device ({_first_line(err)})"
        return sd.OutputStream(device=self.device, channels=CHANNELS, dtype="int16",
                               callback=self._output, finished_callback=self._finished,
                               **common)  # fmt: skip

    def drain(self) -> None:
        """Let everything written play out, then close the stream."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            while self._queued > 0 and self._failed is None:
                self._check_alive()
                self._cond.wait(0.05)
            # PortAudio's stop does not wait for what a sound server still holds (ALSA's
            # pulse device dropped the last 0.12 s): play silence until it has passed.
            tail = self._frames + round((2 * self.latency + 0.1) * self.rate)
            until = time.monotonic() + 2 * self.latency + 1.0
            while self._started and self._frames < tail and self._failed is None:
                if time.monotonic() > until:
                    break
                self._cond.wait(0.02)
        self._release("stop" if self._failed is None else "abort")

    def stop(self) -> None:
        """Close at once, dropping what is queued (after a fault)."""
        with self._cond:
            self._closing = True
            self._fifo.clear()
            self._queued = 0
            self._cond.notify_all()
        self._release("abort")

    def close(self) -> None:
        self._release("close")

    def _release(self, how: str) -> None:
        """Stop (or abort) and close the PortAudio stream, but never wait on a dead server.

        With its sound server gone, PortAudio's abort can block for ever (seen
        with PipeWire killed mid-session), which would hang `play` after its
        error line and before the resume point is saved. So it runs on a
        daemon thread given a moment; if it is stuck, PortAudio is left to
        the process's end, and sounddevice's exit handler (which would wait on
        the same stream) is dropped.
        """
        stream, self._stream = self._stream, None
        if stream is not None:

            def finish() -> None:
                for step in dict.fromkeys((how, "close")):
                    with contextlib.suppress(Exception):
                        getattr(stream, step)()

            worker = threading.Thread(target=finish, name="stream-close", daemon=True)
            worker.start()
            worker.join(RELEASE_WAIT + (2 * self.latency + 0.5 if how == "stop" else 0.0))
            if worker.is_alive():
                self._stuck = True
                _forget_portaudio_at_exit()
        self._close_helpers()

    def _close_helpers(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._stderr is not None and not self._stuck:  # a stuck ALSA may still print
            self._stderr.stop()
            self._stderr = None

    # -- the player's side

    def write(self, pcm: np.ndarray) -> None:
        """Queue int16 ``(n, 2)`` samples right after the ones before them."""
        with self._cond:
            self._check_alive()
            self._fifo.append(np.ascontiguousarray(pcm, dtype=np.int16))
            self._queued += len(pcm)
            self._cond.notify_all()
        if not self._started and self._stream is not None:
            self._started = True
            self._t0 = self._last_call = time.monotonic()
            try:
                self._stream.start()
            except Exception as err:
                raise AudioError(f"cannot play audio: {_first_line(err)}") from None

    def play(self, pcm: np.ndarray) -> None:
        """The player's name for :meth:`write`."""
        self.write(pcm)

    def played(self) -> int:
        """Samples of what was written that the device has taken: the session's clock."""
        return self._played

    def buffered(self) -> int:
        """Samples written but not yet taken by the device."""
        return max(0, self._queued)  # never negative, even after an interrupted write

    def wait(self, timeout: float) -> None:
        """Sleep until the device takes more samples (or ``timeout``); raise if it failed."""
        with self._cond:
            self._check_alive()
            self._cond.wait(timeout)
            self._check_alive()

    def _check_alive(self) -> None:
        stalled = self._started and time.monotonic() - self._last_call > STALL
        if self._failed is None and self._stream is not None and stalled:
            self._failed = "it stopped taking sound"
        if self._failed is not None:
            raise AudioError(f"cannot play audio: the output device went away ({self._failed})")

    # -- PortAudio's side (its own thread: no allocation-heavy work, no printing)

    def _output(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        self._fill(outdata, frames)

    def _duplex(self, indata: np.ndarray, outdata: np.ndarray, frames: int, time_info: Any,
                status: Any) -> None:  # fmt: skip
        self._fill(outdata, frames)
        if self._listener is not None:
            delay = time_info.outputBufferDacTime - time_info.inputBufferAdcTime
            self._listener.put(indata[:, 0].copy(), outdata.copy(), max(0.0, delay))
            self.echo_delay = max(0.0, delay)

    def _fill(self, outdata: np.ndarray, frames: int) -> None:
        self._last_call = time.monotonic()
        got = 0
        with self._cond:
            # a device that is not paced (pace=False: ALSA's file plugin in tests) waits
            # for the player however long it takes, so no silence is ever made up
            deadline = self._last_call + (STARVE_WAIT if self.pace else float("inf"))
            while True:
                got += self._take(outdata[got:])
                if got == frames or self._closing:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    self.underruns += 1
                    break
                self._cond.wait(min(left, 1.0))
                self._last_call = time.monotonic()  # waiting for the player: alive
            self._played += got
            self._frames += frames
            self._cond.notify_all()
        outdata[got:] = 0
        if self.pace:
            self._hold_back()

    def _take(self, out: np.ndarray) -> int:
        """Copy queued samples into ``out`` (the caller holds the lock)."""
        done = 0
        while done < len(out) and self._fifo:
            head = self._fifo[0]
            n = min(len(out) - done, len(head) - self._head)
            out[done : done + n] = head[self._head : self._head + n]
            done += n
            self._head += n
            if self._head == len(head):
                self._fifo.popleft()
                self._head = 0
        self._queued -= done
        return done

    def _hold_back(self) -> None:
        """Devices that take samples without pacing (ALSA file/null) still play in real time."""
        elapsed = time.monotonic() - self._t0
        ahead = self._frames / self.rate - elapsed - (LEAD + 0.001 * elapsed)
        if ahead > 0:
            time.sleep(ahead)

    def _finished(self) -> None:
        with self._cond:
            if not self._closing:
                self._failed = self._stderr.last_line() if self._stderr else None
                self._failed = self._failed or "the stream ended by itself"
            self._cond.notify_all()


class _Listener:
    """Hands microphone blocks, with what was playing as they were heard, to the listener."""

    def __init__(self, callback: Capture, rate: int) -> None:
        self._callback = callback
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._history = np.zeros((rate, CHANNELS), np.float32)  # the last second played
        self._rate = rate
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def put(self, heard: np.ndarray, played: np.ndarray, delay: float) -> None:
        self._queue.put((heard, played, delay))

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            heard, played, delay = item
            n = len(played)
            self._history = np.concatenate([self._history[n:], played / np.float32(32767)])
            back = min(round(delay * self._rate), len(self._history) - n)
            end = len(self._history) - back
            with contextlib.suppress(Exception):  # a listener's bug must not stop the session
                self._callback(heard / np.float32(32767), self._history[end - n : end].copy())


class _QuietStderr:
    """Send file descriptor 2 (where C libraries print) to a file; keep Python's stderr."""

    def __init__(self) -> None:
        self._saved: int | None = None
        self._file: IO[bytes] | None = None
        self._python: Any = None

    def start(self) -> None:
        try:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
            self._saved = os.dup(2)
            sys.stderr.flush()
            os.dup2(self._file.fileno(), 2)
        except (OSError, ValueError):
            self._saved = None
            return
        self._python = sys.stderr
        with contextlib.suppress(OSError, ValueError):
            sys.stderr = open(os.dup(self._saved), "w", buffering=1, encoding="utf-8",  # noqa: SIM115
                              errors="replace")  # fmt: skip

    def last_line(self) -> str | None:
        """The last thing printed to fd 2: the device's own reason for failing."""
        if self._file is None:
            return None
        try:
            size = os.fstat(self._file.fileno()).st_size
            data = os.pread(self._file.fileno(), 4096, max(0, size - 4096))
        except OSError:
            return None
        lines = [ln for ln in data.decode(errors="replace").splitlines() if "ALSA lib" in ln]
        if not lines:
            return None
        return lines[0].split(") ", 1)[-1].strip()[:160]

    def stop(self) -> None:
        if self._saved is not None:
            if self._python is not None and sys.stderr is not self._python:
                with contextlib.suppress(Exception):
                    sys.stderr.close()
                sys.stderr = self._python
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = None
        if self._file is not None:
            self._file.close()
            self._file = None


def _forget_portaudio_at_exit() -> None:
    """A stuck stream would hang sounddevice's exit handler (it stops and closes it)."""
    import atexit

    with contextlib.suppress(Exception):
        import sounddevice

        atexit.unregister(sounddevice._exit_handler)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
