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
