"""The voice catalogue: which voices exist, and which one a user's words name."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voiceguide.errors import SpeechError
from voiceguide.speech.cache import ClipCache
from voiceguide.speech.engines import Engine, VoiceInfo, engine_class
from voiceguide.speech.engines import piper as piper_engine
from voiceguide.speech.engines.piper import PiperEngine, PiperVoiceFile
from voiceguide.speech.engines.pyttsx3 import Pyttsx3Engine
from voiceguide.speech.settings import DEFAULT_ESPEAK_VOICE, VoiceSettings
from voiceguide.speech.worker import Pool


def pick_engine(settings: VoiceSettings) -> tuple[Engine, PiperVoiceFile | None]:
    """The engine for ``settings`` (and the Piper voice file when it is Piper).

    ``auto`` is the bundled neural voice when piper is installed, else the
    system voice. A name is looked up among Piper voices (path, id, short
    name) first, then among the system voices, unless ``engine`` says where.
    """
    wanted = settings.engine or os.environ.get("VOICEGUIDE_ENGINE") or None
    wanted = None if wanted == "auto" else wanted
    if wanted is not None:
        engine_class(wanted)  # an unknown name is one line listing the valid ones
    query = settings.voice.strip()
    if piper_engine.is_path(query):  # a model file is a Piper voice, whatever the default
        if settings.engine not in (None, "", "auto", piper_engine.NAME):
            raise SpeechError(f"{query} is a Piper voice file; it needs --engine piper")
        wanted = piper_engine.NAME
    if wanted in (None, piper_engine.NAME):
        found = _piper_choice(query, required=wanted == piper_engine.NAME)
        if found is not None:
            return PiperEngine(found), found
    return Pyttsx3Engine(settings.system_espeak), None


def engine_name(settings: VoiceSettings) -> str:
    """The name of the engine ``settings`` will speak with (no worker is started)."""
    return pick_engine(settings)[0].name


def voice_label(settings: VoiceSettings) -> str:
    """The voice ``settings`` choose, as a user would name it (no worker is started)."""
    _, piper_voice = pick_engine(settings)
    return piper_voice.id if piper_voice is not None else espeak_query(settings)


def _piper_choice(query: str, required: bool) -> PiperVoiceFile | None:
    if query.lower() == "auto":
        if piper_engine.available():
            voice = piper_engine.bundled_voice()
            if voice is not None:
                return voice
        if required:
            raise SpeechError(
                f"the piper engine has no voice installed; install one with "
                f"`{piper_engine.INSTALL}` or `voiceguide voices install NAME`"
            )
        return None
    found = piper_engine.find_voice(query)
    if found is None and required:
        known = ", ".join(v.id for v in piper_engine.installed_voices()) or "none"
        raise SpeechError(
            f"unknown piper voice {query!r}; installed: {known} (or give a path to an .onnx file)"
        )
    return found


def espeak_query(settings: VoiceSettings) -> str:
    """What to look up among espeak's voices: ``auto`` is the default US English voice."""
    return DEFAULT_ESPEAK_VOICE if settings.voice.strip().lower() == "auto" else settings.voice


def espeak_catalog(
    engine: Pyttsx3Engine, cache_root: Path, pool: Pool | None = None
) -> list[VoiceInfo]:
    """All voices and variants; asked of espeak once per engine version, then read from disk."""
    digest = hashlib.sha256(engine.engine_id.encode()).hexdigest()[:16]
    listing = cache_root / f"voices-{digest}.json"
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        return [VoiceInfo(**v) for v in json.loads(listing.read_text())]
    own = pool is None
    pool = pool or Pool(engine, 1, 20.0)
    try:
        raw = pool.call({"op": "voices"}, "listing voices", timeout=30.0)["voices"]
    finally:
        if own:
            pool.close()
    with contextlib.suppress(OSError):
        listing.parent.mkdir(parents=True, exist_ok=True)
        tmp = listing.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(raw))
        os.replace(tmp, listing)
    return [VoiceInfo(**v) for v in raw]


def list_voices(
    lang: str | None = None,
    *,
    variants: bool = False,
    system_espeak: bool = False,
    cache_dir: Path | None = None,
) -> list[VoiceInfo]:
    """Voices whose language is ``lang`` or a dialect of it (``en`` → en, en-us, en-gb-…).

    With ``variants=True`` the variants (``f3``, ``m2``, ``whisper``…) follow;
    only they know their gender: espeak reports every language voice as male.
    """
    engine = Pyttsx3Engine(system_espeak)
    everything = espeak_catalog(engine, ClipCache(cache_dir).root)
    wanted = (lang or "").lower()
    voices = [
        v
        for v in everything
        if not v.variant
        and (
            not wanted
            or v.language.lower() == wanted
            or v.language.lower().startswith(wanted + "-")
        )
    ]
    voices.sort(key=lambda v: (v.language, v.id))
    if variants:
        voices += sorted((v for v in everything if v.variant), key=lambda v: v.id.lower())
    return voices


def resolve_voice(query: str, *, system_espeak: bool = False, cache_dir: Path | None = None) -> str:
    """The voice id for a name: a Piper voice's id, or the espeak id for a voice id,
    language tag or name fragment (keeping ``+variant``)."""
    _, piper_voice = pick_engine(VoiceSettings(voice=query, system_espeak=system_espeak))
    if piper_voice is not None:  # auto, a Piper id or a model file
        return piper_voice.id
    engine = Pyttsx3Engine(system_espeak)
    query = espeak_query(VoiceSettings(voice=query))
    return resolve(query, espeak_catalog(engine, ClipCache(cache_dir).root)).id_with_variant


@dataclass(frozen=True)
class Resolved:
    voice: VoiceInfo
    variant: str | None

    @property
    def id_with_variant(self) -> str:
        return f"{self.voice.id}+{self.variant}" if self.variant else self.voice.id


def resolve(query: str, catalog: list[VoiceInfo]) -> Resolved:
    base, _, variant = query.strip().partition("+")
    voices = [v for v in catalog if not v.variant]
    voice = _match_voice(base.strip(), voices)
    if not variant:
        return Resolved(voice, None)
    variants = {v.id.lower(): v.id for v in catalog if v.variant}
    variants.update({v.name.lower(): v.id for v in catalog if v.variant})
    if variant.strip().lower() not in variants:
        close = difflib.get_close_matches(variant.lower(), list(variants), n=4, cutoff=0.5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise SpeechError(
            f"unknown voice variant {variant!r}{hint} (see `voiceguide voices --variants`)"
        )
    return Resolved(voice, variants[variant.strip().lower()])


def _match_voice(query: str, voices: list[VoiceInfo]) -> VoiceInfo:
    """Id, then language tag, then id tail, then name, then a unique name fragment."""
    q = query.lower()
    tests: list[Callable[[VoiceInfo], bool]] = [
        lambda v: v.id.lower() == q,
        lambda v: v.language.lower() == q,
        lambda v: v.id.lower().rsplit("/", 1)[-1] == q,
        lambda v: v.name.lower() == q,
    ]
    for test in tests:
        found = [v for v in voices if test(v)]
        if found:
            return found[0]
    fragment = [v for v in voices if q and q in v.name.lower()]
    if len(fragment) == 1:
        return fragment[0]
    if len(fragment) > 1:
        names = ", ".join(f"{v.id} ({v.name})" for v in fragment[:6])
        raise SpeechError(f"voice {query!r} matches several voices: {names}; give an id")
    raise SpeechError(
        f"unknown voice {query!r}{_close_matches(q, voices)}; see `voiceguide voices`"
    )


def _close_matches(q: str, voices: list[VoiceInfo]) -> str:
    labels = {}
    for v in voices:
        for key in (v.id.lower(), v.language.lower(), v.name.lower()):
            labels.setdefault(key, v)
    close = difflib.get_close_matches(q, list(labels), n=5, cutoff=0.6)
    unique = list(dict.fromkeys(f"{labels[c].id} ({labels[c].name})" for c in close))
    return f"; close matches: {', '.join(unique)}" if unique else ""


# --------------------------------------------------------------------------- listing

#: The short list `voiceguide voices` shows first (espeak ids; installed Piper voices join it).
CURATED_ESPEAK = {
    "gmw/en-US": ("US English, the system voice (espeak-ng): robotic but light", None),
    "gmw/en": ("British English (espeak-ng)", None),
    "gmw/en-US+f3": ("US English, a higher female variant (espeak-ng)", "female"),
    "gmw/en-GB-scotland": ("Scottish English (espeak-ng)", None),
}
PIPER_GENDERS = {"en_US-joe-medium": "male"}


@dataclass(frozen=True)
class Preset:
    """A tested calm delivery: a rate, and a pitch where the engine can change it."""

    rate: int
    pitch: int
    description: str


PRESETS = {
    "calm": Preset(135, 35, "unhurried and low: long strokes, deep relaxation"),
    "warm": Preset(145, 40, "a gentle everyday pace"),
    "clear": Preset(160, 48, "brisker and brighter, for a noisy room or a first read-through"),
}


def voice_entries(
    *, everything: bool = False, lang: str | None = None, system_espeak: bool = False,
    cache_dir: Path | None = None,
) -> list[dict[str, object]]:  # fmt: skip
    """Voices as plain records (id, engine, language, gender, description, default).

    ``default`` is true for the voice ``auto`` picks. Without ``everything``
    the list is the curated one: installed Piper voices, then a few system
    voices; with it, every espeak voice and variant follows.
    """
    auto = voice_label(VoiceSettings(system_espeak=system_espeak))
    entries: list[dict[str, object]] = []
    if piper_engine.available():
        for v in piper_engine.installed_voices():
            entries.append({"id": v.id, "engine": piper_engine.NAME, "language": v.language,
                            "gender": PIPER_GENDERS.get(v.id), "description": v.description,
                            "default": v.id == auto, "path": str(v.model)})  # fmt: skip
    catalog = list_voices(variants=everything, system_espeak=system_espeak, cache_dir=cache_dir)
    by_id = {v.id.lower(): v for v in catalog}
    auto_espeak = auto.lower() if auto.lower() in by_id else None
    if everything:
        for v in catalog:
            ident = f"+{v.id}" if v.variant else v.id
            entries.append({"id": ident, "engine": "pyttsx3", "language": v.language or "variant",
                            "gender": v.gender, "description": v.name,
                            "default": v.id.lower() == auto_espeak})  # fmt: skip
    else:
        for ident, (description, gender) in CURATED_ESPEAK.items():
            base = ident.split("+")[0].lower()
            if base in by_id:
                entries.append({"id": ident, "engine": "pyttsx3",
                                "language": by_id[base].language, "gender": gender,
                                "description": description,
                                "default": ident.lower() == auto_espeak})  # fmt: skip
    if lang:
        wanted = lang.lower().replace("_", "-")
        entries = [
            e for e in entries
            if str(e["language"]).lower() == wanted
            or str(e["language"]).lower().startswith(wanted + "-")
        ]  # fmt: skip
    return entries


def voice_language(settings: VoiceSettings, cache_dir: Path | None = None) -> tuple[str, str]:
    """The (voice id, language) ``settings`` choose, without synthesizing anything.

    For a system voice this may start one worker once, to list espeak's
    voices (the list is then kept in the cache folder).
    """
    _, piper_voice = pick_engine(settings)
    if piper_voice is not None:
        return piper_voice.id, piper_voice.language
    engine = Pyttsx3Engine(settings.system_espeak)
    with contextlib.suppress(OSError):
        found = resolve(espeak_query(settings), espeak_catalog(engine, ClipCache(cache_dir).root))
        return found.id_with_variant, found.voice.language
    return espeak_query(settings), "en"
