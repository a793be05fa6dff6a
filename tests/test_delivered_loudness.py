"""Issue 12: the loudness render reports, and the targets, hold on the delivered file.

Every built-in routine, cut to its first step fitted to about a minute to keep the suite short (the
full-length sweep over formats and bitrates is `scripts/bench.py loudness`),
rendered to MP3 and OGG and measured by ffmpeg's ebur128, not by our own meter.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from voiceguide.compiler import Options, compile
from voiceguide.export import measure
from voiceguide.render import FileOptions, render
from voiceguide.routine import builtin_ids, load_builtin

TOLERANCE = 0.3
CEILING = -1.0


@pytest.mark.slow
@pytest.mark.parametrize("routine_id", builtin_ids())
def test_built_in_routines_meet_the_targets_as_delivered(routine_id: str, tmp_path: Path) -> None:
    routine = load_builtin(routine_id)
    routine = dataclasses.replace(routine, steps=routine.steps[:1])
    script = compile(routine, Options(length=60))
    for fmt, files in [("mp3", FileOptions()), ("ogg", FileOptions(bitrate=96))]:
        result = render(script, tmp_path / f"s.{fmt}", files=files)
        measured = measure(tmp_path / f"s.{fmt}")
        assert measured.lufs == pytest.approx(result.lufs, abs=0.05)  # what render reports
        assert measured.true_peak <= CEILING, (fmt, measured)
        if result.reached:
            assert abs(measured.lufs - result.target_lufs) <= TOLERANCE, (fmt, measured)
        else:
            assert measured.lufs < result.target_lufs and result.quiet_reason


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "files"),
    [("ogg", FileOptions(bitrate=48, mono=True)), ("m4b", FileOptions(bitrate=64, mono=True))],
    ids=["ogg-48k-mono", "m4b-64k-mono"],
)
def test_mono_files_at_low_bitrates_meet_the_targets(
    fmt: str, files: FileOptions, tmp_path: Path
) -> None:
    """Mono at the lowest bitrates, decoded and measured by ffmpeg (dual mono, as it plays).

    ffmpeg's own `-ac 1` mixed the sides at -3 dB each for Vorbis and AAC, so mono files
    came out about 3 dB louder than their mix (OGG 48 kbps mono at -15.3 LUFS) or, with
    the peak headroom that hid it, quieter; the encoder now gets their plain average.
    """
    routine = load_builtin("lower-back-relax")
    routine = dataclasses.replace(routine, steps=routine.steps[:2])
    script = compile(routine, Options(length=120))
    result = render(script, tmp_path / f"s.{fmt}", files=files)
    measured = measure(tmp_path / f"s.{fmt}", mono=True)
    assert measured.lufs == pytest.approx(result.lufs, abs=0.05)
    assert measured.true_peak <= CEILING, measured
    assert abs(measured.lufs - result.target_lufs) <= TOLERANCE, measured
