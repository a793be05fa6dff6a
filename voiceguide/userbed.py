"""A user's own bed, playable from its first decoded second.

A user's file may be an hour long and is never seen before its first session,
yet live playback must start within half a second. Decoding the capped four
minutes, looping and measuring them takes seconds, so a user bed is a signal
that is *defined* before it is known, and filled in behind the listener:

* The first pass plays the trimmed file as it is: ``x[t]`` for ``t < P``. From
  then on the loop repeats with period ``P = n - fade``, its first ``fade``
  samples being the *seam*: the file's tail cross-faded into its head. So the
  cross-fade never changes a sample that may already have been played, and it is
  only needed once playback reaches the end of the first pass (four minutes in).
* ffmpeg decodes into one int16 array of the capped size (memory follows the cap,
  not the file) on a background thread. A sample is handed out once it is decoded
  and provably inside the first pass (it lies at least a cross-fade before the
  last loud sample seen so far); anything else waits for the decoder. So
  :meth:`UserBed.read` stays a pure function of ``(start, count)``: it may wait,
  it never guesses.
* Its level: a render waits for the whole loop's K-weighted powers and true peak.
  Live playback of a bed not yet in the cache takes the powers of the opening
  ``OPENING_SECONDS`` (known a tenth of a second in) and keeps them for the whole
  session, with +6 dBTP as the limiter's bound for the peak (samples are clipped
  to ±1 and 4× interpolation cannot double them). The next session finds the
  whole loop's measurements in the cache, like a render.
* A file that turns out broken after playback began (ffmpeg failing) stops the
  session with the same one line a render would give: reads raise it.

K-weighting here is an FFT convolution with the filter's impulse response
(numpy only): ``scipy.signal`` takes over a second to import, which live
playback's first block cannot wait for. It matches ``loudness.hop_powers`` to
about 1e-9.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from voiceguide import ambience
from voiceguide.errors import AudioError
from voiceguide.lifeline import child_dies_with_parent, widen_pipe
from voiceguide.loudness import KMeter
from voiceguide.paths import cache_dir

RATE = ambience.SESSION_RATE
#: Live playback of an uncached bed sets its level from this much of its opening.
OPENING_SECONDS = 20.0
#: The limiter's bound for a bed whose true peak is not measured yet (dBTP).
UNMEASURED_PEAK_DBTP = 20 * math.log10(2.0)
#: Samples at or below this (int16) are digital silence, trimmed from both ends.
QUIET = int(ambience.SILENCE * 32768)
#: Bump when decoding or looping of user beds changes, so old cache entries stop matching.
VERSION = 2
_SCALE = np.float32(1 / 32768)


class Decoding:
    """ffmpeg's int16 output of one file, filled in by a background thread.

    ``first`` is the first loud frame (None until seen), ``loud_end`` one past the
    last loud frame seen so far (buffer indices). After the end: ``period`` and
    ``seam`` (the loop), then ``powers`` and ``peak`` (the measurements).
    """

    def __init__(self, path: Path, key: str | None) -> None:
        self.path, self.key = path, key
        self.changed = threading.Condition()
        self.error: AudioError | None = None
        self.first: int | None = None
        self.loud_end = 0
        self.period: int | None = None  # set once the whole file is decoded and looped
        self.seam = np.zeros((0, 2), np.int16)
        self.powers: np.ndarray | None = None
        # The opening seconds' powers, weighed on the decoding thread as soon as they are
        # decoded (numpy's FFTs let go of the GIL): live play's level is ready while the
        # main thread is still opening the sound device.
        self.opening: np.ndarray | None = None
        self.opening_wanted = False  # live and uncached: a render measures the whole loop
        self.peak: float | None = None
        self.stored = False  # all done: measured and (if it can be) in the cache
        self.body = np.zeros((0, 2), np.int16)  # the trimmed file (``x``), once known
        self.buffer = np.zeros((0, 2), np.int16)
        self.process: subprocess.Popen[bytes] | None = None  # ffmpeg, while it decodes

    @classmethod
    def from_cache(cls, path: Path, key: str) -> Decoding | None:
        """A finished decoding from the cache folder, or None if it is not there whole."""
        folder = cache_dir() / "beds"
        try:
            # Mapped, not read: the next session starts at once, and pages come in as
            # playback reaches them (the cache replaces files, never rewrites them).
            body = np.load(folder / f"user-{key}.npy", mmap_mode="r")
            seam = np.load(folder / f"user-{key}.seam.npy")
            powers = np.load(folder / f"user-{key}.powers.npy")
            peak = float(np.load(folder / f"user-{key}.peak.npy"))
        except (OSError, ValueError):
            return None
        shapes_ok = body.ndim == 2 and body.shape[1] == 2 and seam.ndim == 2 and seam.shape[1] == 2
        if not shapes_ok or body.dtype != np.int16 or not 0 < len(seam) < len(body):
            return None
        done = cls(path, key)
        done.first, done.loud_end = 0, len(body)
        done.body, done.seam, done.period = body, seam.astype(np.int16), len(body)
        done.powers, done.peak, done.stored = powers, peak, True
        return done

    # -- waiting (any thread)

    def wait(self, ready: Callable[[], bool]) -> None:
        """Block until ``ready()`` (checked under the lock) or the decoding failed."""
        with self.changed:
            self.changed.wait_for(lambda: self.error is not None or ready())
            if self.error is not None:
                raise self.error

    def known(self) -> int:
        """Frames of the trimmed file known to be played as they are (the first pass)."""
        if self.period is not None:
            return self.period
        if self.first is None:
            return 0
        return max(0, self.loud_end - self.first - int(ambience.MAX_CROSSFADE_SECONDS * RATE))

    # -- decoding (the background thread)

    def start(self) -> None:
        """Start ffmpeg here (so it dies with this process) and read it on a thread."""
        if self.path.is_dir():
            raise AudioError(f"{self.path}: is a folder, not an audio file")
        if not self.path.is_file():
            raise AudioError(f"{self.path}: no such audio file")
        seconds = ambience.MAX_LOOP_SECONDS + ambience.MAX_CROSSFADE_SECONDS
        self.buffer = np.empty((int(seconds * RATE) + RATE, 2), np.int16)
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - the reading thread closes it
        cmd = [ambience.ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(self.path),
               "-vn", "-t", f"{seconds:.3f}", "-f", "s16le", "-ac", "2", "-ar", str(RATE),
               "-"]  # fmt: skip
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL, bufsize=0,
            preexec_fn=child_dies_with_parent(),
        )  # fmt: skip
        assert proc.stdout is not None
        widen_pipe(proc.stdout)
        self.process = proc
        threading.Thread(target=self._run, args=(proc, errors), name="bed", daemon=True).start()

    def _run(self, proc: subprocess.Popen[bytes], errors: object) -> None:
        try:
            self._read(proc, errors)
            self._loop()
            self._measure()
            if self.key:
                _store(self.key, self)
            with self.changed:
                self.stored = True
                self.changed.notify_all()
        except AudioError as err:
            self._fail(err)
        except Exception as err:  # any fault here must reach the reader as one line
            self._fail(AudioError(f"{self.path}: cannot decode audio ({err})"))

    def _fail(self, err: AudioError) -> None:
        with self.changed:
            self.error = err
            self.changed.notify_all()

    def _read(self, proc: subprocess.Popen[bytes], errors) -> None:  # type: ignore[no-untyped-def]
        assert proc.stdout is not None
        view = memoryview(self.buffer).cast("B")
        filled = frames = 0
        full = False
        try:
            while filled < len(view):
                got = proc.stdout.readinto(view[filled:])
                if not got:
                    break
                filled += got
                frames = self._scan(frames, filled // 4)
                self._weigh_opening()
            full = filled == len(view)
        finally:
            proc.stdout.close()
            if full or self.error is not None:
                proc.kill()
            code = proc.wait()
            errors.seek(0)
            complaint = ambience._last_line(errors.read())
            errors.close()
        if code != 0 and not full:
            raise AudioError(f"{self.path}: cannot decode audio ({complaint})")
        self.buffer = self.buffer[:frames]

    def _scan(self, done: int, upto: int) -> int:
        """Note where sound starts and how far it reaches in frames [done, upto)."""
        if upto <= done:
            return done
        chunk = self.buffer[done:upto]
        loud = np.flatnonzero(((chunk > QUIET) | (chunk < -QUIET)).any(axis=1))
        if loud.size:
            with self.changed:
                if self.first is None:
                    self.first = done + int(loud[0])
                self.loud_end = done + int(loud[-1]) + 1
                self.changed.notify_all()
        return upto

    def _weigh_opening(self) -> None:
        if not self.opening_wanted or self.opening is not None or self.first is None:
            return
        if self.loud_end - self.first >= round(OPENING_SECONDS * RATE):
            opening = self.opening_powers()
            with self.changed:
                self.opening = opening
                self.changed.notify_all()

    def _loop(self) -> None:
        """The trimmed file's length and its seam: the tail cross-faded into the head."""
        if self.first is None:
            raise AudioError(f"{self.path}: is digital silence; a bed needs some sound to loop")
        n = self.loud_end - self.first
        if n < ambience.MIN_USER_SECONDS * RATE:
            raise AudioError(
                f"{self.path}: {n / RATE:.2f} s of sound is too short to loop "
                f"(need at least {ambience.MIN_USER_SECONDS:.0f} s)"
            )
        body = self.buffer[self.first : self.loud_end]
        with self.changed:
            self.body = body
            self.seam = seam(body)
            self.period = n - len(self.seam)
            self.changed.notify_all()

    def _measure(self) -> None:
        """The loop's K-weighted hop powers and a true peak covering the first pass too."""
        meter = KMeter(RATE)
        powers = [meter.feed(block) for block in self.loop_blocks()]
        fade = len(self.seam)
        peak = max(_true_peak(block) for block in (*self.loop_blocks(), _floats(self.body[:fade])))
        with self.changed:
            self.powers = np.concatenate(powers) if powers else np.zeros(0)
            self.peak = peak
            self.changed.notify_all()

    def loop_blocks(self, size: int = 10 * RATE) -> Iterator[np.ndarray]:
        """The loop (seam, then the body after it) as float32 blocks."""
        assert self.period is not None
        yield _floats(self.seam)
        for start in range(len(self.seam), self.period, size):
            yield _floats(self.body[start : min(start + size, self.period)])

    def opening_powers(self, seconds: float = OPENING_SECONDS) -> np.ndarray:
        """K-weighted hop powers of the first ``seconds`` of the trimmed file (x)."""
        assert self.first is not None
        count = round(seconds * RATE)
        return KMeter(RATE).feed(_floats(self.buffer[self.first : self.first + count]))


def seam(body: np.ndarray) -> np.ndarray:
    """The loop's first samples: ``body``'s last ``fade`` faded out over its first faded in.

    Equal power, like before: the loop's end then runs on exactly where the tail
    left off. Quantized to int16 as the body is.
    """
    n = len(body)
    fade = int(min(ambience.MAX_CROSSFADE_SECONDS * RATE, n / 4))
    theta = (np.arange(fade, dtype=np.float64) + 0.5) / fade * (np.pi / 2)
    mixed = body[:fade] * np.sin(theta)[:, None] + body[n - fade :] * np.cos(theta)[:, None]
    return np.clip(np.round(mixed), -32768, 32767).astype(np.int16)


def _floats(samples: np.ndarray) -> np.ndarray:
    return samples.astype(np.float32) * _SCALE


def _true_peak(block: np.ndarray) -> float:
    """True peak (dBTP) near the block's loudest samples (see ambience's)."""
    if not len(block):
        return -math.inf
    return _true_peak_near_loudest(block, len(block))


def _true_peak_near_loudest(loop: np.ndarray, block: int, per_block: int = 256) -> float:
    """True peak (dBTP) from 4× oversampled windows around each block's loudest samples."""
    from voiceguide.loudness import true_peak_db

    half = 32  # samples either side: longer than the interpolation filter reaches
    gap = np.zeros((2 * half, loop.shape[1]), dtype=np.float32)
    best = -np.inf
    for start in range(0, len(loop), block):
        magnitude = np.max(np.abs(loop[start : start + block]), axis=1)
        top = np.argpartition(magnitude, -min(per_block, len(magnitude)))[-per_block:]
        windows = []
        for index in np.sort(top) + start:
            windows += [loop[max(0, index - half) : index + half], gap]
        best = max(best, float(true_peak_db(np.concatenate(windows))))
    return best


def _store(key: str, done: Decoding) -> None:
    """Best effort, like the bundled beds' cache; the body goes last and marks it whole."""
    assert done.period is not None and done.powers is not None and done.peak is not None
    folder = cache_dir() / "beds"
    ambience._store_decoded(folder / f"user-{key}.powers.npy", done.powers)
    ambience._store_decoded(folder / f"user-{key}.peak.npy", np.array(done.peak))
    ambience._store_decoded(folder / f"user-{key}.seam.npy", done.seam)
    ambience._store_decoded(folder / f"user-{key}.npy", done.body[: done.period])


def bed_key(path: Path) -> str | None:
    """Cache key of a user's file: where it is, its size and when it changed."""
    try:
        info = path.stat()
    except OSError:
        return None
    identity = f"{path.resolve()}|{info.st_size}|{info.st_mtime_ns}|{ambience.MAX_LOOP_SECONDS}|"
    return hashlib.sha1(f"{identity}user-bed-{VERSION}".encode()).hexdigest()[:20]


# ------------------------------------------------------------------ the bed


class UserBed(ambience.Bed):
    """A user's file as a bed: readable from its first decoded second (see the module)."""

    def __init__(self, name: str, decoding: Decoding, opening: bool) -> None:
        # Not Bed.__init__: there is no loop array to hand over, only a decoding.
        self.name = name
        self.rate = RATE
        self.lufs = None
        self._decoding = decoding
        self._opening = opening  # live, uncached: the level from the opening seconds
        self._level: tuple[np.ndarray, int, float] | None = None  # powers, their span, peak

    @classmethod
    def open(cls, path: Path, wait: bool = True) -> UserBed:
        """The bed of ``path``: from the cache, or decoding from now on.

        ``wait``: return only once the whole loop is decoded and measured (a
        render); otherwise at once (live playback), errors surfacing on first use.
        """
        key = bed_key(path) if path.is_file() else None
        cached = Decoding.from_cache(path, key) if key else None
        if cached is not None:
            return cls(path.name, cached, opening=False)
        decoding = Decoding(path, key)
        decoding.opening_wanted = not wait
        decoding.start()
        if wait:
            decoding.wait(lambda: decoding.stored)
        return cls(path.name, decoding, opening=not wait)

    def __repr__(self) -> str:
        return f"UserBed({self.name!r})"

    # -- level

    def _levels(self) -> tuple[np.ndarray, int, float]:
        """(hop powers, the samples they describe, true peak bound in dBTP), fixed once."""
        if self._level is None:
            d = self._decoding
            opening = round(OPENING_SECONDS * RATE)
            if self._opening:
                d.wait(lambda: d.opening is not None or d.powers is not None)
            else:
                d.wait(lambda: d.powers is not None)
            if self._opening and d.opening is not None:
                self._level = (d.opening, opening, UNMEASURED_PEAK_DBTP)
            else:
                assert d.powers is not None and d.peak is not None and d.period is not None
                self._level = (d.powers, d.period, d.peak)
        return self._level

    @property
    def powers(self) -> np.ndarray:  # type: ignore[override]
        return self._levels()[0]

    @property
    def powers_period(self) -> int:
        return self._levels()[1]

    @property
    def peak_dbtp(self) -> float:  # type: ignore[override]
        return self._levels()[2]

    # -- samples

    @property
    def period(self) -> int:
        d = self._decoding
        d.wait(lambda: d.period is not None)
        assert d.period is not None
        return d.period

    @property
    def loop(self) -> np.ndarray:  # type: ignore[override]
        """The loop as one float32 array (a copy: for tools and tests, not for playback)."""
        period = self.period
        d = self._decoding
        return np.concatenate([_floats(d.seam), _floats(d.body[len(d.seam) : period])])

    @property
    def seconds(self) -> float:
        return self.period / self.rate

    def read(self, start: int, count: int) -> np.ndarray:
        """``count`` frames from ``start``: the first pass, then the loop (see the module).

        Waits for the decoder when asked for what it has not reached; raises its
        error (one line) once it has failed, wherever playback is.
        """
        d = self._decoding
        end = start + count
        if d.error is not None:
            raise d.error
        if start < 0 or end > d.known():
            d.wait(lambda: (start >= 0 and end <= d.known()) or d.period is not None)
        out = np.empty((count, 2), dtype=np.float32)
        if d.period is None:  # inside the part decoded so far
            assert d.first is not None
            out[:] = _floats(d.buffer[d.first + start : d.first + end])
            return out
        period, fade = d.period, len(d.seam)
        filled, pos = 0, start
        while filled < count:
            if 0 <= pos < period:  # the first pass: the file as it is
                source = d.body[pos : pos + min(count - filled, period - pos)]
            else:
                i = pos % period
                if i < fade:
                    source = d.seam[i : i + min(count - filled, fade - i)]
                else:
                    source = d.body[i : i + min(count - filled, period - i)]
            out[filled : filled + len(source)] = _floats(source)
            filled += len(source)
            pos += len(source)
        return out
