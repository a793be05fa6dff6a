"""An MP3 is measured while it is encoded (issue 8's render speed), and the figure is still
ffmpeg's ebur128 of the written file as it decodes (issue 12)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import voiceguide.export.encoders as encoders
from voiceguide.export import encode, measure

RATE = 44_100


def _session(seconds: float, channels: int = 2) -> list[np.ndarray]:
    """Speech-like bursts over a quiet bed with a fade, in 2 s blocks (a mixer's shape)."""
    rng = np.random.default_rng(7)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    bed = rng.normal(0, 0.02, (n, 2))
    bursts = (np.sin(2 * np.pi * 0.3 * t) > 0.2) * np.sin(2 * np.pi * 220 * t) * 0.5
    x = (bed + bursts[:, None]) * np.minimum(1.0, t / 2)[:, None]
    x[:, 1] *= 0.8  # not the same on both sides
    return [x[i : i + 2 * RATE].astype(np.float32) for i in range(0, n, 2 * RATE)]


@pytest.fixture
def measured_files(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file :func:`measure` is asked to decode again (a spy: it still measures)."""
    seen: list[Path] = []
    real = encoders.measure

    def spy(path: Path, mono: bool = False) -> encoders.Measured:
        seen.append(path)
        return real(path, mono)

    monkeypatch.setattr(encoders, "measure", spy)
    return seen


@pytest.mark.parametrize(("channels", "kbps"), [(2, 128), (1, 64)])
def test_mp3_measured_while_encoding_reads_as_the_written_file(
    tmp_path: Path, measured_files: list[Path], channels: int, kbps: int
) -> None:
    # A folder name the tee muxer would split or misread unquoted.
    folder = tmp_path / "it's a|b [c]:d"
    folder.mkdir()
    blocks = _session(25.3)
    frames = sum(len(b) for b in blocks)
    target = folder / "s.mp3"
    got = encode(blocks, target, rate=RATE, channels=channels, bitrate=kbps, measured=True,
                 frames=frames)  # fmt: skip
    assert measured_files == []  # measured on the way, not decoded again
    assert got == measure(target, mono=channels == 1)
    assert sorted(p.name for p in folder.iterdir()) == ["s.mp3"]  # no temps left


def test_an_mp3_whose_tag_says_otherwise_is_measured_again(
    tmp_path: Path, measured_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A LAME build with another encoder delay: the piped figure would be off by those
    samples, so the written file is decoded and measured instead."""
    monkeypatch.setattr(encoders, "MP3_PRIMING", 1105 + 576)
    blocks = _session(12.0)
    target = tmp_path / "s.mp3"
    got = encode(blocks, target, rate=RATE, measured=True, frames=sum(len(b) for b in blocks))
    assert len(measured_files) == 1
    assert got == measure(target)


def test_the_piped_stream_decodes_to_the_samples_of_the_file(tmp_path: Path) -> None:
    """What the meter hears is sample for sample what the delivered file decodes to."""
    from voiceguide.ambience import ffmpeg_exe

    blocks = _session(9.7)
    frames = sum(len(b) for b in blocks)
    target = tmp_path / "s.mp3"
    piped = tmp_path / "piped.f32"
    trim = f"atrim=start_sample={encoders.MP3_PRIMING}:end_sample={encoders.MP3_PRIMING + frames}"
    meter = [*encoders.piped_decoder(trim), "-v", "error", "-f", "f32le", str(piped)]
    code, _ = encoders._run_ffmpeg(blocks, target, "mp3", rate=RATE, channels=2, bitrate=128,
                                   meter=meter)  # fmt: skip
    assert code == 0
    assert encoders._lame_trim(target) == (encoders.MP3_PRIMING, encoders.MP3_PRIMING + frames)
    whole = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(target), "-f", "f32le", "-"],
                           capture_output=True, check=True).stdout  # fmt: skip
    assert len(whole) == frames * 2 * 4
    assert piped.read_bytes() == whole
