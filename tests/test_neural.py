"""The neural engine: real Piper synthesis of the bundled voice (en_US-joe-medium), no mocks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from voiceguide.errors import SpeechError
from voiceguide.loudness import integrated_loudness, true_peak_db
from voiceguide.speech import Speaker, VoiceSettings, engine_name
from voiceguide.speech.engines import engine_class, names
from voiceguide.speech.engines.piper import BUNDLED_ID, bundled_voice, length_scale

REPO = Path(__file__).resolve().parent.parent
LINE = "Glide both hands slowly up the back."


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("neural-cache")


@pytest.fixture(scope="module")
def joe(cache_dir: Path) -> Iterator[Speaker]:
    with Speaker(VoiceSettings(engine="piper"), cache_dir=cache_dir, workers=1) as s:
        yield s


def test_the_bundled_neural_voice_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a newcomer gets: `auto` is Piper's joe when the neural extra is installed."""
    monkeypatch.delenv("VOICEGUIDE_ENGINE", raising=False)
    assert bundled_voice() is not None
    assert engine_name(VoiceSettings()) == "piper"
    assert engine_name(VoiceSettings(voice="en-gb")) == "pyttsx3"  # an espeak name stays espeak
    assert engine_name(VoiceSettings(engine="pyttsx3")) == "pyttsx3"


def test_engines_are_registered_by_name() -> None:
    assert names() == ["piper", "pyttsx3"]
    with pytest.raises(
        SpeechError, match=r"unknown speech engine 'festival'; valid engines: piper, pyttsx3$"
    ):
        engine_class("festival")


def test_piper_speaks_level_matched_and_reproducibly(joe: Speaker, tmp_path: Path) -> None:
    clip = joe.clip(LINE)
    assert joe.voice_id == BUNDLED_ID and joe.engine_name == "piper"
    assert 1.2 < clip.duration < 4.5
    assert integrated_loudness(clip.samples.astype(np.float64), clip.rate) == pytest.approx(
        -16, abs=0.5
    )
    assert true_peak_db(clip.samples.astype(np.float64), clip.rate) <= -1.0 + 0.05
    # A fresh synthesis in another cache is the same clip, sample for sample (noise fixed at 0).
    with Speaker(VoiceSettings(engine="piper"), cache_dir=tmp_path, workers=1) as again:
        assert np.array_equal(again.clip(LINE).samples, clip.samples)
        assert again.engine_calls == 1


def test_rate_means_the_same_pace_as_espeak(joe: Speaker, cache_dir: Path) -> None:
    """--rate is words per minute on every engine: Piper's length scale follows it."""
    assert length_scale(120) > length_scale(150) > length_scale(180)
    with Speaker(VoiceSettings(engine="piper", rate=110), cache_dir=cache_dir, workers=1) as slow:
        slow_clip = slow.clip(LINE)
    with Speaker(VoiceSettings(engine="pyttsx3", rate=110), cache_dir=cache_dir, workers=1) as es:
        espeak_clip = es.clip(LINE)
    normal = joe.clip(LINE)
    assert slow_clip.duration > 1.2 * normal.duration
    assert slow_clip.duration == pytest.approx(espeak_clip.duration, rel=0.3)


def test_lexicon_applies_to_piper(cache_dir: Path, joe: Speaker) -> None:
    with Speaker(VoiceSettings(engine="piper"), lexicon={"glide": "gloyd"}, cache_dir=cache_dir,
                 workers=1) as odd:  # fmt: skip
        assert not np.array_equal(odd.clip(LINE).samples, joe.clip(LINE).samples)
        assert "ɔɪ" in odd.phonemes("glide") and "aɪ" in joe.phonemes("glide")


def test_cache_key_names_engine_version_and_model(joe: Speaker, cache_dir: Path) -> None:
    assert "piper-tts" in joe.engine.engine_id and "model " in joe.engine.engine_id
    with Speaker(VoiceSettings(engine="pyttsx3"), cache_dir=cache_dir, workers=1) as es:
        assert es.cache_key("Hello.") != joe.cache_key("Hello.")


def test_a_voice_file_by_path_and_its_errors(tmp_path: Path, cache_dir: Path) -> None:
    joe = bundled_voice()
    assert joe is not None
    copy = tmp_path / "my-voice.onnx"
    os.symlink(joe.model, copy)
    with pytest.raises(SpeechError, match=r"has no my-voice\.onnx\.json beside it"):
        Speaker(VoiceSettings(voice=str(copy)), cache_dir=cache_dir, workers=1)
    shutil.copy(joe.config, tmp_path / "my-voice.onnx.json")
    with Speaker(VoiceSettings(voice=str(copy)), cache_dir=cache_dir, workers=1) as s:
        assert s.engine_name == "piper" and s.voice_id == "my-voice"
    with pytest.raises(SpeechError, match="does not exist"):
        Speaker(VoiceSettings(voice=str(tmp_path / "absent.onnx")), cache_dir=cache_dir)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    run_env = {k: v for k, v in os.environ.items() if k != "VOICEGUIDE_ENGINE"}
    return subprocess.run(
        [sys.executable, "-m", "voiceguide", *args], capture_output=True, text=True,
        timeout=240, cwd=REPO, env={**run_env, **(env or {})},
    )  # fmt: skip


def test_cli_pitch_and_engine_errors_are_one_line(tmp_path: Path) -> None:
    out = tmp_path / "x.wav"
    done = _cli("say", "Hello.", "--pitch", "30", "-o", str(out))
    assert done.returncode == 1 and not out.exists()
    assert done.stderr.strip().splitlines() == [
        "voiceguide: the piper voice en_US-joe-medium cannot change pitch; drop the pitch "
        "setting, or choose a pyttsx3 voice (`voiceguide voices`)"
    ]
    done = _cli("say", "Hello.", "--engine", "festival", "-o", str(out))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "voiceguide: unknown speech engine 'festival'; valid engines: piper, pyttsx3"
    )


def test_newcomer_render_speaks_with_the_neural_voice(tmp_path: Path) -> None:
    """The README's first command, on a short routine: the session is spoken by joe."""
    routine = tmp_path / "r.yaml"
    routine.write_text(
        "voiceguide: 1\ntitle: Short\nsteps:\n"
        "  - title: Warm the oil\n    say: Rub a little oil between your palms.\n"
        "    duration: 20s\n"
    )
    done = _cli("render", str(routine), "-o", str(tmp_path / "s.mp3"), "--ambience", "none")
    assert done.returncode == 0, done.stderr
    from mutagen.id3 import ID3

    comment = str(ID3(tmp_path / "s.mp3").getall("COMM")[0])
    assert "en_US-joe-medium" in comment


@pytest.mark.parametrize("preset", ["calm", "warm", "clear"])
def test_presets_set_rate_and_a_pitch_only_where_the_engine_has_one(
    preset: str, monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    from voiceguide.cli.speech import settings_from_options
    from voiceguide.speech.voices import PRESETS

    monkeypatch.delenv("VOICEGUIDE_ENGINE", raising=False)
    neural = settings_from_options({"preset": preset}, config={})
    assert (neural.rate, neural.pitch) == (PRESETS[preset].rate, None)
    system = settings_from_options({"preset": preset, "engine": "pyttsx3"}, config={})
    assert (system.rate, system.pitch) == (PRESETS[preset].rate, PRESETS[preset].pitch)
    mine = settings_from_options({"preset": preset, "rate": 170}, config={})
    assert mine.rate == 170  # --rate wins over the preset
    with Speaker(system, cache_dir=cache_dir, workers=1) as s:
        assert s.clip(LINE).duration > 1.0  # a preset speaks
