"""BS.1770 loudness, checked against pyloudnorm (an independent implementation)."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
from scipy import signal

from voiceguide.loudness import (
    HopMeter,
    gated_loudness,
    hop_powers,
    integrated_loudness,
    k_weighting_sos,
    true_peak_db,
)

RNG = np.random.default_rng(1770)


def _speechlike(rate: int, seconds: float = 6.0) -> np.ndarray:
    """Bursts of a buzzy harmonic tone with pauses: a stand-in for a speech clip."""
    t = np.arange(int(rate * seconds)) / rate
    f0 = 110 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 30))
    envelope = (np.sin(2 * np.pi * 1.3 * t) > -0.2).astype(float)
    return 0.2 * voice * signal.savgol_filter(envelope, 801, 2)


SIGNALS = {
    "noise": lambda rate: RNG.normal(0, 0.1, rate * 5),
    "sine": lambda rate: 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate * 5) / rate),
    "bass": lambda rate: 0.4 * np.sin(2 * np.pi * 50 * np.arange(rate * 4) / rate),
    "speech": _speechlike,
    "stereo": lambda rate: RNG.normal(0, 0.05, (rate * 5, 2)) * [1.0, 0.5],
    "quiet-then-loud": lambda rate: np.concatenate(
        [RNG.normal(0, 0.001, rate * 3), RNG.normal(0, 0.2, rate * 3)]
    ),
}


@pytest.mark.parametrize("rate", [22_050, 44_100, 48_000])
@pytest.mark.parametrize("name", list(SIGNALS))
def test_integrated_loudness_matches_pyloudnorm(name: str, rate: int) -> None:
    x = SIGNALS[name](rate)
    ours = integrated_loudness(x, rate)
    theirs = pyloudnorm.Meter(rate).integrated_loudness(x)
    assert ours == pytest.approx(theirs, abs=0.2)


def test_full_scale_997_hz_sine_reads_minus_3_01() -> None:
    """The calibration point of BS.1770: exact at 48 kHz with the standard coefficients."""
    rate = 48_000
    x = np.sin(2 * np.pi * 997 * np.arange(rate * 5) / rate)
    assert integrated_loudness(x, rate) == pytest.approx(-3.01, abs=0.01)


def test_k_weighting_reproduces_the_48k_table() -> None:
    sos = k_weighting_sos(48_000)
    assert sos[0, :3] == pytest.approx([1.53512485958697, -2.69169618940638, 1.19839281085285])
    assert sos[0, 4:] == pytest.approx([-1.69065929318241, 0.73248077421585])
    assert sos[1, 4:] == pytest.approx([-1.99004745483398, 0.99007225036621])


def test_silence_is_minus_infinity() -> None:
    assert integrated_loudness(np.zeros(44_100), 44_100) == -math.inf
    assert gated_loudness(np.zeros(0)) == -math.inf
    assert true_peak_db(np.zeros(100), 44_100) == -math.inf


def test_short_signal_is_one_block() -> None:
    """A 0.3 s cue is shorter than a 400 ms block but still gets a loudness."""
    rate = 44_100
    x = RNG.normal(0, 0.1, int(0.3 * rate))
    powers = hop_powers(x, rate)
    assert len(powers) == 3
    assert math.isfinite(gated_loudness(powers))


def test_trailing_partial_hop_is_dropped() -> None:
    assert len(hop_powers(np.ones(44_100 + 4409), 44_100)) == 10


def test_hop_meter_streams_exactly() -> None:
    x = RNG.normal(0, 0.1, (44_100 * 3 + 777, 2))
    meter = HopMeter(44_100, channels=2)
    streamed = np.concatenate([meter.feed(x[i : i + 1234]) for i in range(0, len(x), 1234)])
    assert np.allclose(streamed, hop_powers(x, 44_100))


def test_gain_shifts_loudness_by_the_same_db() -> None:
    x = _speechlike(44_100)
    assert integrated_loudness(x * 0.5, 44_100) == pytest.approx(
        integrated_loudness(x, 44_100) - 6.0206, abs=1e-6
    )


def test_true_peak_sees_intersample_peaks() -> None:
    """A sine at fs/4 sampled at ±45° has sample peaks of 0.707 but a true peak of 1.0."""
    rate = 44_100
    x = np.sin(2 * np.pi * (rate / 4) * np.arange(4000) / rate + np.pi / 4)
    assert 20 * np.log10(np.max(np.abs(x))) == pytest.approx(-3.01, abs=0.01)
    assert true_peak_db(x, rate) == pytest.approx(0.0, abs=0.3)


def test_true_peak_equals_full_oversampling() -> None:
    from voiceguide.loudness import true_peak_fir

    x = RNG.normal(0, 0.2, (20_000, 2))
    over = signal.resample_poly(x, 4, 1, axis=0, window=true_peak_fir())
    assert true_peak_db(x, 44_100) == pytest.approx(20 * np.log10(np.max(np.abs(over))))


def test_interpolated_peaks_find_where_true_peaks_are() -> None:
    """Per-sample true peaks agree with full oversampling, to within the filter's reach."""
    from scipy import signal

    from voiceguide.loudness import interpolated_peaks, true_peak_fir

    rng = np.random.default_rng(3)
    x = np.zeros((4000, 2))
    x[1000:1010, 0] = [0.5, -0.5] * 5  # a burst at a quarter of the rate: high overshoot
    x[3000:3200, 1] = rng.standard_normal(200) * 0.2
    over = signal.resample_poly(x, 4, 1, axis=0, window=true_peak_fir())
    full = np.abs(over).reshape(-1, 4, 2).max(axis=(1, 2))
    local = interpolated_peaks(x)
    assert local.max() == pytest.approx(full.max(), rel=1e-6)
    for i in (1005, 3100):
        assert local[i - 8 : i + 8].max() == pytest.approx(full[i - 8 : i + 8].max(), rel=1e-3)
    assert local[:900].max() == 0 and local[2000:2900].max() == 0


def test_limiter_gain_holds_the_ceiling_smoothly() -> None:
    from voiceguide.loudness import limiter_gain

    peaks = np.full(2000, 0.5)
    peaks[1000] = 2.0
    gain = limiter_gain(peaks, 1.0, radius=40)
    assert np.all(peaks * gain <= 1.0 + 1e-12)
    assert gain[1000] == pytest.approx(0.5)
    assert gain[900] == 1.0 and gain[1100] == 1.0
    assert np.abs(np.diff(gain)).max() < 0.05  # glides, never jumps


@pytest.mark.parametrize("radius", [1, 7, 176])
def test_running_filters_match_scipy(radius: int) -> None:
    from scipy import ndimage

    from voiceguide.loudness import running_mean, running_min

    x = np.random.default_rng(radius).random(10_007)
    size = 2 * radius + 1
    assert np.array_equal(running_min(x, radius), ndimage.minimum_filter1d(x, size, mode="nearest"))
    expected = ndimage.uniform_filter1d(x, size, mode="nearest")
    assert np.allclose(running_mean(x, radius), expected, atol=1e-12)


def test_limiter_peaks_skip_what_cannot_reach_the_ceiling_and_change_nothing() -> None:
    """Oversampling only near samples that could interpolate over the ceiling gives the
    limiter exactly the gain full oversampling gives (the mixer's speed-up, issue 8)."""
    from voiceguide.loudness import interpolated_peaks, limiter_gain

    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.05, (40_000, 2))
    x[9000:9050, 0] = [0.6, -0.6] * 25  # bursts that overshoot between samples
    x[30_000:30_400] = rng.normal(0, 0.4, (400, 2))
    full, skipped = interpolated_peaks(x), interpolated_peaks(x, 0.8)
    assert full.max() > 0.8  # the test has peaks over the ceiling to find
    assert not np.array_equal(full, skipped)  # most of it was not oversampled
    over = full > 0.8
    assert np.array_equal(full[over], skipped[over])
    assert np.array_equal(limiter_gain(full, 0.8, 176), limiter_gain(skipped, 0.8, 176))
