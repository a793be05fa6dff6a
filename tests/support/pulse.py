"""A private PulseAudio with a null sink, and how to compare what it played with what was meant.

Started by the test (or the benchmark) itself, with its own runtime folder and
HOME, so nothing of the machine's own sound setup is touched: ALSA clients
reach it through ``libasound2-plugins`` (``pcm.!default { type pulse }``).

What the server plays is recorded from a ``module-pipe-sink`` timed by the
system clock (a sink like a sound card's, that writes each sample it plays
into a FIFO), not from a null sink's monitor with ``parec``: when a new stream
starts, PulseAudio rewinds the sink to play it sooner, and a monitor source is
not rewound, so the monitor missed the first 20 ms of every paplay, 80 ms of
every aplay and 140 ms of a PortAudio stream that the sink itself did play.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

RATE = 44100
TOOLS = ("pulseaudio", "pactl", "paplay")


def available() -> str | None:
    """Why a private PulseAudio cannot run here, or None."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return "missing " + ", ".join(missing) + " (bash scripts/setup.sh --dev installs them)"
    if not list(Path("/usr/lib").glob("*/alsa-lib/libasound_module_pcm_pulse.so")):
        return "ALSA's pulse plugin is missing (libasound2-plugins)"
    return None


class PrivatePulse:
    """``with PrivatePulse(folder) as pulse:`` a sound server only this process tree uses."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.home = folder / "home"
        self.run = folder / "run"
        self.proc: subprocess.Popen | None = None
        self.env: dict[str, str] = {}

    def __enter__(self) -> PrivatePulse:
        self.home.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        self.run.chmod(0o700)
        script = self.folder / "default.pa"
        self.fifo = self.folder / "sink.fifo"
        script.write_text(".include /etc/pulse/default.pa\n"
                          f"load-module module-pipe-sink sink_name=out file={self.fifo} "
                          f"format=s16le rate={RATE} channels=2 use_system_clock_for_timing=yes\n"
                          "set-default-sink out\n"
                          # a suspended sink writes nothing: the recording would lose time
                          "unload-module module-suspend-on-idle\n")  # fmt: skip
        client = self.folder / "client.conf"
        client.write_text("autospawn = no\n")
        (self.home / ".asoundrc").write_text("pcm.!default { type pulse }\n"
                                             "ctl.!default { type pulse }\n")  # fmt: skip
        self.env = {**os.environ, "HOME": str(self.home), "XDG_RUNTIME_DIR": str(self.run),
                    "PULSE_CLIENTCONFIG": str(client)}  # fmt: skip
        self.env.pop("PULSE_SERVER", None)
        log = (self.folder / "pulseaudio.log").open("w")
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(script), "--daemonize=no", "--exit-idle-time=-1",
             "--realtime=yes", "--high-priority=yes",  # as on a desktop (rtkit grants it there)
             "--disallow-exit", "--use-pid-file=no", "--log-target=stderr"],
            env=self.env, stdout=log, stderr=log,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.folder / "pulseaudio.log").read_text()
                raise RuntimeError(f"pulseaudio exited: {log}")
            ok = subprocess.run(["pactl", "info"], env=self.env, capture_output=True)
            if ok.returncode == 0:
                return self
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("pulseaudio did not answer within 15 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def record(self, path: Path) -> FifoRecorder:
        """Start recording what the sink plays, raw 16-bit stereo (stop with terminate)."""
        return FifoRecorder(self.fifo, path)


@contextlib.contextmanager
def recording(server: PrivatePulse, path: Path) -> Iterator[StreamLives]:
    """Record what ``server`` plays into ``path`` while the block runs; yields the life of
    every playback stream meanwhile (filled in as they come and go)."""
    recorder = server.record(path)
    try:
        time.sleep(0.3)  # the recorder is reading before the first sound
        with stream_lives(server) as lives:
            yield lives
            time.sleep(1.0)  # the server's own buffer reaches the sink
    finally:
        recorder.terminate()
        recorder.wait()


class StreamLives(dict):
    """Sink-input id -> [when it came, when it went or None] (``time.monotonic()``).

    Why lives, not a count: PortAudio opens an ALSA device by setting its hardware
    parameters (which prepares it) and then prepares it again to start, and ALSA's
    pulse plugin makes a new server stream at each prepare. So every PortAudio
    stream through PulseAudio is preceded by one that lives under a millisecond and
    plays nothing (measured: 0.6 ms, freed before its successor is made). Polling
    saw it now and then (a flaky count of 2); events see it every time.
    """

    def lasting(self, at_least: float = 0.1) -> int:
        """How many streams lived ``at_least`` seconds (or are still there)."""
        now = time.monotonic()
        return sum(1 for came, went in self.values() if (went or now) - came >= at_least)

    def brief(self, at_least: float = 0.1) -> int:
        """How many came and went within ``at_least`` seconds."""
        return len(self) - self.lasting(at_least)


@contextlib.contextmanager
def stream_lives(server: PrivatePulse) -> Iterator[StreamLives]:
    """The life of every sink input while the block runs, from the server's own events
    (``pactl subscribe``), so a stream of a millisecond is not missed."""
    lives = StreamLives()
    ready = threading.Event()
    watcher = subprocess.Popen(["pactl", "subscribe"], env=server.env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, bufsize=1)  # fmt: skip

    def read() -> None:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            ready.set()
            found = re.match(r"Event '(new|remove)' on sink-input #(\d+)", line)
            if found and found[1] == "new":
                lives[found[2]] = [time.monotonic(), None]
            elif found:
                lives.setdefault(found[2], [time.monotonic(), None])[1] = time.monotonic()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while not ready.wait(0.1):  # live once it reports a client (this pactl) coming
            subprocess.run(["pactl", "info"], env=server.env, capture_output=True, check=True)
            if watcher.poll() is not None:
                raise RuntimeError("pactl subscribe exited")
        yield lives
    finally:
        time.sleep(0.05)  # events already sent are read
        watcher.terminate()
        watcher.wait()
        reader.join(timeout=5)


@contextlib.contextmanager
def streams_seen(streams: Callable[[], set[str] | list[str]]) -> Iterator[set[str]]:
    """Every id ``streams()`` names while the block runs, polled on a thread 4 times a second
    (a stream that comes and goes between two polls is missed: polls are what a test needs)."""
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.update(streams())
            time.sleep(0.25)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()


class FifoRecorder:
    """Copies a sink's FIFO into a file on a thread, through a pipe of a megabyte.

    A FIFO holds 64 KiB (0.37 s of sound) by default: on a loaded machine a
    reader that is late that long makes the sink's writes fail, and the
    recording would lose sound the sink did play. A megabyte holds 6 s.
    """

    def __init__(self, fifo: Path, path: Path) -> None:
        self._fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._fd, 1031, 1 << 20)  # F_SETPIPE_SZ
        self._out = path.open("wb")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._copy, daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        while not self._stop.is_set():  # the sink writes all the time (silence too)
            ready, _, _ = select.select([self._fd], [], [], 0.05)
            if ready:
                with contextlib.suppress(BlockingIOError):
                    self._out.write(os.read(self._fd, 1 << 20))
        with contextlib.suppress(BlockingIOError):  # what the pipe holds at the stop
            self._out.write(os.read(self._fd, 1 << 20))

    def terminate(self) -> None:
        self._stop.set()

    def wait(self) -> None:
        self._thread.join()
        self._out.close()
        os.close(self._fd)


def lag_of(haystack: np.ndarray, needle: np.ndarray) -> int:
    """Where ``needle`` sits in ``haystack`` (mono), by normalized FFT cross-correlation."""
    n = 1 << int(np.ceil(np.log2(len(haystack) + len(needle))))
    corr = np.fft.irfft(np.fft.rfft(haystack, n) * np.conj(np.fft.rfft(needle, n)), n)
    valid = len(haystack) - len(needle) + 1
    energy = np.concatenate([[0.0], np.cumsum(haystack**2)])
    # A floor of a hundredth of the needle's own energy: a near-silent stretch of the
    # recording (a suspended sink, a quiet bed) must not win by dividing by almost nothing.
    floor = 0.01 * float(np.sum(needle**2)) + 1e-12
    local = np.sqrt(np.maximum(energy[len(needle) :] - energy[:valid], floor))
    return int(np.argmax(corr[:valid] / local))


def levels_db(x: np.ndarray, hop: int = RATE // 100) -> np.ndarray:
    """RMS level of every 10 ms, in dB (mono)."""
    n = len(x) // hop * hop
    return 10 * np.log10(np.mean(x[:n].reshape(-1, hop) ** 2, axis=1) + 1e-12)


def compare(recording: np.ndarray, meant: np.ndarray) -> dict[str, float]:
    """Recording (16-bit stereo) against what was meant to play (float stereo).

    Aligned by cross-correlation on the first second of sound; the last
    second's own alignment against that is the drift. Then the level of
    every 10 ms where the meant sound is above -60 dB, 10 ms stretches of
    silence where sound was meant (gaps), and 10 ms stretches louder than
    meant by 3 dB or more (doubled audio).
    """
    rec = recording[:, 0].astype(np.float64) / 32767
    ref = meant[:, 0].astype(np.float64)
    start = int(np.argmax(np.abs(ref) > 1e-3))
    lag = lag_of(rec, ref[start : start + RATE]) - start
    end = len(ref) - 2 * RATE
    found = lag_of(rec, ref[end : end + RATE]) - end
    drift = found - lag
    got = rec[lag : lag + len(ref)] if lag >= 0 else np.concatenate([np.zeros(-lag), rec])
    got = np.concatenate([got, np.zeros(max(0, len(ref) - len(got)))])[: len(ref)]
    a, b = levels_db(got), levels_db(ref)
    sound = b > -60
    deviation = np.abs(a - b)[sound]
    return {
        "lag_samples": lag,
        "drift_ms": 1000 * drift / RATE,
        "worst_10ms_db": float(deviation.max()) if deviation.size else 0.0,
        "gaps": int(np.sum(sound & (a < -90))),
        "doubled": int(np.sum(sound & (a - b > 3))),
        "max_error_lsb": float(np.abs(got - ref).max() * 32767),
        "seconds": len(ref) / RATE,
    }
