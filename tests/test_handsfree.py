"""Hands-free live play: clicker keys, answers by ear, waits, faults (issue 9 and 14).

Each session runs in its own process through the real one stream into ALSA's
file plugin, unpaced (the device's clock runs as fast as the player), so what
the giver would hear is measured sample by sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.live import run_driver
from support.routines import TWO_SIDED

from voiceguide.confirm import earcon
from voiceguide.player import BLOCK, LEAD, RATE


def run(tmp: Path, routine: str, **config) -> tuple[dict, np.ndarray]:  # type: ignore[no-untyped-def]
    result, audio = run_driver(tmp, routine, confirm=True, **config)
    return result, audio[:, 0]


def earcon_at(audio: np.ndarray, t: float, kind: str) -> float:
    """How much of ``kind``'s earcon is in ``audio`` at ``t`` (1.0: exactly there)."""
    blip = earcon(kind).astype(np.float64)
    at = round(t * RATE)
    window = audio[at : at + len(blip)]
    return float(np.dot(window, blip) / np.dot(blip, blip))


def first_block_after(result: dict, t: float) -> dict:
    """The first block mixed at or after ``t`` on the player's clock (the first that can answer)."""
    return next(p for p in result["played"] if p["mixed"] >= t - 1e-9)


@pytest.fixture(scope="module")
def clicker(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, np.ndarray]:
    keys = [[5.0, "pagedown"], [10.0, "right"], [11.5, "left"], [17.0, "N"], [19.0, "B"],
            [24.0, "b"], [29.0, "."], [33.0, "q"]]  # fmt: skip
    return run(tmp_path_factory.mktemp("clicker"), TWO_SIDED, keys=keys)


def test_clicker_keys_move_by_side_first_then_by_whole_steps(clicker) -> None:
    result, _ = clicker
    where = {round(p["deadline"], 3): (p["step"], p["side"]) for p in result["played"]}

    def after(t: float) -> tuple[int | None, str | None]:
        block = first_block_after(result, t)
        assert block["deadline"] - t <= LEAD + BLOCK / RATE + 1e-6  # the next block moved
        return where[round(block["deadline"], 3)]

    assert after(5.0) == (1, "left")  # PageDown: the next step, its first side
    assert after(10.0) == (1, "right")  # Right arrow: the other side of the same step
    assert after(11.5) == (1, "left")  # Left within 3 s of the side's start: the side before
    assert after(17.0) == (2, None)  # N: a whole step on
    assert after(19.0) == (1, "left")  # B: a whole step back


def test_every_press_is_answered_by_ear_within_a_quarter_second(clicker) -> None:
    result, audio = clicker
    for press, kind in [(5.0, "next"), (10.0, "next"), (11.5, "back"), (24.0, "pause")]:
        block = first_block_after(result, press)
        assert block["deadline"] - press <= 0.25
        # projected onto the earcon's own waveform: 1 when it is there at full strength; the
        # session playing under it (a side line, the bed) moves that by up to about 0.35
        assert 0.5 < earcon_at(audio, block["deadline"], kind) < 1.5, press
    for quiet in (3.0, 8.0, 15.0):  # no press there: no earcon
        assert abs(earcon_at(audio, quiet, "next")) < 0.35
    said = result["said"]

    def words_after(t: float) -> tuple[float, str]:
        return next((at - t, text) for at, text in said if at >= t)

    assert words_after(5.0)[1] == "Next: Kneading, left side."
    assert words_after(5.0)[0] < 0.5  # the words follow the earcon at once
    assert words_after(11.5) == (pytest.approx(0.27, abs=0.2), "Back to Kneading, left side.")
    assert words_after(17.0)[1] == "Next: Circles."
    assert words_after(24.0)[1] == "Paused."
    assert not any("right side" in text for _, text in said)  # the side line itself says it


def test_pause_is_said_then_silent_and_the_clicker_blank_key_resumes(clicker) -> None:
    result, audio = clicker
    said = {text: at for at, text in result["said"]}
    words = round(said["Paused."] * RATE)
    assert 10 * np.log10(np.mean(audio[words : words + int(0.3 * RATE)] ** 2)) > -45
    assert np.abs(audio[round(26.5 * RATE) : round(28.9 * RATE)]).max() == 0  # then quiet
    resumed = first_block_after(result, 29.0)
    assert resumed["deadline"] - 29.0 <= BLOCK / RATE + LEAD + 1e-6
    assert not result["finished"] and result["error"] is None


def test_checklist_and_a_wait_step_hold_until_a_key_and_a_bad_cue_never_stops_the_clock(
    tmp_path: Path,
) -> None:
    routine = TWO_SIDED.replace(
        "    duration: 12s\n  - title: Kneading",
        "    duration: 12s\n    cues: [{at: 4s, say: 按摩}]\n  - title: Kneading",
    )
    keys = [[3.0, "space"], [40.0, "enter"]]
    result, audio = run(tmp_path, routine, keys=keys, checklist=["Oil", "Towels"],
                        wait_steps=[0])  # fmt: skip
    assert result["finished"] and result["error"] is None
    assert list(result["failed"]) == ["按摩"]  # said nothing for it, and went on
    said = {text: at for at, text in result["said"]}
    assert said["Before we start. Press space when you are ready."] < 0.3
    assert 3.0 < first_block_after(result, 3.0)["deadline"] <= 3.0 + BLOCK / RATE + LEAD
    first = first_block_after(result, 3.0)
    assert first["position"] == 0  # the timed session began at the key, from its start
    assert 2.5 < said["Press space when you are ready."] - 3.0 < 5  # after the step's words
    assert said["Go on."] - 40.0 < 0.5
    gap = audio[round(25 * RATE) : round(39 * RATE)]
    assert 10 * np.log10(np.mean(gap**2)) > -70  # the bed plays on while waiting
    kneading = next(p for p in result["played"] if p["step"] == 1)
    assert 40.0 <= kneading["deadline"] < 42.0  # and the next step comes at the key
    assert said["Go on."] < kneading["deadline"]
