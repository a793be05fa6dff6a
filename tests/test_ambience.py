"""Ambience beds: bundled files are what the manifest says, loop without a seam, and
sound like their names; user files loop via a cross-fade; errors are one clear line.

Everything is real: the bundled Ogg files are decoded by the bundled ffmpeg.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.io import wavfile
from scipy.signal import find_peaks

from voiceguide.ambience import (
    SESSION_RATE,
    Bed,
    bundled_dir,
    decode,
    list_beds,
    load_chime,
)
from voiceguide.cli import main
from voiceguide.errors import AudioError

RATE = SESSION_RATE
MANIFEST = json.loads((bundled_dir() / "manifest.json").read_text())
BED_NAMES = [entry["name"] for entry in MANIFEST if entry.get("loop", True)]


def frame_db(x: np.ndarray, frame: int) -> np.ndarray:
    """Level (dBFS) of consecutive frames of ``frame`` samples, both channels together."""
    m = x.shape[0] // frame
    return 10 * np.log10(np.mean(x[: m * frame].reshape(m, frame, -1) ** 2, axis=(1, 2)) + 1e-12)


def wrap_is_smooth(loop: np.ndarray) -> bool:
    """The jump from the last sample to the first is no bigger than the loop's own 99.9 %ile."""
    normal = np.percentile(np.abs(np.diff(loop, axis=0)), 99.9, axis=0)
    return bool(np.all(np.abs(loop[0] - loop[-1]) <= normal))


def transient_share(x: np.ndarray) -> float:
    """Share of 10 ms frames at least 6 dB louder than the median of the 0.5 s around them."""
    levels = frame_db(x, RATE // 100)
    pad = np.pad(levels, 25, mode="wrap")
    windows = np.lib.stride_tricks.sliding_window_view(pad, 51)
    return float(np.mean(levels > np.median(windows, axis=1) + 6.0))


def band_share(x: np.ndarray, lo: float, hi: float) -> float:
    power = np.abs(np.fft.rfft(x.mean(axis=1))) ** 2
    freqs = np.fft.rfftfreq(x.shape[0], 1 / RATE)
    return float(power[(freqs >= lo) & (freqs < hi)].sum() / power.sum())


def same_spectrum_noise(x: np.ndarray) -> np.ndarray:
    """Stationary noise with exactly the magnitude spectrum of ``x`` (random phases)."""
    rng = np.random.default_rng(7)
    spec = np.fft.rfft(x, axis=0)
    phases = np.exp(2j * np.pi * rng.uniform(size=spec.shape))
    return np.fft.irfft(np.abs(spec) * phases, x.shape[0], axis=0)


# --------------------------------------------------------------------------- bundled beds


def test_manifest_lists_beds_and_chime_with_licence() -> None:
    names = {entry["name"] for entry in MANIFEST}
    assert {"river", "rain", "ocean", "music-pad", "music-bells", "chime"} <= names
    assert all(entry["licence"] == "CC0-1.0" for entry in MANIFEST)
    assert "chime" not in [bed.name for bed in list_beds()]
    assert (bundled_dir() / "LICENSE.md").read_text().count("CC0") >= 1
    total = sum((bundled_dir() / entry["file"]).stat().st_size for entry in MANIFEST)
    assert total < 6_000_000


@pytest.mark.parametrize("name", BED_NAMES)
def test_bed_decodes_as_stated(name: str) -> None:
    info = next(bed for bed in list_beds() if bed.name == name)
    bed = Bed.load(name)
    assert bed.rate == RATE
    assert bed.loop.dtype == np.float32 and bed.loop.shape[1] == 2
    assert abs(bed.loop.shape[0] / RATE - info.seconds) <= 0.1
    peak = np.max(np.abs(bed.loop))
    assert 0.01 < peak < 0.9, "silent or close to clipping"
    assert np.std(bed.loop[:, 0] - bed.loop[:, 1]) > 0.05 * np.std(bed.loop), "not stereo"


@pytest.mark.parametrize("name", BED_NAMES)
def test_bed_loops_without_a_click(name: str) -> None:
    bed = Bed.load(name)
    n = bed.loop.shape[0]
    assert wrap_is_smooth(bed.loop)
    normal = np.percentile(np.abs(np.diff(bed.loop, axis=0)), 99.9, axis=0)
    for start in (n - 1, 5 * n - 300):  # straddle the wrap, also several loops later
        joined = np.concatenate([bed.read(start, 150), bed.read(start + 150, 150)])
        assert np.all(np.abs(np.diff(joined, axis=0)) <= normal * 1.5)


def test_click_check_catches_a_bad_loop_point() -> None:
    """Cutting the pad short of its period leaves a jump the check must see."""
    pad = Bed.load("music-pad").loop
    assert not wrap_is_smooth(pad[: -RATE // 7])


def test_bed_levels_line_up() -> None:
    """Beds are interchangeable in the mixer: their RMS levels sit within a few dB."""
    levels = [10 * np.log10(np.mean(Bed.load(name).loop ** 2)) for name in BED_NAMES]
    assert max(levels) - min(levels) < 8.0


def test_read_is_the_same_however_blocks_are_cut() -> None:
    bed = Bed.load("music-pad")
    n = bed.loop.shape[0]
    start, total = 3 * n - 12_345, 2 * n + 777
    whole = bed.read(start, total)
    rng = np.random.default_rng(1)
    cuts = np.sort(rng.choice(np.arange(1, total), size=40, replace=False))
    edges = [0, *cuts.tolist(), total]
    pieces = [bed.read(start + a, b - a) for a, b in itertools.pairwise(edges)]
    assert np.array_equal(whole, np.concatenate(pieces))
    assert np.array_equal(whole[:100], bed.loop[n - 12_345 : n - 12_245])
    assert np.array_equal(bed.read(10**9, 64), bed.loop[10**9 % n : 10**9 % n + 64])


def test_river_is_moving_water_not_plain_noise() -> None:
    river = Bed.load("river").loop.astype(np.float64)
    assert band_share(river, 200, 4000) > 0.8
    swell = frame_db(river, RATE // 2)
    assert swell.max() - swell.min() > 8.0, "no slow changes in level"
    assert transient_share(river) > 0.02, "no bubbling events"
    # The same checks reject stationary noise of the very same spectrum, so they mean something.
    plain = same_spectrum_noise(river)
    plain_swell = frame_db(plain, RATE // 2)
    assert plain_swell.max() - plain_swell.min() < 3.0
    assert transient_share(plain) < 0.002


def test_rain_has_droplets_and_ocean_has_swells() -> None:
    rain = Bed.load("rain").loop.astype(np.float64)
    assert band_share(rain, 1000, 10000) > 0.5, "rain should be bright hiss and clicks"
    swell = frame_db(rain, RATE // 2)
    assert swell.max() - swell.min() < 6.0, "rain should be steady"
    ocean = Bed.load("ocean").loop.astype(np.float64)
    level = frame_db(ocean, RATE // 2)
    spectrum = np.abs(np.fft.rfft(level - level.mean()))
    strongest = int(np.argmax(spectrum[1:])) + 1
    period = ocean.shape[0] / RATE / strongest
    assert 7.0 <= period <= 13.0, f"swell period {period:.1f} s"
    assert level.max() - level.min() > 6.0


def nearest_semitone_cents(freq: float) -> float:
    midi = 69 + 12 * np.log2(freq / 440.0)
    return float(abs(midi - round(midi)) * 100)


def test_bells_have_clear_pitched_partials() -> None:
    bells = Bed.load("music-bells").loop.astype(np.float64).mean(axis=1)
    power = np.abs(np.fft.rfft(bells)) ** 2
    freqs = np.fft.rfftfreq(bells.size, 1 / RATE)
    band = (freqs > 550) & (freqs < 2000)  # the bell register, above the pad
    peaks, props = find_peaks(power[band], distance=int(30 * bells.size / RATE), height=0)
    strongest = peaks[np.argsort(props["peak_heights"])[::-1][:6]]
    assert len(strongest) == 6
    for index in strongest:  # six distinct partials, each on the equal-tempered scale
        assert nearest_semitone_cents(freqs[band][index]) < 20
    assert power[band].max() > 1000 * np.median(power[band])  # tonal, not noise


def test_chime_is_one_soft_decaying_note() -> None:
    chime = load_chime()
    assert chime.dtype == np.float32 and chime.shape[1] == 2
    assert 2.2 <= chime.shape[0] / RATE <= 2.8
    levels = frame_db(chime, RATE // 10)
    assert levels[-3] < levels[1] - 12.0, "should decay"
    assert np.max(np.abs(chime[:20])) < 0.01 and np.max(np.abs(chime[-20:])) < 0.01
    power = np.abs(np.fft.rfft(chime.mean(axis=1))) ** 2
    peak = np.fft.rfftfreq(chime.shape[0], 1 / RATE)[np.argmax(power)]
    assert nearest_semitone_cents(peak) < 20


# --------------------------------------------------------------------------- user files


def sweep(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * 200 * seconds / np.log(4) * (4 ** (t / seconds) - 1)  # 200 → 800 Hz
    return 0.5 * np.sin(phase)


def test_user_wav_loops_with_a_crossfade(tmp_path: Path) -> None:
    raw = sweep(8.0, 22050)
    wavfile.write(tmp_path / "sweep.wav", 22050, (raw * 32767).astype(np.int16))  # mono, 22 kHz
    bed = Bed.load("sweep.wav", base_dir=tmp_path)
    assert bed.name == "sweep.wav" and bed.loop.shape[1] == 2
    assert abs(bed.loop.shape[0] / RATE - 6.0) < 0.05  # 8 s minus a 2 s cross-fade
    assert wrap_is_smooth(bed.loop)
    naive = decode(tmp_path / "sweep.wav")
    assert not wrap_is_smooth(naive), "the check must catch a plain wrap of the sweep"
    level = frame_db(bed.read(bed.loop.shape[0] - RATE, 2 * RATE), RATE // 20)
    assert level.max() - level.min() < 3.0, "equal-power fade keeps the level across the seam"


def test_long_user_file_is_capped(tmp_path: Path) -> None:
    import voiceguide.ambience as ambience

    wavfile.write(tmp_path / "long.wav", 8000, (sweep(20.0, 8000) * 32767).astype(np.int16))
    original = ambience.MAX_LOOP_SECONDS
    ambience.MAX_LOOP_SECONDS = 10.0  # a real 4-minute file would only slow the suite down
    try:
        bed = Bed.load(str(tmp_path / "long.wav"))
    finally:
        ambience.MAX_LOOP_SECONDS = original
    assert abs(bed.loop.shape[0] / RATE - 10.0) < 0.05


@pytest.mark.parametrize(
    ("make", "spec", "message"),
    [
        (None, "nowhere.mp3", "no such audio file"),
        ("text", "notes.mp3", "cannot decode audio"),
        ("short", "blip.wav", "too short to loop"),
        (None, "rivre", "did you mean 'river'"),
    ],
)
def test_bad_beds_give_one_clear_line(
    tmp_path: Path, make: str | None, spec: str, message: str
) -> None:
    if make == "text":
        (tmp_path / spec).write_text("this is not audio\n")
    if make == "short":
        wavfile.write(tmp_path / spec, RATE, (sweep(1.0, RATE) * 32767).astype(np.int16))
    with pytest.raises(AudioError) as caught:
        Bed.load(spec, base_dir=tmp_path)
    text = str(caught.value)
    assert message in text and "\n" not in text
    if make or spec.endswith(".mp3"):
        assert spec in text  # names the file


# --------------------------------------------------------------------------- CLI and import


def test_cli_lists_beds() -> None:
    result = CliRunner().invoke(main, ["ambience"])
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in BED_NAMES) and "chime" not in result.output


def test_cli_preview_writes_20_seconds_and_no_temp_file(tmp_path: Path) -> None:
    out = tmp_path / "river.ogg"
    result = CliRunner().invoke(main, ["ambience", "preview", "river", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["river.ogg"]
    audio = decode(out)
    assert abs(audio.shape[0] / RATE - 20.0) < 0.05
    assert np.max(np.abs(audio[:10])) < 0.01  # faded in


def test_cli_preview_errors_are_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["ambience", "preview", "rivr", "-o", str(tmp_path / "x.wav")]
    )
    assert result.exit_code != 0 and "did you mean 'river'" in result.output
    result = CliRunner().invoke(
        main, ["ambience", "preview", "river", "-o", str(tmp_path / "x.aiff")]
    )
    assert result.exit_code != 0 and "unsupported format" in result.output
    assert list(tmp_path.iterdir()) == []


def test_import_is_fast_and_does_not_touch_ffmpeg() -> None:
    code = "import sys, voiceguide.ambience; assert 'imageio_ffmpeg' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_preview_plays_through_the_sound_card(tmp_path: Path) -> None:
    """Without -o the preview is played: ALSA's file plugin captures what a card would get."""
    import subprocess
    import sys

    from support.alsa import alsa_home

    env, capture = alsa_home(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "voiceguide", "ambience", "preview", "rain",
                           "--seconds", "3"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "played 3.0 s of rain" in proc.stdout
    played = np.fromfile(capture / "out.raw", dtype="<i2").reshape(-1, 2)
    assert len(played) == 3 * SESSION_RATE
    assert np.abs(played).max() > 1000  # real sound, not silence
    assert not list(tmp_path.glob("*.wav"))  # nothing written when it could play
