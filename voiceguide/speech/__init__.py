"""Text → level-matched speech clips, offline.

The package, one job a module:

* :mod:`.settings` — :class:`VoiceSettings` (how the guide sounds) and :class:`Clip`;
* :mod:`.lexicon` — respellings, text clean-up, scripts a voice can read;
* :mod:`.clips` — raw engine output → trimmed, 44.1 kHz, level-matched clips;
* :mod:`.cache` — clips on disk, verified and written atomically;
* :mod:`.engines` — the engine interface and registry, one module per engine;
* :mod:`.worker` — worker processes that host an engine;
* :mod:`.voices` — the voice catalogue and resolving a user's voice name;
* :mod:`.speaker` — :class:`Speaker`, composing all of these.

The names below are the package's public face (render, live and the CLI import them).
"""

from voiceguide.errors import SpeechError
from voiceguide.speech.cache import ClipCache, decode_clip, default_cache_dir, encode_clip
from voiceguide.speech.clips import level_match, process_pcm, resample, trim_silence
from voiceguide.speech.engines import VoiceInfo
from voiceguide.speech.engines.pyttsx3 import EspeakLib, check_data_path, locate_espeak
from voiceguide.speech.lexicon import (
    DEFAULT_LEXICON,
    apply_lexicon,
    check_script,
    merge_lexicons,
    normalize_text,
)
from voiceguide.speech.settings import (
    CLIP_RATE,
    DEFAULT_PITCH,
    DEFAULT_RATE,
    DEFAULT_VOICE,
    PEAK_CEILING_DBTP,
    PITCH_RANGE,
    PROCESSING_VERSION,
    RATE_RANGE,
    TARGET_LUFS,
    Clip,
    VoiceSettings,
)
from voiceguide.speech.speaker import Speaker
from voiceguide.speech.voices import engine_name, list_voices, resolve_voice

__all__ = [
    "CLIP_RATE",
    "DEFAULT_LEXICON",
    "DEFAULT_PITCH",
    "DEFAULT_RATE",
    "DEFAULT_VOICE",
    "PEAK_CEILING_DBTP",
    "PITCH_RANGE",
    "PROCESSING_VERSION",
    "RATE_RANGE",
    "TARGET_LUFS",
    "Clip",
    "ClipCache",
    "EspeakLib",
    "Speaker",
    "SpeechError",
    "VoiceInfo",
    "VoiceSettings",
    "apply_lexicon",
    "check_data_path",
    "check_script",
    "decode_clip",
    "default_cache_dir",
    "encode_clip",
    "engine_name",
    "level_match",
    "list_voices",
    "locate_espeak",
    "merge_lexicons",
    "normalize_text",
    "process_pcm",
    "resample",
    "resolve_voice",
    "trim_silence",
]
