"""Ambience beds: the bundled loops and any audio file a user points at.

A bed is held in memory as one loop (at most a few minutes of float32 stereo)
and read by absolute sample index, so the mixer can pull blocks of any size for
a session of any length without memory growing. Bundled beds were generated
periodic (``scripts/make_ambience.py``) and are tiled as they are; a user's file
is made loopable by cross-fading its tail into its head.

Decoding goes through the ffmpeg that ships with ``imageio-ffmpeg``: it is
always there (no system ffmpeg needed) and reads mp3/ogg/wav/flac alike.
Nothing is decoded at import time; bundled beds are decoded once and cached.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceguide.errors import AudioError
from voiceguide.lifeline import child_dies_with_parent
from voiceguide.paths import cache_dir

SESSION_RATE = 44100
CHIME = "chime"
MAX_LOOP_SECONDS = 240.0  # a user's file longer than this is cut: memory stays bounded
MIN_USER_SECONDS = 3.0  # shorter files would loop audibly (and leave no room to cross-fade)
MAX_CROSSFADE_SECONDS = 3.0
SILENCE = 10 ** (-70 / 20)  # leading/trailing samples below −70 dBFS are trimmed from user files


@dataclass(frozen=True)
class BedInfo:
    """One entry of the bundled manifest, as shown by ``voiceguide ambience list``."""

    name: str
    description: str
    seconds: float
    licence: str
    path: Path
    loop: bool = True
    lufs: float | None = None  # measured on the decoded file by scripts/make_ambience.py
    peak_dbtp: float | None = None


def bundled_dir() -> Path:
    """Folder of the bundled beds: inside an installed wheel, else the source checkout's."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "beds", package.parent / "ambience"):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise AudioError(
        f"bundled ambience not found (looked in {package / 'beds'} and "
        f"{package.parent / 'ambience'}); reinstall voiceguide"
    )


@functools.lru_cache(maxsize=1)
def _manifest() -> tuple[BedInfo, ...]:
    """Every manifest entry, chime included (read once: it never changes while running)."""
    folder = bundled_dir()
    entries = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return tuple(
        BedInfo(
            name=e["name"],
            description=e["description"],
            seconds=float(e["seconds"]),
            licence=e["licence"],
            path=folder / e["file"],
            loop=bool(e.get("loop", True)),
            lufs=e.get("lufs"),
            peak_dbtp=e.get("peak_dbtp"),
        )
        for e in entries
    )


def bundled_info(name: str) -> BedInfo:
    """The manifest entry of a bundled bed or the chime."""
    return next(info for info in _manifest() if info.name == name)


def list_beds() -> list[BedInfo]:
    """The bundled beds a routine can name (the step-change chime is not a bed)."""
    return [info for info in _manifest() if info.loop and info.name != CHIME]


def ffmpeg_exe() -> str:
    """Path of the ffmpeg bundled with imageio-ffmpeg (no system ffmpeg or ffprobe needed)."""
    import imageio_ffmpeg  # imported lazily: it looks for its binary on import

    return imageio_ffmpeg.get_ffmpeg_exe()


def decode(
    path: Path | str, rate: int = SESSION_RATE, channels: int = 2, max_seconds: float | None = None
) -> np.ndarray:
    """Decode any audio file ffmpeg reads to float32 ``(n, channels)`` at ``rate``.

    Raises AudioError (one line naming the file) when it is missing, not audio, or empty.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-vn"]
    if max_seconds is not None:
        cmd += ["-t", f"{max_seconds:.3f}"]
    cmd += ["-f", "f32le", "-ac", str(channels), "-ar", str(rate), "-"]
    limit = None if max_seconds is None else int(max_seconds * rate) + rate
    samples = _read_pcm(cmd, path, channels, limit)
    if samples.shape[0] == 0:
        raise AudioError(f"{path}: contains no audio")
    np.clip(samples, -1.0, 1.0, out=samples)
    return samples


#: Bytes read from ffmpeg at a time: decoding holds one block beyond the result.
_READ_BLOCK = 1 << 20


def _read_pcm(cmd: list[str], path: Path, channels: int, limit: int | None) -> np.ndarray:
    """ffmpeg's float32 output read block by block straight into its final array.

    With a frame ``limit`` the array is allocated once at that size (and
    trimmed as a view), so a long file costs no more than the limit and is
    never held twice, as a bytes object and as samples.
    """
    frame = 4 * channels
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL,
            preexec_fn=child_dies_with_parent(),
        )  # fmt: skip
        assert proc.stdout is not None
        full = False
        try:
            if limit is not None:
                out = np.empty((limit, channels), dtype=np.float32)
                view = memoryview(out).cast("B")
                filled = 0
                while filled < len(view):
                    got = proc.stdout.readinto(view[filled : filled + _READ_BLOCK])
                    if not got:
                        break
                    filled += got
                full = filled == len(view)  # enough: ffmpeg need not finish
                samples = out[: filled // frame]
            else:
                data = b"".join(iter(lambda: proc.stdout.read(_READ_BLOCK), b""))  # type: ignore[union-attr]
                samples = np.frombuffer(data, dtype="<f4").reshape(-1, channels).copy()
        finally:
            proc.stdout.close()
            if full or sys.exc_info()[0] is not None:
                proc.kill()
            code = proc.wait()
        if code != 0 and not full:
            errors.seek(0)
            raise AudioError(f"{path}: cannot decode audio ({_last_line(errors.read())})")
    return samples


def _last_line(stderr: bytes) -> str:
    """ffmpeg's most specific complaint is its last line; keep the error to one line."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "ffmpeg failed"


@functools.lru_cache(maxsize=8)
def _bundled_loop(name: str) -> np.ndarray:
    """Decode a bundled file once per process; read-only so no caller can spoil the cache.

    Decoding Vorbis takes a tenth of a second or more, which live playback
    cannot spare before its first block, so the decoded samples are also kept
    on disk (int16, keyed by the file's hash) and later runs just read them.
    """
    info = bundled_info(name)
    data = info.path.read_bytes()
    cached = cache_dir() / "beds" / f"{name}-{hashlib.sha1(data).hexdigest()[:16]}.npy"
    try:
        pcm = np.load(cached)
    except (OSError, ValueError):
        pcm = np.clip(np.round(decode(info.path) * 32768.0), -32768, 32767).astype("<i2")
        _store_decoded(cached, pcm)
    loop = pcm.astype(np.float32) / np.float32(32768.0)  # the same samples, cached or not
    loop.setflags(write=False)
    return loop


def _bundled_powers(info: BedInfo) -> np.ndarray | None:
    """The loop's K-weighted 100 ms powers, measured when the bed was made (None if absent)."""
    try:
        return np.load(info.path.with_name(f"{info.name}.powers.npy"))
    except (OSError, ValueError):
        return None


def _store_decoded(path: Path, pcm: np.ndarray) -> None:
    """Best effort: a read-only or full cache folder only costs the next run a decode."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, pcm)
        os.replace(tmp, path)
    except OSError:
        pass


def load_chime() -> np.ndarray:
    """The soft step-change chime, float32 ``(n, 2)`` at SESSION_RATE (read-only, cached)."""
    return _bundled_loop(CHIME)


class Bed:
    """A loopable bed in memory, readable at any absolute sample index."""

    def __init__(
        self,
        name: str,
        loop: np.ndarray,
        rate: int = SESSION_RATE,
        info: BedInfo | None = None,
        *,
        powers: np.ndarray | None = None,
        peak_dbtp: float | None = None,
    ) -> None:
        if loop.ndim != 2 or loop.shape[1] != 2 or loop.shape[0] == 0:
            raise ValueError("a bed's loop must be a non-empty (n, 2) array")
        self.name = name
        self.loop = loop
        self.rate = rate
        # Known levels of a bundled bed spare the mixer a measurement (and a
        # slow scipy import) before live playback's first block.
        self.lufs = info.lufs if info else None
        self.peak_dbtp = info.peak_dbtp if info else peak_dbtp
        self.powers = _bundled_powers(info) if info else powers

    def __repr__(self) -> str:
        return f"Bed({self.name!r}, {self.seconds:.1f} s)"

    @property
    def seconds(self) -> float:
        return self.loop.shape[0] / self.rate

    @classmethod
    def load(cls, spec: str, base_dir: Path | None = None, *, wait: bool = True) -> Bed:
        """A bundled bed by name (``river``) or an audio file (relative to ``base_dir``).

        ``wait=False``: a file's bed is returned while it is still being decoded.
        """
        names = [info.name for info in list_beds()]
        if spec in names:
            return cls(spec, _bundled_loop(spec), info=bundled_info(spec))
        path = Path(spec).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        if path.suffix or "/" in spec or "\\" in spec or path.exists():
            return cls.from_file(path, wait=wait)
        raise AudioError(_unknown_name(spec, names))

    @classmethod
    def from_file(cls, path: Path, wait: bool = True) -> Bed:
        """A user's recording, trimmed, capped at MAX_LOOP_SECONDS and cross-faded into a loop.

        Memory is bounded by the cap, not by the file. With ``wait=False`` (live
        playback) it returns at once and plays from the first decoded second;
        see :mod:`voiceguide.userbed`. The loop and its measurements are kept in
        the cache, so the next session with this bed starts at once.
        """
        from voiceguide.userbed import UserBed

        return UserBed.open(path, wait=wait)

    @property
    def period(self) -> int:
        """Samples per repetition of the loop."""
        return self.loop.shape[0]

    @property
    def powers_period(self) -> int:
        """The samples ``powers`` describe, repeating (the loop, unless only its opening)."""
        return self.loop.shape[0]

    def read(self, start: int, count: int) -> np.ndarray:
        """``count`` frames from absolute index ``start`` of the endlessly repeated loop.

        A pure function of (start, count): blocks cut anywhere join into the same signal.
        """
        n = self.loop.shape[0]
        out = np.empty((count, 2), dtype=np.float32)
        filled, pos = 0, start % n
        while filled < count:
            take = min(count - filled, n - pos)
            out[filled : filled + take] = self.loop[pos : pos + take]
            filled, pos = filled + take, 0
        return out


def _unknown_name(spec: str, names: list[str]) -> str:
    close = difflib.get_close_matches(spec, names, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (
        f"unknown ambience '{spec}': {hint}bundled beds are {', '.join(names)}; "
        "or give a path to an mp3/ogg/wav/flac file"
    )
