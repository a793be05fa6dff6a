"""Long sentences made by Piper in clauses (issue 14's memory): real synthesis, no mocks.

A model run's memory follows its sound, so a sentence over the run cap is made in
pieces cut at clause marks; these tests check where it is cut, that a sentence under
the cap is still exactly what Piper makes, and that the pause at a cut is the pause
the voice makes there unsplit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from voiceguide.speech.engines import clauses, engine_class
from voiceguide.speech.engines import piper as P

TOWEL = (
    "Lay a small towel over the base of the back so your hands will not slip, then rest "
    "them on the flat bone at the base of the spine and the tops of the hip bones."
)
NO_MARKS = "Adjust the light and the room temperature until your partner feels comfortable."
SHORT = "Glide both hands slowly up the back. Then rest them, and breathe."
WPM = 140  # the default rate


class Counting:
    """The ONNX session as the backend calls it, counting runs and their input lengths."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.lengths: list[int] = []

    def run(self, names: Any, feeds: Any, options: Any = None) -> Any:
        self.lengths.append(int(feeds["input"].shape[1]))
        return self.session.run(names, feeds, options)


@pytest.fixture(scope="module")
def backend() -> Iterator[Any]:
    voice = P.bundled_voice()
    assert voice is not None
    made = engine_class("piper").backend(P.PiperEngine(voice).worker_env())
    counting = Counting(made.voice.session)
    made.voice.session = counting
    yield made


def config(scale: float) -> Any:
    from piper import SynthesisConfig

    return SynthesisConfig(length_scale=scale, noise_scale=0.0, noise_w_scale=0.0)


def quiet_near(audio: np.ndarray, at: int, rate: int) -> float:
    """Seconds of the quiet (frames under 1 % of the peak, 20 ms or more) nearest ``at``."""
    frame = round(0.005 * rate)
    n = len(audio) // frame * frame
    loud = np.abs(audio[:n]).reshape(-1, frame).max(axis=1) >= 0.01 * np.abs(audio).max()
    runs, start = [], None
    for k, is_loud in enumerate(loud):
        if not is_loud and start is None:
            start = k
        elif is_loud and start is not None:
            if start > 0 and k - start >= 4:  # inside the sound, 20 ms or more
                runs.append((start * frame, k * frame))
            start = None
    best = min(runs, key=lambda r: min(abs(r[0] - at), abs(r[1] - at)))
    assert min(abs(best[0] - at), abs(best[1] - at)) < 0.25 * rate, "no quiet near the cut"
    return (best[1] - best[0]) / rate


def test_a_long_sentence_is_cut_at_the_clause_mark_nearest_its_middle(backend: Any) -> None:
    (towel,) = backend.voice.phonemize(TOWEL)
    first, rest = clauses.split(towel, len(towel) - 1)
    assert first[-1] == "," and rest[0] != " "  # the mark ends the first clause
    assert [*first, " ", *rest] == towel
    assert clauses.split(towel, len(towel)) == [towel]  # at the cap: whole
    pieces = clauses.split(towel, 40)  # too long still: cut again at word gaps
    assert len(pieces) > 2 and all(len(p) <= 40 for p in pieces)
    (plain,) = backend.voice.phonemize(NO_MARKS)
    first, rest = clauses.split(plain, len(plain) - 1)  # no mark: before "until"
    assert "".join(rest).startswith("ʌntˈɪl") and first[-1] != " "


def test_a_sentence_under_the_cap_is_what_piper_makes_sample_for_sample(backend: Any) -> None:
    """Today's sound for every sentence under the cap: Piper's own ``synthesize`` (one run
    per sentence, normalized by its peak), sentences joined by the same quiet."""
    scale = P.length_scale(WPM)
    sentences = backend.voice.phonemize(SHORT)
    assert all(len(s) <= P.run_cap(scale) for s in sentences)
    backend.voice.session.lengths.clear()
    audio, rate = backend.synthesize(SHORT, P.BUNDLED_ID, WPM, 50)
    assert len(backend.voice.session.lengths) == len(sentences) == 2
    made = backend.voice.synthesize(SHORT, syn_config=config(scale))  # piper's own way
    chunks = [c.audio_float_array for c in made]
    gap = np.zeros(round(P.SENTENCE_GAP * scale * rate), dtype=np.float32)
    assert np.array_equal(audio, np.concatenate([chunks[0], gap, chunks[1]]).astype(np.float64))


def test_a_long_sentence_runs_in_pieces_under_the_cap(backend: Any) -> None:
    scale = P.length_scale(WPM)
    (towel,) = backend.voice.phonemize(TOWEL)
    assert len(towel) > P.run_cap(scale)  # the longest built-in sentence
    backend.voice.session.lengths.clear()
    audio, rate = backend.synthesize(TOWEL, P.BUNDLED_ID, WPM, 50)
    runs = backend.voice.session.lengths
    assert len(runs) == len(P.sentence_pieces(towel, P.run_cap(scale))) >= 3
    assert max(runs) <= 2 * (P.run_cap(scale) + 8) + 1  # ids: a pad after each phoneme, BOS
    assert float(np.max(np.abs(audio))) == pytest.approx(1.0)  # normalized as one sentence
    assert 10 < len(audio) / rate < 16


def test_the_pause_at_a_cut_is_the_voices_own_at_that_comma(backend: Any) -> None:
    """The quiet at the comma: within 80 ms of the unsplit sentence's (plain end-to-end
    pieces leave about 120 ms less: the voice ends and starts an utterance quicker)."""
    scale = P.length_scale(WPM)
    cfg = config(scale)
    (towel,) = backend.voice.phonemize(TOWEL)
    rate = backend.voice.config.sample_rate
    whole = backend._sentence(towel, cfg, 10**6)
    cut = backend._sentence(towel, cfg, len(towel) - 1)  # one cut, at the comma
    first, rest = (backend._run(p, cfg) for p in clauses.split(towel, len(towel) - 1))
    at = clauses.ends(first, rate, float(np.max(np.abs(first))))[1]
    unsplit, joined = quiet_near(whole, at, rate), quiet_near(cut, at, rate)
    plain = quiet_near(np.concatenate([first, rest]), at, rate)
    assert abs(joined - unsplit) < 0.080, (joined, unsplit)
    assert unsplit - plain > 0.080, (plain, unsplit)  # what the matching is for
