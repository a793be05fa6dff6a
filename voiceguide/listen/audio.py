"""Audio into the listener: files through the bundled ffmpeg, levels, resampling.

Everything the recognizer sees is 16 kHz mono float32, the rate its model was
trained at. Files are decoded by the same bundled ffmpeg the rest of
voiceguide uses and read in blocks, so a long recording is never held whole.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from voiceguide.errors import AudioError

RATE = 16_000
#: Below this level (dBFS, RMS) a microphone is taken to be muted or unplugged.
MUTED_DB = -75.0


def read_blocks(path: Path | str, seconds: float = 0.5) -> Iterator[np.ndarray]:
    """A file as 16 kHz mono float32 blocks; AudioError (one line) if it is not audio."""
    from voiceguide.ambience import _last_line, ffmpeg_exe

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-vn",
           "-f", "f32le", "-ac", "1", "-ar", str(RATE), "-"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    size = int(seconds * RATE) * 4
    got = 0
    try:
        while chunk := proc.stdout.read(size):
            usable = len(chunk) // 4 * 4
            got += usable
            yield np.frombuffer(chunk[:usable], "<f4").copy()
        error = proc.stderr.read()
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if proc.returncode != 0 and got == 0:
        raise AudioError(f"{path}: not an audio file ffmpeg can read ({_last_line(error)})")
    if got == 0:
        raise AudioError(f"{path}: contains no audio")


def level_db(block: np.ndarray) -> float:
    """RMS level in dBFS (−120 for exact silence)."""
    if block.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(block.astype(np.float64) ** 2)))
    return max(-120.0, 20 * np.log10(rms + 1e-12))


class Resampler:
    """Blocks at any rate (mono or (n, channels)) to 16 kHz mono, block by block.

    Each piece is filtered with one ``down`` period of real audio either side
    (so block edges do not click); that costs ``down`` samples of delay.
    """

    def __init__(self, rate: int) -> None:
        g = int(np.gcd(int(rate), RATE))
        self.up, self.down = RATE // g, int(rate) // g
        self._buf = np.zeros(self.down, np.float32)  # context before the next piece

    def __call__(self, block: np.ndarray) -> np.ndarray:
        mono = (block.mean(axis=1) if block.ndim == 2 else block).astype(np.float32)
        if self.up == self.down:
            return mono
        c = self.down
        self._buf = np.concatenate([self._buf, mono])
        n = (len(self._buf) - 2 * c) // c * c  # whole periods with context on both sides
        if n <= 0:
            return np.zeros(0, np.float32)
        y = resample_poly(self._buf[: n + 2 * c], self.up, self.down)
        out = y[self.up : self.up + n * self.up // self.down]
        self._buf = self._buf[n:]
        return out.astype(np.float32)
