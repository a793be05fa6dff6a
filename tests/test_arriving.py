"""Issue 8: a cold render mixes and encodes while its speech is still being made.

Real espeak synthesis into an empty cache, real mixing, real MP3s measured by
ffmpeg's ebur128. What must hold: every block is made with the session's final
layout (only the level may differ from the exact plan, and only by the gain
curve it reports), the delivered file meets the loudness target, and a level
that cannot settle falls back to the exact plan.
"""

from __future__ import annotations

import itertools
import math
import threading
from pathlib import Path

import numpy as np
import pytest
from mutagen.id3 import ID3

from voiceguide import arriving
from voiceguide.arriving import ArrivingMix
from voiceguide.compiler import Options, compile
from voiceguide.export import measure
from voiceguide.mixer import Mixer, MixSettings
from voiceguide.render import load_beds, render
from voiceguide.routine import load_builtin
from voiceguide.speech import Speaker, VoiceSettings

TARGET = -16.0


def _script():  # type: ignore[no-untyped-def]
    return compile(load_builtin("lower-back-relax"), Options(length=600))


def test_every_block_is_made_with_the_final_layout(tmp_path: Path) -> None:
    script = _script()
    shares: list[float] = []
    with Speaker(VoiceSettings(), cache_dir=tmp_path) as speaker:
        mix = ArrivingMix(script, speaker, load_beds(script), MixSettings())
        blocks = []
        for block in mix.blocks():
            shares.append(mix._share)
            blocks.append(block)
    made = np.concatenate(blocks)
    exact = mix.exact
    assert exact is not None
    assert shares[0] < 0.5, "the first blocks were made while most speech was still to come"
    moved = [abs(a.at - b.at) for a, b in zip(exact.script.cues, script.cues, strict=True)]
    assert max(moved) > 0.05, "real lengths moved some cues: the layout had to wait for them"
    assert mix.curve.moves, "the level moved as speech arrived"
    again = Mixer(exact.script, exact.clips, exact.beds, MixSettings(), levels=mix.levels,
                  gain=mix.curve)  # fmt: skip
    assert len(made) == exact.length
    assert np.array_equal(made, np.concatenate(list(again.blocks())))
    planned = exact.lufs_with(exact.hop_gains(mix.curve))
    assert abs(planned - TARGET) < 0.02
    gains = [mix.curve.first] + [g for *_, g in mix.curve.moves]
    steps = [abs(20 * math.log10(b / a)) for a, b in itertools.pairwise(gains)]
    assert max(steps[:-1], default=0.0) <= arriving.DRIFT_DB + 1e-9  # while speech arrived
    assert steps[-1] <= arriving.MAX_STEP_DB  # and the last, on the exact plan


def test_a_cold_render_encodes_while_it_speaks(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tmp_path / "cache"))
    seen: list[bool] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "mix":
            seen.append(any(t.name == "speech" for t in threading.enumerate()))

    out = tmp_path / "s.mp3"
    result = render(_script(), out, progress=progress)
    assert result.synthesized > 0
    assert result.level_moves and max(map(abs, result.level_moves)) <= arriving.MAX_STEP_DB
    assert any(seen) and not seen[-1], "blocks were encoded while speech was still being made"
    measured = measure(out)
    assert abs(measured.lufs - TARGET) <= 0.3 and measured.true_peak <= -1.0
    assert abs(result.lufs - measured.lufs) < 0.05  # the meter heard the file as written
    chapters = [f.element_id for f in ID3(out).getall("CHAP")]
    assert len(chapters) == len(result.script.chapters)  # the tags came from the final layout
    starts = [f.start_time for f in ID3(out).getall("CHAP")]
    assert starts == [round(c.start * 1000) for c in result.script.chapters]


def test_a_level_that_cannot_settle_mixes_again_exactly(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Made to fail on purpose: no move allowed at all, so the last one forces a new mix."""
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(arriving, "MAX_STEP_DB", 0.0)
    relaid = []
    settled = ArrivingMix._settled

    def watched(self, at):  # type: ignore[no-untyped-def]
        try:
            return settled(self, at)
        except arriving.Relaid:
            relaid.append(at)
            raise

    monkeypatch.setattr(ArrivingMix, "_settled", watched)
    out = tmp_path / "s.ogg"
    result = render(_script(), out)
    if not relaid:
        pytest.skip("speech was done before the first block: nothing to settle")
    measured = measure(out)
    assert abs(measured.lufs - TARGET) <= 0.3 and measured.true_peak <= -1.0
    assert abs(result.script.duration - _decoded_seconds(out)) < 0.1


def _decoded_seconds(path: Path) -> float:
    from mutagen import File

    return float(File(path).info.length)
