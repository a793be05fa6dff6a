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
from voiceguide.speech.engines import VoiceInfo
from voiceguide.speech.engines.pyttsx3 import Pyttsx3Engine
from voiceguide.speech.worker import Pool


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
    """The espeak id for a voice id, language tag or name fragment, keeping ``+variant``."""
    engine = Pyttsx3Engine(system_espeak)
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
