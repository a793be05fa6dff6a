"""Spoken clips for the mixer, kept on disk: memory holds only what each clip measures.

A session of 3,000 cues is hours of speech; held as arrays it took 1.27 GB.
So every clip the mixer is given is written once, as the 16-bit samples the
mixer reads, to an unnamed temporary file (in the cache folder, or the system's
temp folder when the cache cannot be written), and the bank keeps only its
place, length, loudness powers and true peak. A block reads the few samples
it overlaps (``os.pread``: the operating system's page cache does the caching,
and none of it counts against the process). The file has no name, so it
vanishes when the bank is closed or the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from voiceguide import loudness
from voiceguide.ambience import SESSION_RATE
from voiceguide.errors import AudioError
from voiceguide.paths import cache_dir
from voiceguide.pcm import int16_true_peak, to_int16

RATE = SESSION_RATE
HOP = loudness.hop_size(RATE)


class _Spill:
    """One append-only file of int16 samples, read back from any thread."""

    def __init__(self, folder: Path | None) -> None:
        # closed by close(); no name, so nothing is left behind even on a kill
        self.file: IO[bytes] = tempfile.TemporaryFile(prefix="voiceguide-clips-", dir=folder)  # noqa: SIM115
        self.folder = folder or Path(tempfile.gettempdir())
        self.in_cache = folder is not None
        self.end = 0
        self._lock = threading.Lock()

    def append(self, pcm: np.ndarray) -> int:
        """Write int16 samples at the end; return their offset in samples."""
        with self._lock:
            at = self.end
            self.file.seek(2 * at)
            self.file.write(np.ascontiguousarray(pcm, dtype="<i2").tobytes())
            self.file.flush()  # readers use the descriptor, not this buffer
            self.end += len(pcm)
            return at

    def read(self, offset: int, count: int) -> np.ndarray:
        size = 2 * count
        if hasattr(os, "pread"):
            data = os.pread(self.file.fileno(), size, 2 * offset)
        else:  # pragma: no cover - Windows has no pread
            with self._lock:
                self.file.seek(2 * offset)
                data = self.file.read(size)
        if len(data) != size:
            raise AudioError(f"speech clips in {self.folder} could not be read back")
        return np.frombuffer(data, dtype="<i2")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()


@dataclass(frozen=True, eq=False)
class Stored:
    """Where a clip's samples are, and what the mixer plans with (its powers and peak)."""

    spill: _Spill | None  # None: silence (a placeholder)
    offset: int
    length: int
    powers: np.ndarray
    peak: float  # true peak, linear, at full scale

    def read(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b) of the clip as int16 (0 <= a <= b <= length)."""
        if self.spill is None or b <= a:
            return np.zeros(max(0, b - a), np.int16)
        return self.spill.read(self.offset + a, b - a)


class ClipBank:
    """Clips by text, stored once however often they are said.

    ``folder`` is where the samples go; by default the speech cache folder,
    falling back to the system's temp folder when that cannot be written to.
    Safe to add from one thread while the mixer reads from another: an entry
    is published (one dict assignment) only after its samples are written.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._spill: _Spill | None = None
        self._lock = threading.Lock()
        self._clips: dict[str, Stored] = {}
        self._placeholders: set[str] = set()

    def add(
        self, text: str, samples: np.ndarray, powers: np.ndarray | None = None,
        peak: float | None = None,
    ) -> None:  # fmt: skip
        """``peak``: the clip's true peak as 16-bit samples, if known (the speech cache keeps
        it: measuring every clip again took most of a warm render's speech stage)."""
        if text not in self._clips:
            self._clips[text] = self._store(samples, powers, peak)

    def placeholder(self, text: str, seconds: float, lufs: float = -16.0) -> None:
        """Silence standing in for a clip not synthesized yet (live playback starts first).

        Its powers say it is as loud as a real clip, so a loudness prediction
        made before the real clip exists comes out nearly the same.
        """
        if text in self._clips:
            return
        n = max(1, round(seconds * RATE))
        powers = np.full(max(1, n // HOP), loudness.lufs_to_power(lufs))
        self._clips[text] = Stored(None, 0, n, powers, 10 ** (-1 / 20))
        self._placeholders.add(text)

    def replace(
        self, text: str, samples: np.ndarray, powers: np.ndarray | None = None,
        peak: float | None = None,
    ) -> None:  # fmt: skip
        """Swap in a real clip; one assignment, so a reader on another thread never misses it."""
        self._clips[text] = self._store(samples, powers, peak)
        self._placeholders.discard(text)

    def is_real(self, text: str) -> bool:
        return text in self._clips and text not in self._placeholders

    def stored(self, text: str) -> Stored:
        return self._clips[text]

    def get(self, text: str) -> tuple[np.ndarray, np.ndarray, float]:
        """The whole clip (int16 samples, powers, peak), read from disk: for one-off looks."""
        s = self._clips[text]
        return s.read(0, s.length), s.powers, s.peak

    def duration(self, text: str) -> float:
        return self._clips[text].length / RATE

    def close(self) -> None:
        """Let the samples go (the file has no name: closing it frees the disk)."""
        with self._lock:
            if self._spill is not None:
                self._spill.close()
                self._spill = None

    def __enter__(self) -> ClipBank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals

    def _store(self, samples: np.ndarray, powers: np.ndarray | None, peak: float | None) -> Stored:
        samples = np.asarray(samples, dtype=np.float32)
        if powers is None or len(powers) == 0:
            powers = loudness.hop_powers(samples, RATE)
        pcm = to_int16(samples)
        if peak is None:
            peak = int16_true_peak(pcm)  # as the mixer will hear it
        del samples
        with self._lock:  # one writer at a time: the clip's samples stay contiguous
            offset, spill = self._append(pcm)
        # A copy: powers handed in may be a view of a larger buffer (a cache file's bytes).
        return Stored(spill, offset, len(pcm), np.array(powers, dtype=np.float64), peak)

    def _append(self, pcm: np.ndarray) -> tuple[int, _Spill]:
        """Write to the spill file; a full or unwritable cache folder moves it to the temp folder
        (clips already written stay readable from the old file)."""
        if self._spill is None or self._spill.in_cache:
            try:
                if self._spill is None:
                    self._spill = _Spill(self._cache_folder())
                return self._spill.append(pcm), self._spill
            except OSError:
                self._spill = None
        try:
            if self._spill is None:
                self._spill = _Spill(None)
            return self._spill.append(pcm), self._spill
        except OSError as err:
            why = f"{tempfile.gettempdir()} ({err.strerror or err})"
            raise AudioError(f"no room for speech clips in {why}") from None

    def _cache_folder(self) -> Path:
        """The cache folder: on disk, usually roomier than a RAM-backed /tmp."""
        folder = self._folder or cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def release_freed_memory() -> None:
    """Hand memory freed by finished clips back to the system (glibc only; else nothing).

    Each clip passes through as a few large temporary arrays while small,
    lasting things (its powers, the bank's entries) are allocated between
    them; glibc keeps the freed space between those for reuse, so without
    this the process grew by ~0.1 MB per clip (measured: 300 cues, +40 MB).
    """
    global _TRIM
    if _TRIM is None:
        try:
            import ctypes

            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM = None
