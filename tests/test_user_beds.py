"""A user's own bed: decoded in blocks up to the loop cap, so memory follows the cap and
not the file; measured once and cached, so the next session starts at once."""

from __future__ import annotations

import subprocess
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from voiceguide import ambience
from voiceguide.ambience import Bed, ffmpeg_exe
from voiceguide.loudness import hop_powers, true_peak_db


def _noise_bed(path: Path, seconds: float) -> Path:
    """Pink noise with a tone that peaks between samples, encoded by the real ffmpeg."""
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
         "anoisesrc=c=pink:r=44100:a=0.05:seed=3,aformat=channel_layouts=stereo",
         "-f", "lavfi", "-i", "sine=f=11025:r=44100,volume=0.3",
         "-filter_complex", "[0][1]amix=inputs=2:normalize=0", "-t", str(seconds),
         "-c:a", "flac", str(path)], check=True,
    )  # fmt: skip
    return path


#: The loop cap, lowered for speed: what is tested is that memory follows the cap.
CAP = 40.0


@pytest.fixture
def capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ambience, "MAX_LOOP_SECONDS", CAP)


def _traced_load(path: Path) -> tuple[Bed, int]:
    import scipy.signal  # noqa: F401 - imported by every render already; not the bed's memory

    tracemalloc.start()
    try:
        bed = Bed.from_file(path)
        return bed, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.usefixtures("capped")
def test_memory_follows_the_loop_cap_not_the_file(tmp_path: Path) -> None:
    peaks = []
    for seconds in (CAP + 20, 3 * CAP):
        bed, peak = _traced_load(_noise_bed(tmp_path / f"b{seconds:g}.flac", seconds))
        assert abs(bed.seconds - CAP) < 0.5  # capped (the cross-fade uses the extra room)
        peaks.append(peak)
        # One float32 array of the capped length plus fixed working blocks (10 s ones
        # in float64 for the loudness filter): the loop is never held twice (the old
        # decode held three to four copies of it).
        assert peak < bed.loop.nbytes * 1.2 + 32 * 2**20, (peak / 2**20, bed.loop.nbytes / 2**20)
    assert peaks[1] < peaks[0] * 1.1  # a file three times as long costs the same


def test_measurements_match_the_whole_loop_and_come_back_from_the_cache(tmp_path: Path) -> None:
    bed = Bed.from_file(_noise_bed(tmp_path / "bed.flac", 25))
    assert bed.powers is not None and bed.peak_dbtp is not None
    whole = hop_powers(bed.loop, 44100)
    assert len(bed.powers) == len(whole)
    assert np.allclose(bed.powers, whole, rtol=1e-6, atol=1e-12)
    assert abs(bed.peak_dbtp - true_peak_db(bed.loop)) < 0.05
    started = time.perf_counter()
    again = Bed.from_file(tmp_path / "bed.flac")
    assert time.perf_counter() - started < 2.0
    assert np.array_equal(again.loop, bed.loop)  # the cached loop is the very same samples
    assert np.array_equal(again.powers, bed.powers) and again.peak_dbtp == bed.peak_dbtp


def test_a_changed_file_is_measured_again(tmp_path: Path) -> None:
    path = _noise_bed(tmp_path / "bed.flac", 8)
    first = Bed.from_file(path)
    _noise_bed(path, 6)
    second = Bed.from_file(path)
    assert abs(second.seconds - first.seconds) > 1
