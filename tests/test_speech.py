"""Speech: real espeak-ng synthesis through pyttsx3 in worker processes, no mocks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from voiceguide.cli import main
from voiceguide.config import ConfigError, load_config, voice_settings
from voiceguide.errors import SpeechError
from voiceguide.loudness import integrated_loudness, true_peak_db
from voiceguide.speech import (
    DEFAULT_LEXICON,
    ClipCache,
    Speaker,
    VoiceSettings,
    apply_lexicon,
    check_script,
    decode_clip,
    encode_clip,
    list_voices,
    locate_espeak,
    resolve_voice,
)

REPO = Path(__file__).resolve().parent.parent
SENTENCE = "Glide both hands slowly up the back, then sweep them out to the shoulders."


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cold cache of our own, so these tests really synthesize."""
    return tmp_path_factory.mktemp("speech-cache")


@pytest.fixture(scope="module")
def speaker(cache_dir: Path) -> Iterator[Speaker]:
    with Speaker(VoiceSettings(), cache_dir=cache_dir) as s:
        yield s


def _median_f0(x: np.ndarray, rate: int) -> float:
    """Median fundamental over voiced 40 ms frames (autocorrelation peak in 60–400 Hz)."""
    size, hop = int(0.04 * rate), int(0.02 * rate)
    frames = [x[i : i + size] for i in range(0, len(x) - size, hop)]
    loudest = max(float(np.sqrt(np.mean(f**2))) for f in frames)
    f0s = []
    for f in frames:
        if np.sqrt(np.mean(f**2)) < 0.3 * loudest:
            continue
        ac = np.correlate(f, f, "full")[size - 1 :]
        lo, hi = rate // 400, rate // 60
        f0s.append(rate / (lo + int(np.argmax(ac[lo:hi]))))
    return float(np.median(f0s))


# --------------------------------------------------------------------------- synthesis


def test_clips_are_trimmed_44k_float32_and_level_matched(speaker: Speaker) -> None:
    texts = [
        SENTENCE,
        "Two.",
        "Is this pressure all right?",
        "Now the lower back, near the sacrum.",
    ]
    seen: list[tuple[int, int]] = []
    clips = speaker.clips(
        [*texts, texts[0]], progress=lambda done, total: seen.append((done, total))
    )
    assert set(clips) == set(texts)
    assert seen[-1] == (4, 4)
    for text, clip in clips.items():
        assert clip.rate == 44_100 and clip.samples.dtype == np.float32, text
        assert integrated_loudness(clip.samples, clip.rate) == pytest.approx(-16.0, abs=0.5), text
        assert true_peak_db(clip.samples, clip.rate) <= -1.0, text
        # trimmed: sound within the first and last 40 ms
        edge = int(0.04 * clip.rate)
        assert np.max(np.abs(clip.samples[:edge])) > 0.01, text
        assert np.max(np.abs(clip.samples[-edge:])) > 0.001, text
        assert len(clip.powers) == len(clip.samples) // 4410
    assert clips["Two."].duration < 0.8 < clips[SENTENCE].duration


def test_second_speaker_with_same_cache_synthesizes_nothing(
    speaker: Speaker, cache_dir: Path
) -> None:
    first = speaker.clip(SENTENCE)
    with Speaker(VoiceSettings(), cache_dir=cache_dir, workers=1) as again:
        second = again.clip(SENTENCE)
        assert again.engine_calls == 0
    assert np.array_equal(first.samples, second.samples)


def test_a_cached_clip_brings_its_peak_as_the_mixer_hears_it(
    speaker: Speaker, cache_dir: Path
) -> None:
    """The cache keeps each clip's 16-bit true peak (a warm render no longer measures every
    clip again); a clip cached before that is measured on arrival, to the same figure."""
    import json
    import struct

    from voiceguide.clipbank import ClipBank
    from voiceguide.speech.cache import _MAGIC

    speaker.clip(SENTENCE)
    with Speaker(VoiceSettings(), cache_dir=cache_dir, workers=1) as again:
        cached = again.clip(SENTENCE)
        path = again.cache.path_for(again._job(SENTENCE).key)
    assert cached.peak is not None and 0.5 < cached.peak < 1.0
    with ClipBank(cache_dir) as told, ClipBank(cache_dir) as measuring:
        told.add("a", cached.samples, cached.powers, cached.peak)
        measuring.add("a", cached.samples, cached.powers)
        assert told.stored("a").peak == measuring.stored("a").peak
    data = path.read_bytes()  # the same entry as an older voiceguide wrote it: no peak
    (size,) = struct.unpack_from("<I", data, len(_MAGIC))
    start = len(_MAGIC) + 4
    header = json.loads(data[start : start + size])
    del header["peak"]
    old = json.dumps(header).encode()
    older = decode_clip(_MAGIC + struct.pack("<I", len(old)) + old + data[start + size :])
    assert older is not None and older.peak is None
    assert np.array_equal(older.samples, cached.samples)


def test_corrupted_cache_entry_is_remade(cache_dir: Path) -> None:
    text = "Rest your palms on the shoulder blades."
    with Speaker(VoiceSettings(), cache_dir=cache_dir, workers=1) as s:
        original = s.clip(text)
        path = s.cache.path_for(s._job(text).key)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF  # flip a byte in the samples
        path.write_bytes(bytes(data))
        assert s.cache.load(s._job(text).key) is None
        calls = s.engine_calls
        remade = s.clip(text)
        assert s.engine_calls == calls + 1
        path.write_bytes(path.read_bytes()[:100])  # truncate
        s.clip(text)
        assert s.engine_calls == calls + 2
    # espeak varies a few samples from run to run; the same phrase all the same
    assert remade.duration == pytest.approx(original.duration, rel=0.02)


def test_higher_rate_gives_shorter_clip(tmp_path: Path) -> None:
    durations = {}
    for rate in (110, 220):
        with Speaker(VoiceSettings(rate=rate), cache_dir=tmp_path, workers=1) as s:
            durations[rate] = s.clip(SENTENCE).duration
    assert durations[220] < 0.7 * durations[110]


def test_two_voices_sound_different(speaker: Speaker, tmp_path: Path) -> None:
    low = speaker.clip(SENTENCE)
    with Speaker(VoiceSettings(voice="en-us+f3"), cache_dir=tmp_path, workers=1) as s:
        high = s.clip(SENTENCE)
        assert s.voice_id.endswith("+f3")
    assert _median_f0(high.samples, 44_100) > 1.4 * _median_f0(low.samples, 44_100)


def test_lexicon_respellings_change_pronunciation(speaker: Speaker) -> None:
    """Ear substitute: espeak's own phonemes. effleurage ends in 'ahzh', not 'idge'."""
    assert "ɑːʒ" in speaker.phonemes("effleurage")
    assert "ɑːʒ" in speaker.phonemes("Petrissage.")
    assert "spˈaɪ" in speaker.phonemes("erector spinae")
    with Speaker(VoiceSettings(), lexicon={"effleurage": "effleurage"}, workers=1) as plain:
        assert "dʒ" in plain.phonemes("effleurage")


def test_hung_engine_is_a_clear_error(tmp_path: Path) -> None:
    with (
        Speaker(VoiceSettings(), cache_dir=tmp_path, workers=1, timeout=0.001) as s,
        pytest.raises(SpeechError, match="hung"),
    ):
        s.clip("This will not finish in a millisecond.")


# --------------------------------------------------------------------------- errors


def test_unknown_voice_lists_close_matches(cache_dir: Path) -> None:
    with pytest.raises(SpeechError, match=r"unknown voice 'scotlnd'.*en-GB-scotland"):
        Speaker(VoiceSettings(voice="scotlnd"), cache_dir=cache_dir)


@pytest.mark.parametrize("text", ["", "   ", "...", "\n"])
def test_empty_text_is_refused(speaker: Speaker, text: str) -> None:
    with pytest.raises(SpeechError, match="nothing to say"):
        speaker.clip(text)


def test_cyrillic_text_with_english_voice_is_refused(speaker: Speaker) -> None:
    with pytest.raises(SpeechError, match="cannot read Cyrillic"):
        speaker.clips(["Fine text.", "Погладьте спину."])
    assert "Погладьте" not in str(speaker.cache.root)  # nothing half-done to check; no crash


def test_script_table() -> None:
    check_script("Погладьте спину.", "ru")
    check_script("背中", "cmn")
    with pytest.raises(SpeechError, match="Cjk"):
        check_script("背中をさすって", "en-us")


def test_invalid_settings() -> None:
    with pytest.raises(SpeechError, match="rate: 500 is outside 80–300"):
        VoiceSettings(rate=500)
    with pytest.raises(SpeechError, match="volume"):
        VoiceSettings(volume=1.5)


def test_missing_bundled_library_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    with pytest.raises(SpeechError, match="pip install espeakng-loader"):
        locate_espeak()


def test_missing_system_library_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(SpeechError, match="apt-get install libespeak-ng1"):
        locate_espeak(system=True)


_BROKEN_DATA = """
import sys, espeakng_loader
espeakng_loader.get_data_path = lambda: sys.argv[1]
from voiceguide.speech import Speaker, VoiceSettings, SpeechError
try:
    Speaker(VoiceSettings(), cache_dir=sys.argv[2], workers=1).clip("Hello.")
except SpeechError as err:
    print("SpeechError:", err)
"""


@pytest.mark.parametrize("kind", ["missing", "broken"])
def test_wrong_data_path_is_an_error_not_an_exit(tmp_path: Path, kind: str) -> None:
    """espeak exit(1)s on bad data; we check first, and a worker dying is reported."""
    data = tmp_path / "data"
    if kind == "broken":  # passes our check, then espeak itself gives up
        (data / "voices").mkdir(parents=True)
        for name in ("phontab", "phondata", "phonindex"):
            (data / name).write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-c", _BROKEN_DATA, str(data), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("SpeechError:")
    assert "espeak-ng data folder" in done.stdout or "exit status 1" in done.stdout


# --------------------------------------------------------------------------- cache


def test_cache_entries_verify_themselves() -> None:
    samples = np.linspace(-0.5, 0.5, 10_000, dtype=np.float32)
    data = encode_clip(samples)
    assert np.array_equal(decode_clip(data).samples, samples)
    assert decode_clip(data[:-1]) is None
    assert decode_clip(data[:20]) is None
    assert decode_clip(b"garbage") is None
    flipped = bytearray(data)
    flipped[-5] ^= 1
    assert decode_clip(bytes(flipped)) is None


def test_cache_key_covers_every_setting(cache_dir: Path, speaker: Speaker) -> None:
    keys = {speaker.cache_key("Hello.")}
    for settings in (
        VoiceSettings(rate=151),
        VoiceSettings(pitch=41),
        VoiceSettings(volume=0.9),
        VoiceSettings(voice="en-gb"),
    ):
        with Speaker(settings, cache_dir=cache_dir, workers=1) as s:
            keys.add(s.cache_key("Hello."))
    keys.add(speaker.cache_key("Hello!"))
    assert len(keys) == 6


def test_clip_computes_its_powers() -> None:
    from voiceguide.speech import Clip

    clip = Clip(np.ones(44_100, dtype=np.float32))
    assert len(clip.powers) == 10 and clip.duration == 1.0


def test_cache_info_and_clear(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    cache.store("ab" * 32, np.zeros(100, dtype=np.float32))
    assert cache.info()["entries"] == 1
    assert cache.clear() == 1
    assert cache.info()["entries"] == 0


# --------------------------------------------------------------------------- voices & lexicon


def test_list_and_resolve_voices(cache_dir: Path) -> None:
    english = list_voices("en", cache_dir=cache_dir)
    assert {"gmw/en-US", "gmw/en"} <= {v.id for v in english}
    assert all(v.gender is None for v in english)
    variants = [v for v in list_voices(variants=True, cache_dir=cache_dir) if v.variant]
    assert {v.gender for v in variants if v.id in ("f3", "m3")} == {"female", "male"}
    assert resolve_voice("gmw/en-us", cache_dir=cache_dir) == "gmw/en-US"
    assert resolve_voice("en-gb", cache_dir=cache_dir) == "gmw/en"
    assert resolve_voice("scotland", cache_dir=cache_dir) == "gmw/en-GB-scotland"
    assert resolve_voice("en-us+f3", cache_dir=cache_dir) == "gmw/en-US+f3"


def test_lexicon_is_whole_word_and_case_insensitive() -> None:
    lexicon = {**DEFAULT_LEXICON, "sacral": "saykrul"}
    assert apply_lexicon("Effleurage over the SACRAL area", lexicon) == (
        "efflurrahzh over the saykrul area"
    )
    assert apply_lexicon("sacrally, effleurageX", lexicon) == "sacrally, effleurageX"
    assert apply_lexicon("two effleurages", lexicon) == "two efflurrahzhez"


# --------------------------------------------------------------------------- config


def test_config_precedence(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[voice]\nrate = 130\npitch = 30\nvoice = "en-gb"\n[lexicon]\nqi = "chee"\n')
    config = load_config(path)
    settings = voice_settings({"rate": 170, "pitch": None}, {"pitch": 45}, config)
    assert (settings.rate, settings.pitch, settings.voice) == (170, 45, "en-gb")
    assert voice_settings({}, {}, {}) == VoiceSettings()
    assert load_config(tmp_path / "absent.toml") == {}


def test_bad_config_is_one_line_with_location(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[voice]\nrate = = 3\n")
    with pytest.raises(ConfigError, match=r"config\.toml:2:\d+: "):
        load_config(path)
    path.write_text("[voice]\nspeed = 3\n")
    with pytest.raises(ConfigError, match="speed: unknown key"):
        load_config(path)


# --------------------------------------------------------------------------- CLI


def test_cli_say_writes_wav_and_prints_no_driver_noise(tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "x.wav"
    env = {**os.environ, "VOICEGUIDE_CACHE_DIR": str(cache_dir)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "voiceguide",
            "say",
            "Breathe out slowly.",
            "-o",
            str(out),
            "--rate",
            "140",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "Audio saved" not in done.stdout + done.stderr
    assert done.stdout.startswith(f"wrote {out}")
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (44_100, 1, 2)
        assert w.getnframes() > 44_100 // 2


def test_cli_voices_cache_and_config(runner, cache_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(main, ["voices", "--lang", "en-gb"])
    assert result.exit_code == 0 and "gmw/en-GB-scotland" in result.output
    result = runner.invoke(main, ["cache", "info"])
    assert result.exit_code == 0 and "clips:" in result.output
    result = runner.invoke(main, ["config", "path"])
    assert result.output.strip().endswith("config.toml")
    result = runner.invoke(main, ["say", "hi", "--voice", "vulcan", "-o", str(tmp_path / "x.wav")])
    assert result.exit_code == 1
    assert "unknown voice 'vulcan'" in result.output
    assert not (tmp_path / "x.wav").exists()


def test_cli_help_has_examples(runner) -> None:
    for args in (
        ["voices"],
        ["say"],
        ["cache"],
        ["cache", "info"],
        ["cache", "clear"],
        ["config"],
        ["config", "path"],
    ):
        result = runner.invoke(main, [*args, "--help"])
        assert "Example" in result.output, args


def test_script_helper_dedent_is_valid() -> None:
    compile(textwrap.dedent(_BROKEN_DATA), "<probe>", "exec")


def test_processing_a_clip_leaves_the_engines_samples_as_they_were() -> None:
    """A 44.1 kHz clip too quiet to measure comes back from levelling as the very array it
    went in as; the final gain must not be applied to the engine's samples in place."""
    from voiceguide.speech.clips import process_pcm

    pcm = np.zeros(44100)
    pcm[100] = 1e-9
    before = pcm.copy()
    clip = process_pcm(pcm, 44100, 0.5)
    assert np.array_equal(pcm, before)
    assert clip.dtype == np.float32 and len(clip) > 0
