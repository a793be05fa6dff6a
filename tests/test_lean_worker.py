"""A speech worker never loads scipy: its import costs each worker 55-70 MB (issue 8's
peak-memory target) and a second. The numpy stand-ins must give scipy's numbers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from voiceguide.loudness import (
    hop_powers,
    hop_powers_fft,
    integrated_loudness,
    integrated_loudness_fft,
)
from voiceguide.speech import Speaker, VoiceSettings
from voiceguide.speech.clips import resample


@pytest.mark.parametrize("n", [1, 7, 22_050, 220_501])
def test_upsampling_is_resample_poly(n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n)
    ours, theirs = resample(x, 22_050), signal.resample_poly(x, 2, 1)
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) < 1e-12


@pytest.mark.parametrize(("n", "rate"), [(100, 44_100), (88_200, 44_100), (300_001, 22_050),
                                         (1_323_000, 44_100)])  # fmt: skip
def test_k_weighting_by_fft_is_the_filter(n: int, rate: int) -> None:
    x = np.random.default_rng(n).standard_normal((n, 2)) * 0.1
    ours, theirs = hop_powers_fft(x, rate), hop_powers(x, rate)
    assert ours.shape == theirs.shape
    if theirs.size:
        assert np.max(np.abs(ours - theirs) / theirs) < 1e-12
        assert abs(integrated_loudness_fft(x, rate) - integrated_loudness(x, rate)) < 1e-9


def test_a_speech_worker_does_not_load_scipy(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tmp_path))
    with Speaker(VoiceSettings(engine="pyttsx3")) as speaker:
        clip = speaker.clips(["Let your shoulders drop."])["Let your shoulders drop."]
        assert clip.samples.size > 0
        pids = subprocess.run(["pgrep", "-P", str(__import__("os").getpid())],
                              capture_output=True, text=True).stdout.split()  # fmt: skip
        maps = {pid: Path(f"/proc/{pid}/maps").read_text() for pid in pids}
    workers = {pid: text for pid, text in maps.items() if "voiceguide" in text or "espeak" in text}
    assert workers, "a speech worker should be running"
    # (numpy's own OpenBLAS is called libscipy_openblas: scipy's modules live in scipy/)
    assert not any("site-packages/scipy/" in text for text in workers.values())
