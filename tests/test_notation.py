"""Guide notation is read the way a person reads it, through the real command and engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from voiceguide.cli import main
from voiceguide.notation import speakable
from voiceguide.speech import Speaker

# What guides write -> what the voice must say (before the lexicon).
TABLE = [
    ("Knead for 3-5 min.", "Knead for 3 to 5 minutes."),
    ("Repeat 2–3 times.", "Repeat 2 to 3 times."),
    ("Hold 30-60s.", "Hold 30 to 60 seconds."),
    ("Glide up 10x.", "Glide up 10 times."),
    ("Rest ~10 s.", "Rest about 10 seconds."),
    ("Avoid L4/L5.", "Avoid L4 and L5."),
    ("Use 1/2 your weight.", "Use one half your weight."),
    ("Breathe out 😌 slowly ✨.", "Breathe out slowly."),
    ("Lean in 🙂👍🏽 now.", "Lean in now."),
    ("Hold 1 min, then 1m30s.", "Hold 1 minute, then 1 minute 30 seconds."),
    ("Stroke 3 - 4 x.", "Stroke 3 to 4 times."),
    ("From C7-T1 down.", "From C7 to T1 down."),
    ("Left/right, about 3/4 of the way.", "Left or right, about three quarters of the way."),
    ("Keep 5 sides, 2 hands, 12/05/2024.", "Keep 5 sides, 2 hands, 12/05/2024."),
]


@pytest.mark.parametrize(("written", "spoken"), TABLE, ids=[w for w, _ in TABLE])
def test_say_words_prints_the_notation_spelled_out(runner, written: str, spoken: str) -> None:
    result = runner.invoke(main, ["say", "--words", written])
    assert result.exit_code == 0, result.output
    assert result.output == spoken + "\n"


def test_say_words_applies_the_lexicon_after_the_notation(runner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["say", "--words", "Effleurage 2-3 min."])
    assert result.output == "efflurrahzh 2 to 3 minutes.\n"


def test_say_words_makes_no_sound_and_writes_nothing(runner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["say", "--words", "Glide."])
    assert result.output == "Glide.\n"
    assert list(tmp_path.iterdir()) == []


def test_screen_text_is_untouched() -> None:
    """Only speech is rewritten: the function returns new text, the cue keeps its own."""
    text = "Knead 2-3 min 😌"
    assert speakable(text) == "Knead 2 to 3 minutes"
    assert text == "Knead 2-3 min 😌"


@pytest.fixture(scope="module")
def speaker() -> Speaker:
    with Speaker() as speaker:
        yield speaker


def test_the_engine_hears_the_spelled_out_words(speaker: Speaker) -> None:
    """Real espeak: the notation and its spelled-out form give the same phonemes."""
    for written, spoken in TABLE[:8]:
        assert speaker.phonemes(written) == speaker.phonemes(spoken), written


def test_emoji_are_not_named_by_the_engine(speaker: Speaker) -> None:
    assert speaker.phonemes("Relax 😌 now.") == speaker.phonemes("Relax now.")
    assert "fˈeɪs" not in speaker.phonemes("Relax 😌 now.")  # not "relieved face"
