"""A user's own bed: decoded in blocks up to the loop cap, so memory follows the cap and
not the file; measured once and cached, so the next session starts at once."""

from __future__ import annotations

import itertools
import subprocess
import threading
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


# ------------------------------------------------------------------ live: from the first second

#: Longer than the loop cap (240 s plus cross-fade room): decoding it takes a while.
LONG = 250


@pytest.fixture(scope="module")
def long_bed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bed of LONG seconds of pink noise as MP3, the format users bring."""
    path = tmp_path_factory.mktemp("long") / "long.mp3"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
         "anoisesrc=c=pink:r=44100:a=0.1:seed=5,aformat=channel_layouts=stereo",
         "-t", str(LONG), "-b:a", "64k", str(path)], check=True,
    )  # fmt: skip
    return path


def _fresh(path: Path, tmp_path: Path) -> Path:
    """The same file under a new name: a bed the cache has never seen."""
    copy = tmp_path / f"fresh-{time.monotonic_ns()}.mp3"
    copy.write_bytes(path.read_bytes())
    return copy


def _continue(pid: int) -> None:
    """SIGCONT, if ffmpeg is still there (by then it has usually been killed and reaped)."""
    import contextlib
    import os
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


def _decode_only_the_opening(bed: Bed) -> None:
    """Let ffmpeg run in short slices until the opening is decoded, then keep it stopped,
    so the test knows the rest of the file is not decoded (whatever the machine's speed)."""
    import os
    import signal

    from voiceguide.userbed import OPENING_SECONDS

    decoding = bed._decoding  # type: ignore[attr-defined]
    pid = decoding.process.pid
    os.kill(pid, signal.SIGSTOP)
    # Never a hang: should a read wait for the whole file, ffmpeg goes on after a while
    # and the test fails on what it checks, instead of waiting forever.
    resume = threading.Timer(30, _continue, (pid,))
    resume.daemon = True
    resume.start()
    deadline = time.monotonic() + 30
    while decoding.known() < (OPENING_SECONDS + 5) * 44100 and time.monotonic() < deadline:
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.002)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(0.01)  # the reading thread catches up with the pipe
    assert decoding.period is None, "the whole file was decoded: nothing left to test"


def test_live_bed_plays_before_it_is_decoded_and_every_sample_stays_put(
    tmp_path: Path, long_bed: Path
) -> None:
    """Live playback needs only the opening: level and first blocks come while ffmpeg is
    stopped. What was played is what any later read (and the cache) gives."""
    import os
    import signal

    from support.routines import SHORT

    from voiceguide.compiler import Options, compile
    from voiceguide.live import live_beds
    from voiceguide.mixer import ClipBank, Mixer
    from voiceguide.routine import loads

    path = _fresh(long_bed, tmp_path)
    script = compile(loads(SHORT), Options(ambience=str(path)))
    bed = live_beds(script)[str(path)]
    decoding = bed._decoding  # type: ignore[attr-defined]
    try:
        _decode_only_the_opening(bed)
        bank = ClipBank()
        for cue in script.cues:
            bank.placeholder(cue.text, cue.length)
        mixer = Mixer(script, bank, {str(path): bed})
        gain, _ = mixer.levels  # from the opening alone
        first = mixer.render(0, 10 * 44100)
        assert np.abs(first[5 * 44100 :]).max() > 0.01  # the bed sounds, past the fade-in
        cuts = [0, 1, 4410, 77_777, 300_000, 20 * 44100]
        played = [bed.read(a, b - a) for a, b in itertools.pairwise(cuts)]
        assert decoding.period is None  # ffmpeg is still stopped: the file is not decoded
    finally:
        os.kill(decoding.process.pid, signal.SIGCONT)
    decoding.wait(lambda: decoding.stored)
    assert np.array_equal(np.concatenate(played), bed.read(0, cuts[-1]))
    period = bed.period
    assert abs(period / 44100 - 240) < 0.1  # capped: the loop is four minutes
    # Across the end of the first pass and into the loop, cut anywhere: the same signal.
    start, total = period - 12_345, period + 3 * 44100 + 99
    whole = bed.read(start, total)
    edges = [0, 5, 12_345, 60_000, total]
    pieces = [bed.read(start + a, b - a) for a, b in itertools.pairwise(edges)]
    assert np.array_equal(whole, np.concatenate(pieces))
    assert np.abs(np.diff(whole, axis=0)).max() < 0.5  # no click where the loop begins
    cached = Bed.from_file(path)  # the next session: from the cache, the very same samples
    assert np.array_equal(cached.read(0, cuts[-1]), np.concatenate(played))
    assert np.array_equal(cached.read(start, total), whole)
    assert np.array_equal(cached.read(5 * period + 7, 1000), bed.read(5 * period + 7, 1000))
    # A render (and the next live session) uses the whole loop's level: close to the opening's.
    later = Mixer(script, bank, {str(path): cached})
    assert abs(20 * np.log10(later.levels[0] / gain)) < 0.5


def test_a_bed_that_breaks_after_playback_began_stops_it_with_one_line(
    tmp_path: Path, long_bed: Path
) -> None:
    import os
    import signal

    from voiceguide.errors import AudioError

    path = _fresh(long_bed, tmp_path)
    bed = Bed.load(str(path), wait=False)
    _decode_only_the_opening(bed)
    assert np.abs(bed.read(44100, 44100)).max() > 0.01  # playing
    os.kill(bed._decoding.process.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    with pytest.raises(AudioError) as caught:
        bed._decoding.wait(lambda: False)  # type: ignore[attr-defined]
    with pytest.raises(AudioError) as again:
        bed.read(2 * 44100, 4410)  # even where it was decoded: the session stops
    text = str(again.value)
    assert text == str(caught.value) and "\n" not in text
    assert str(path) in text and "cannot decode audio" in text


def test_play_sounds_before_an_unseen_long_bed_is_measured(tmp_path: Path, long_bed: Path) -> None:
    """`voiceguide play --ambience FILE` with a file never seen: the first sound reaches the
    device (ALSA's file plugin) before the bed is decoded, measured and cached (seconds
    later, behind the sound), where it used to come only after all of that."""
    import sys

    from support.alsa import alsa_home
    from support.routines import SHORT

    from voiceguide.paths import cache_dir
    from voiceguide.userbed import bed_key

    path = _fresh(long_bed, tmp_path)
    cached = cache_dir() / "beds" / f"user-{bed_key(path)}.npy"
    env, capture = alsa_home(tmp_path)
    (tmp_path / "r.yaml").write_text(SHORT)
    proc = subprocess.Popen([sys.executable, "-m", "voiceguide", "play", "r.yaml", "--ambience",
                             str(path)], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        heard = measured = False
        deadline = time.monotonic() + 60
        while not heard and proc.poll() is None and time.monotonic() < deadline:
            heard = any(np.fromfile(f, dtype="<i2").any() for f in capture.glob("out.raw*"))
            measured = cached.exists()  # looked at after the sound was
            time.sleep(0.005)
        assert heard, proc.stderr.read().decode() if proc.stderr else ""
        assert not measured  # the sound came first
    finally:
        proc.terminate()
        proc.wait(timeout=30)
