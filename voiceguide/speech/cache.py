"""The clip cache: one verified file per clip, written atomically."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from voiceguide.loudness import hop_powers_fft as hop_powers  # no scipy in a worker
from voiceguide.paths import cache_dir, replace_file
from voiceguide.pcm import int16_true_peak, to_int16
from voiceguide.speech.settings import CLIP_RATE, Clip

_MAGIC = b"VGCLIP1\0"
#: The default size limit; `[cache] max_mb` in the config file changes it.
DEFAULT_LIMIT_MB = 500


def default_cache_dir() -> Path:
    """``$VOICEGUIDE_CACHE_DIR`` or the platform's user cache folder."""
    return cache_dir()


def configured_limit_mb() -> float:
    """``[cache] max_mb`` from the user's config file, else :data:`DEFAULT_LIMIT_MB`."""
    from voiceguide.config import cache_limit_mb, load_config  # config imports speech

    return cache_limit_mb(load_config())


class ClipCache:
    """Clips on disk, one file each, written atomically and verified on read.

    A file is ``magic | header length | JSON header (sizes, sha256) | samples
    (float32) | hop powers (float64)``. Anything that fails the checks —
    truncated, bit-flipped, half-written — is treated as missing and re-made.
    """

    def __init__(self, root: Path | None = None, limit_mb: float | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.clips_dir = self.root / "clips"
        self._limit_mb = limit_mb

    @property
    def limit_bytes(self) -> int:
        """The size limit: as given, else the user's ``[cache] max_mb`` (read when first needed).

        Every command that fills the cache (render, play, serve, say) builds its
        cache without naming a limit, so the config's limit holds for all of them.
        """
        if self._limit_mb is None:
            self._limit_mb = configured_limit_mb()
        return int(self._limit_mb * 1e6)

    def writable(self) -> str | None:
        """None if clips can be stored here, else why not (read-only, full, not a folder).

        Checked by writing a small probe file the way :meth:`store` writes,
        so a read-only folder, a full disk or a cache path that is a file all
        show up before any work.
        """
        try:
            self.clips_dir.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.clips_dir, prefix=".probe-", suffix=".tmp")
            try:
                os.write(fd, b"\0" * 4096)  # no fsync: it can take a second on a busy disk
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as err:
            return err.strerror or str(err)
        return None

    def path_for(self, key: str) -> Path:
        return self.clips_dir / key[:2] / f"{key}.clip"

    def load(self, key: str) -> Clip | None:
        """The cached clip, or None if it is missing or damaged."""
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        clip = decode_clip(data)
        if clip is not None:
            with contextlib.suppress(OSError):  # last use, for least-recently-used eviction
                os.utime(path)
        return clip

    def store(self, key: str, samples: np.ndarray) -> Path:
        """Write atomically (temp file in the same folder, then rename)."""
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = encode_clip(samples)
        replace_file(path, data)
        return path

    def entries(self) -> Iterator[Path]:
        if self.clips_dir.is_dir():
            yield from self.clips_dir.glob("*/*.clip")

    def info(self) -> dict[str, Any]:
        """Folder, number of clips, bytes on disk and the size limit."""
        sizes = [size for _, size, _ in self._stats()]
        return {"folder": str(self.root), "entries": len(sizes), "bytes": sum(sizes),
                "limit_bytes": self.limit_bytes}  # fmt: skip

    def _stats(self) -> list[tuple[float, int, Path]]:
        out = []
        for f in self.entries():
            with contextlib.suppress(OSError):
                st = f.stat()
                out.append((st.st_mtime, st.st_size, f))
        return out

    def evict_now_and_then(self, every: float = 600.0) -> int:
        """:meth:`evict`, at most every ``every`` seconds per cache folder.

        Eviction looks at every clip's file; done after each session it would
        cost a live session's threads time for nothing, so a marker file's age
        spaces it out.
        """
        import time

        marker = self.root / ".last-eviction"
        with contextlib.suppress(OSError):
            if time.time() - marker.stat().st_mtime < every:
                return 0
        with contextlib.suppress(OSError):
            marker.touch()
        return self.evict()

    def evict(self) -> int:
        """Delete the least recently used clips until the cache fits its limit; return how many.

        A clip's modification time is its last use (:meth:`load` touches it),
        so clips of the session being made are the newest and go last.
        """
        stats = sorted(self._stats())
        total = sum(size for _, size, _ in stats)
        removed = 0
        for _, size, path in stats:
            if total <= self.limit_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
                removed += 1
        return removed

    def clear(self) -> int:
        """Delete our files only (clips, temp files, voice lists); return how many clips."""
        count = len(list(self.entries()))
        if self.clips_dir.is_dir():
            shutil.rmtree(self.clips_dir)
        for listing in self.root.glob("voices-*.json"):
            listing.unlink(missing_ok=True)
        return count


def encode_clip(samples: np.ndarray) -> bytes:
    """Serialize a clip with its hop powers, its true peak as 16-bit samples, and a digest."""
    s = np.ascontiguousarray(samples, dtype="<f4")
    p = np.ascontiguousarray(hop_powers(s, CLIP_RATE), dtype="<f8")
    payload = s.tobytes() + p.tobytes()
    header = json.dumps(
        {
            "rate": CLIP_RATE,
            "samples": int(s.size),
            "powers": int(p.size),
            "peak": int16_true_peak(to_int16(s)),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
    ).encode()
    return _MAGIC + struct.pack("<I", len(header)) + header + payload


def decode_clip(data: bytes) -> Clip | None:
    """Parse and verify; None for anything not exactly what :func:`encode_clip` wrote."""
    start = len(_MAGIC) + 4
    if len(data) < start or not data.startswith(_MAGIC):
        return None
    (hlen,) = struct.unpack_from("<I", data, len(_MAGIC))
    try:
        header = json.loads(data[start : start + hlen])
        n, m, digest = int(header["samples"]), int(header["powers"]), header["sha256"]
        peak = header.get("peak")  # clips cached before it was kept have none
        peak = None if peak is None else float(peak)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    payload = data[start + hlen :]
    if len(payload) != 4 * n + 8 * m or hashlib.sha256(payload).hexdigest() != digest:
        return None
    # The samples are a view of the file's bytes (read-only; copying them cost a warm render
    # a tenth of its speech stage). The powers, which a render keeps for every clip, are
    # copied: a view would keep the whole file's bytes alive with them.
    samples = np.frombuffer(payload, dtype="<f4", count=n)
    powers = np.frombuffer(payload, dtype="<f8", count=m, offset=4 * n).copy()
    powers.setflags(write=False)
    return Clip(samples=samples, rate=int(header["rate"]), powers=powers, peak=peak)
