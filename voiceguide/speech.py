"""Text → level-matched speech clips, offline, through pyttsx3 and espeak-ng.

Design, and why:

* **Bundled espeak-ng.** pyttsx3 looks for ``libespeak-ng.so.1`` by name. The
  ``espeakng-loader`` wheel ships that library and its data, so loading it with
  ``RTLD_GLOBAL`` and pointing ``ESPEAK_DATA_PATH`` at its data *before*
  pyttsx3 imports makes a plain ``pip install`` speak. A system espeak-ng is
  used only when asked for (``system_espeak``).
* **Worker processes.** The espeak driver is not thread-safe, prints
  ``Audio saved to …`` on stdout, can hang, and espeak calls ``exit(1)`` on a
  bad data folder. So synthesis runs in small worker processes that speak
  JSON lines over a private pipe (their stdout goes to /dev/null). A hung or
  dead worker becomes a :class:`SpeechError`, never a hung or dead CLI.
  Workers stay alive between :meth:`Speaker.clips` calls, so a live player
  can ask for a few cues at a time cheaply.
* **Driver races** (see STACK-NOTES): the driver's ``stop()`` is patched to
  cancel only while a phrase is really being spoken, one empty
  ``runAndWait()`` follows ``init()``, one phrase goes per ``runAndWait()``,
  and every clip is checked to be non-empty (retried once).
* **Clips** are trimmed, resampled to 44 100 Hz, level-matched to −16 LUFS
  (BS.1770, gated) with true peaks ≤ −1 dBTP, and cached on disk with a
  digest, keyed by everything that changes the sound.
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import hashlib
import json
import math
import os
import queue
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import wave
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from voiceguide.errors import SpeechError
from voiceguide.loudness import hop_powers, integrated_loudness, limiter_gain, true_peak_db
from voiceguide.paths import cache_dir

DEFAULT_VOICE = "gmw/en-us"
DEFAULT_RATE = 150
DEFAULT_PITCH = 40
CLIP_RATE = 44_100
TARGET_LUFS = -16.0
PEAK_CEILING_DBTP = -1.0
RATE_RANGE = (80, 300)
PITCH_RANGE = (0, 100)
# Bump when trimming/resampling/levelling changes, so old cache entries stop matching.
PROCESSING_VERSION = 1
ENGINE_NAME = "espeak-ng"

_PAD_SECONDS = 0.015
_SILENCE_DB = -50.0
_LIMITER_WINDOW = 0.005

INSTALL_BUNDLED = "pip install espeakng-loader"
INSTALL_SYSTEM = "apt-get install libespeak-ng1"


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class VoiceSettings:
    """How the guide sounds. Defaults are calm: unhurried and a little low.

    ``volume`` scales the level-matched clip (1.0 = −16 LUFS); it is not
    passed to espeak, whose output is normalized anyway.
    """

    voice: str = DEFAULT_VOICE
    rate: int = DEFAULT_RATE
    volume: float = 1.0
    pitch: int = DEFAULT_PITCH
    system_espeak: bool = False

    def __post_init__(self) -> None:
        _check_range("rate", self.rate, *RATE_RANGE, "words per minute")
        _check_range("pitch", self.pitch, *PITCH_RANGE, "")
        _check_range("volume", self.volume, 0.0, 1.0, "")
        if not str(self.voice).strip():
            raise SpeechError("voice: empty voice name; try `voiceguide voices` for a list")


def _check_range(name: str, value: object, low: float, high: float, unit: str) -> None:
    """One-line error for an out-of-range or non-numeric setting."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpeechError(f"{name}: expected a number from {low:g} to {high:g}, got {value!r}")
    if not low <= value <= high:
        unit = f" {unit}" if unit else ""
        raise SpeechError(f"{name}: {value:g} is outside {low:g}–{high:g}{unit}")


@dataclass(frozen=True, eq=False)
class Clip:
    """One spoken cue: float32 mono at 44 100 Hz, trimmed and level-matched.

    ``powers`` are its K-weighted 100 ms hop powers (:func:`hop_powers`), so
    the mixer can predict a session's loudness without measuring again.
    """

    samples: np.ndarray
    rate: int = CLIP_RATE
    powers: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        if self.powers.size == 0 and self.samples.size >= self.rate // 10:
            object.__setattr__(self, "powers", hop_powers(self.samples, self.rate))

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.rate


# --------------------------------------------------------------------------- lexicon

# Respellings checked against espeak-ng 1.52 (en-us) phoneme output; only words
# espeak gets wrong, plus sacral (kept consistent with sacrum, SAY-krum).
DEFAULT_LEXICON: dict[str, str] = {
    "effleurage": "efflurrahzh",  # EF-lur-ahzh, not "eff-lyoo-rij"
    "effleurages": "efflurrahzhez",
    "petrissage": "paytreesahzh",  # PAY-tree-sahzh, not "PET-riss-ij"
    "tapotement": "tuh poatment",  # tuh-POHT-ment, not "TAP-oht-ment"
    "sacral": "saykrul",
    "spinae": "spynee",  # erector SPY-nee
    "latissimus": "la tissimus",  # luh-TISS-imus
    "dorsi": "dorsigh",
    "quadratus": "kwodraytus",
    "infraspinatus": "infra-spy-naytus",
    "supraspinatus": "soopra-spy-naytus",
    "teres": "teereez",
    "fascia": "fasha",
    "myofascial": "myo-fashial",
    "shiatsu": "sheeahtsoo",
    "sacroiliac": "saykro-illy-ak",
    "occiput": "oxi putt",
}


def merge_lexicons(*lexicons: Mapping[str, str] | None) -> dict[str, str]:
    """Later maps win; keys are compared case-insensitively."""
    merged: dict[str, str] = {}
    for lexicon in lexicons:
        for word, respelling in (lexicon or {}).items():
            if not isinstance(word, str) or not isinstance(respelling, str):
                raise SpeechError(f"lexicon: {word!r}: expected text, got {respelling!r}")
            if not word.strip():
                raise SpeechError("lexicon: an entry has an empty word")
            merged[word.strip().lower()] = respelling
    return merged


@lru_cache(maxsize=32)
def _lexicon_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation, longest first, so 'effleurages' wins over 'effleurage'."""
    ordered = sorted(words, key=len, reverse=True)
    body = "|".join(re.escape(w) for w in ordered)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def apply_lexicon(text: str, lexicon: Mapping[str, str]) -> str:
    """Replace whole words (case-insensitive) by their respellings."""
    if not lexicon:
        return text
    lowered = {k.lower(): v for k, v in lexicon.items()}
    pattern = _lexicon_pattern(tuple(sorted(lowered)))
    return pattern.sub(lambda m: lowered[m.group(0).lower()], text)


def normalize_text(text: str) -> str:
    """Collapse whitespace; refuse text with nothing to say."""
    if not isinstance(text, str):
        raise SpeechError(f"expected text to speak, got {type(text).__name__}")
    cleaned = " ".join(text.split())
    if not any(ch.isalnum() for ch in cleaned):
        shown = f" {text!r}" if text.strip() else ""
        raise SpeechError(f"nothing to say: the text{shown} is empty")
    return cleaned


# --------------------------------------------------------------------------- scripts

_SCRIPTS_BY_LANGUAGE: dict[str, frozenset[str]] = {}
for _langs, _scripts in [
    ("ru uk bg be mk kk ky tt ba cv sr", {"CYRILLIC"}),
    ("el grc", {"GREEK"}),
    ("ar fa ur sd ug ku", {"ARABIC"}),
    ("he", {"HEBREW"}),
    ("hi mr ne kok", {"DEVANAGARI"}),
    ("bn as bpy", {"BENGALI"}),
    ("gu", {"GUJARATI"}),
    ("pa", {"GURMUKHI"}),
    ("ta", {"TAMIL"}),
    ("te", {"TELUGU"}),
    ("kn", {"KANNADA"}),
    ("ml", {"MALAYALAM"}),
    ("si", {"SINHALA"}),
    ("or", {"ORIYA"}),
    ("th", {"THAI"}),
    ("ka", {"GEORGIAN"}),
    ("hy", {"ARMENIAN"}),
    ("am ti", {"ETHIOPIC"}),
    ("my", {"MYANMAR"}),
    ("ja", {"CJK", "HIRAGANA", "KATAKANA"}),
    ("cmn yue hak zh", {"CJK"}),
    ("ko", {"HANGUL", "CJK"}),
    ("chr", {"CHEROKEE"}),
]:
    for _lang in _langs.split():
        # espeak reads Latin words in any voice (it switches to English), so Latin always passes.
        _SCRIPTS_BY_LANGUAGE[_lang] = frozenset(_scripts | {"LATIN"})
_LATIN_ONLY = frozenset({"LATIN"})


def _script_of(ch: str) -> str | None:
    """Unicode script of a letter, from its character name ('CYRILLIC SMALL LETTER A')."""
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else None


def check_script(text: str, language: str, voice: str = "") -> None:
    """Refuse text written in a script the voice's language cannot read.

    espeak would otherwise spell unknown letters out one by one (or say
    nothing), which is worse than a clear error.
    """
    allowed = _SCRIPTS_BY_LANGUAGE.get(language.split("-")[0].lower(), _LATIN_ONLY)
    for ch in text:
        script = _script_of(ch)
        if script and script not in allowed:
            who = f"voice {voice} ({language})" if voice else f"language {language}"
            raise SpeechError(
                f"{who} cannot read {script.title()} text: {_preview(text)}; "
                "choose a voice for that language (see `voiceguide voices`)"
            )


def _preview(text: str, width: int = 40) -> str:
    return repr(text if len(text) <= width else text[: width - 1] + "…")


# --------------------------------------------------------------------------- audio


def db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def trim_silence(x: np.ndarray, rate: int, pad: float = _PAD_SECONDS) -> np.ndarray:
    """Cut leading/trailing silence (below −50 dB re the clip's peak), keeping ``pad`` s.

    espeak adds ~0.1–0.3 s of silence around each phrase; the compiler times
    cues from the first sound, so it has to go.
    """
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0:
        return x[:0]
    loud = np.flatnonzero(np.abs(x) > peak * db_to_gain(_SILENCE_DB))
    keep = round(pad * rate)
    return x[max(0, loud[0] - keep) : min(len(x), loud[-1] + 1 + keep)]


def resample(x: np.ndarray, rate: int, target: int = CLIP_RATE) -> np.ndarray:
    """Polyphase resampling (anti-aliased), e.g. espeak's 22 050 Hz → 44 100 Hz."""
    if rate == target:
        return x
    g = math.gcd(rate, target)
    from scipy import signal  # loaded on first use: it is slow to import

    return signal.resample_poly(x, target // g, rate // g)


def limit_peaks(x: np.ndarray, ceiling: float, rate: int) -> np.ndarray:
    """Smooth look-ahead peak limiter (offline), so |x| never exceeds ``ceiling``.

    The required gain per sample is held by a minimum filter over ±2w, then
    averaged over ±w/2; every average then only includes gains at most the
    one needed at that sample, so the ceiling holds while the gain moves
    smoothly (about 5 ms attack and release): transparent on speech.
    """
    return x * limiter_gain(np.abs(x), ceiling, max(2, round(_LIMITER_WINDOW * rate)))


def level_match(
    x: np.ndarray,
    rate: int,
    target: float = TARGET_LUFS,
    ceiling: float = PEAK_CEILING_DBTP,
) -> np.ndarray:
    """Bring ``x`` to ``target`` LUFS with true peaks at or below ``ceiling`` dBTP.

    espeak speech has a peak-to-loudness ratio near 19 dB, so plain gain to
    −16 LUFS would peak at +3 dBTP. So peaks are limited (0.5 dB under the
    ceiling, the usual inter-sample overshoot) with the gain chosen so the
    *limited* clip lands on the target; only if the true peak still exceeds
    the ceiling is the gain lowered, as the brief asks.
    """
    y = fit_loudness(x, rate, target, ceiling - 0.5)
    return guard_true_peak(y, rate, ceiling)


def fit_loudness(x: np.ndarray, rate: int, target: float, sample_ceiling_db: float) -> np.ndarray:
    """Gain to ``target`` LUFS, limiting sample peaks to ``sample_ceiling_db`` on the way."""
    x = np.asarray(x, dtype=np.float64)
    loudness = integrated_loudness(x, rate)
    if not math.isfinite(loudness):
        return x
    gain = target - loudness
    sample_ceiling = db_to_gain(sample_ceiling_db)
    y = x * db_to_gain(gain)
    if float(np.max(np.abs(y))) > sample_ceiling:
        y = _fit_limited(x, gain, target, sample_ceiling, rate)
    return y


def guard_true_peak(y: np.ndarray, rate: int, ceiling: float = PEAK_CEILING_DBTP) -> np.ndarray:
    """Lower the gain just enough that the true peak is at most ``ceiling`` dBTP."""
    excess = true_peak_db(y, rate) - ceiling
    return y * db_to_gain(-excess - 0.01) if excess > 0 else y


def _fit_limited(
    x: np.ndarray, gain: float, target: float, ceiling: float, rate: int
) -> np.ndarray:
    """Find the gain whose limited result measures ``target`` (secant, ≤ 4 tries).

    Loudness after limiting grows with the gain, a little slower than 1 dB
    per dB, so the secant method settles within 0.05 LU in two or three steps.
    """

    def attempt(g: float) -> tuple[np.ndarray, float]:
        y = limit_peaks(x * db_to_gain(g), ceiling, rate)
        return y, integrated_loudness(y, rate) - target

    y, miss = attempt(gain)
    previous = None
    for _ in range(3):
        if abs(miss) < 0.05:
            break
        slope = 1.0
        if previous is not None and previous[0] != gain:
            slope = max(0.2, (miss - previous[1]) / (gain - previous[0]))
        previous = (gain, miss)
        gain -= miss / slope
        y, miss = attempt(gain)
    return y


def process_pcm(pcm: np.ndarray, rate: int, volume: float = 1.0) -> np.ndarray:
    """espeak's raw output → a finished clip (float32, 44 100 Hz).

    Loudness is fitted at espeak's own 22 050 Hz (half the work; its output
    has nothing above 11 kHz, so K-weighted loudness is the same within
    0.05 LU) and the true peak is checked after resampling, on what ships.
    """
    x = trim_silence(np.asarray(pcm, dtype=np.float64), rate)
    y = resample(fit_loudness(x, rate, TARGET_LUFS, PEAK_CEILING_DBTP - 0.5), rate)
    # Final trim at 44.1 kHz: onto the target where the peak allows, under the ceiling always.
    correction = min(
        TARGET_LUFS - integrated_loudness(y, CLIP_RATE),
        PEAK_CEILING_DBTP - 0.01 - true_peak_db(y, CLIP_RATE),
    )
    if math.isfinite(correction):
        y = y * db_to_gain(correction)
    return (y * volume).astype(np.float32)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """16-bit mono WAV → float samples in [−1, 1) and the rate."""
    with wave.open(str(path), "rb") as w:
        rate, width, frames = w.getframerate(), w.getsampwidth(), w.readframes(w.getnframes())
    if width != 2:
        raise SpeechError(f"espeak wrote {8 * width}-bit audio; expected 16-bit")
    return np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0, rate


# --------------------------------------------------------------------------- cache

_MAGIC = b"VGCLIP1\0"


def default_cache_dir() -> Path:
    """``$VOICEGUIDE_CACHE_DIR`` or the platform's user cache folder."""
    return cache_dir()


class ClipCache:
    """Clips on disk, one file each, written atomically and verified on read.

    A file is ``magic | header length | JSON header (sizes, sha256) | samples
    (float32) | hop powers (float64)``. Anything that fails the checks —
    truncated, bit-flipped, half-written — is treated as missing and re-made.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.clips_dir = self.root / "clips"

    def path_for(self, key: str) -> Path:
        return self.clips_dir / key[:2] / f"{key}.clip"

    def load(self, key: str) -> Clip | None:
        """The cached clip, or None if it is missing or damaged."""
        try:
            data = self.path_for(key).read_bytes()
        except OSError:
            return None
        return decode_clip(data)

    def store(self, key: str, samples: np.ndarray) -> Path:
        """Write atomically (temp file in the same folder, then rename)."""
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = encode_clip(samples)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path

    def entries(self) -> Iterator[Path]:
        if self.clips_dir.is_dir():
            yield from self.clips_dir.glob("*/*.clip")

    def info(self) -> dict[str, Any]:
        """Folder, number of clips, bytes on disk."""
        files = list(self.entries())
        size = sum(f.stat().st_size for f in files if f.exists())
        return {"folder": str(self.root), "entries": len(files), "bytes": size}

    def clear(self) -> int:
        """Delete our files only (clips, temp files, voice lists); return how many clips."""
        count = len(list(self.entries()))
        if self.clips_dir.is_dir():
            shutil.rmtree(self.clips_dir)
        for listing in self.root.glob("voices-*.json"):
            listing.unlink(missing_ok=True)
        return count


def encode_clip(samples: np.ndarray) -> bytes:
    """Serialize a clip with its hop powers and a digest of both."""
    s = np.ascontiguousarray(samples, dtype="<f4")
    p = np.ascontiguousarray(hop_powers(s, CLIP_RATE), dtype="<f8")
    payload = s.tobytes() + p.tobytes()
    header = json.dumps(
        {
            "rate": CLIP_RATE,
            "samples": int(s.size),
            "powers": int(p.size),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
    ).encode()
    return _MAGIC + struct.pack("<I", len(header)) + header + payload


def decode_clip(data: bytes) -> Clip | None:
    """Parse and verify; None for anything not exactly what :func:`encode_clip` wrote."""
    start = len(_MAGIC) + 4
    if len(data) < start or not data.startswith(_MAGIC):
        return None
    (hlen,) = struct.unpack_from("<I", data, len(_MAGIC))
    try:
        header = json.loads(data[start : start + hlen])
        n, m, digest = int(header["samples"]), int(header["powers"]), header["sha256"]
    except (ValueError, KeyError, TypeError):
        return None
    payload = data[start + hlen :]
    if len(payload) != 4 * n + 8 * m or hashlib.sha256(payload).hexdigest() != digest:
        return None
    samples = np.frombuffer(payload, dtype="<f4", count=n).astype(np.float32)
    powers = np.frombuffer(payload, dtype="<f8", count=m, offset=4 * n).astype(np.float64)
    samples.setflags(write=False)
    powers.setflags(write=False)
    return Clip(samples=samples, rate=int(header["rate"]), powers=powers)


# --------------------------------------------------------------------------- espeak library


@dataclass(frozen=True)
class EspeakLib:
    """Which libespeak-ng a worker loads, with which data, and its version (for cache keys)."""

    library: str
    data: str | None
    version: str
    system: bool

    @property
    def engine_id(self) -> str:
        return f"{ENGINE_NAME} {self.version} ({'system' if self.system else 'bundled'})"


def check_data_path(path: str | os.PathLike[str]) -> None:
    """Refuse a data folder espeak would die on.

    espeak-ng calls ``exit(1)`` inside C when its data is missing: nothing to
    catch, the process just ends. So look before espeak does.
    """
    p = Path(path)
    missing = [
        name for name in ("phontab", "phondata", "phonindex", "voices") if not (p / name).exists()
    ]
    if not p.is_dir() or missing:
        what = "does not exist" if not p.is_dir() else f"lacks {', '.join(missing)}"
        raise SpeechError(
            f"espeak-ng data folder {p} {what}; reinstall it with "
            f"`pip install --force-reinstall {INSTALL_BUNDLED.split()[-1]}` "
            "(or unset ESPEAK_DATA_PATH if you set it)"
        )


def locate_espeak(system: bool = False) -> EspeakLib:
    """Find the library and data to use, or explain in one line how to install them."""
    return _locate_system() if system else _locate_bundled()


def _locate_bundled() -> EspeakLib:
    try:
        import espeakng_loader
    except ImportError:
        raise SpeechError(
            "the bundled espeak-ng library is missing (package espeakng-loader); "
            f"install it with `{INSTALL_BUNDLED}`, or install a system one "
            f"(`{INSTALL_SYSTEM}`) and use --system-espeak"
        ) from None
    library = espeakng_loader.get_library_path()
    if not Path(library).is_file():
        raise SpeechError(
            f"espeak-ng library {library} is missing; reinstall it with "
            f"`pip install --force-reinstall espeakng-loader`"
        )
    try:
        data = espeakng_loader.get_data_path()
    except RuntimeError:
        data = str(Path(library).parent / "espeak-ng-data")
    check_data_path(data)
    return EspeakLib(library, data, _library_version(library), system=False)


def _locate_system() -> EspeakLib:
    import ctypes.util

    name = ctypes.util.find_library("espeak-ng")
    if not name:
        raise SpeechError(
            "no system espeak-ng library (libespeak-ng.so.1) found; install it with "
            f"`{INSTALL_SYSTEM}`, or drop --system-espeak to use the bundled one "
            f"(`{INSTALL_BUNDLED}`)"
        )
    data = os.environ.get("ESPEAK_DATA_PATH") or None
    if data:
        check_data_path(data)
    return EspeakLib(name, data, _library_version(name), system=True)


_VERSION_PROBE = (
    "import ctypes, sys\n"
    "lib = ctypes.CDLL(sys.argv[1])\n"
    "lib.espeak_Info.restype = ctypes.c_char_p\n"
    "lib.espeak_Info.argtypes = [ctypes.c_void_p]\n"
    "print(lib.espeak_Info(None).decode())\n"
)


@lru_cache(maxsize=4)
def _library_version(library: str) -> str:
    """Ask the library its version in a throwaway process.

    espeak_Info needs no initialization, but loading a second libespeak-ng
    with the same soname into this process would silently alias the first,
    so the probe stays outside (about 30 ms, once per process).
    """
    try:
        done = subprocess.run(
            [sys.executable, "-c", _VERSION_PROBE, library],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        raise SpeechError(f"loading the espeak-ng library {library} timed out") from None
    version = done.stdout.strip()
    if done.returncode != 0 or not version:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SpeechError(f"cannot load the espeak-ng library {library}: {last}")
    return version


# --------------------------------------------------------------------------- worker side

_WORKER_BOOT = "from voiceguide.speech import _worker_main; _worker_main()"


def _patch_driver() -> None:
    """Make the espeak driver's stop() cancel only a phrase that is really playing.

    Every runAndWait() calls stop(); with espeak still marked busy from the
    previous phrase it cancelled the *next* one (empty clips, dropped rate
    changes). With this patch 2 040 syntheses had no failure (STACK-NOTES).
    """
    from pyttsx3.drivers import _espeak
    from pyttsx3.drivers import espeak as driver

    def stop(self: Any) -> None:
        if self._speaking and _espeak.IsPlaying():
            self._stopping = True
            _espeak.Cancel()

    driver.EspeakDriver.stop = stop


class _Engine:
    """pyttsx3 used the way that proved reliable: one phrase per runAndWait()."""

    def __init__(self) -> None:
        import pyttsx3

        _patch_driver()
        self._engine = pyttsx3.init("espeak")
        self._engine.runAndWait()  # the first runAndWait returns early; spend it on nothing
        self._voice: str | None = None
        self._props: dict[str, Any] = {}

    def configure(self, voice: str, rate: int, pitch: int) -> None:
        """Set only what changed; a voice change re-applies rate and pitch."""
        if voice != self._voice:
            self._engine.setProperty("voice", voice)
            self._voice, self._props = voice, {}
        for name, value in (("rate", rate), ("pitch", pitch), ("volume", 1.0)):
            if self._props.get(name) != value:
                self._engine.setProperty(name, value)
                self._props[name] = value

    def synthesize(self, text: str, path: Path) -> tuple[np.ndarray, int]:
        """Speak into ``path``; retry once if espeak hands back nothing."""
        for _attempt in range(2):
            path.unlink(missing_ok=True)
            self._engine.save_to_file(text, str(path))
            self._engine.runAndWait()
            if path.exists() and path.stat().st_size > 44:
                pcm, rate = _read_wav(path)
                if np.any(pcm):
                    return pcm, rate
        raise SpeechError(f"espeak-ng produced an empty clip twice for {_preview(text)}")


def _voices_from_espeak() -> list[dict[str, Any]]:
    """Languages and variants as plain dicts (variants carry a real gender)."""
    from pyttsx3.drivers import _espeak

    out = []
    for v in _espeak.ListVoices(None):
        out.append(_voice_dict(v, variant=False))
    spec = _espeak.VOICE()
    spec.languages = b"variant"
    for v in _espeak.ListVoices(ctypes.pointer(spec)):
        out.append(_voice_dict(v, variant=True))
    return out


def _voice_dict(v: Any, variant: bool) -> dict[str, Any]:
    ident = v.identifier.decode("utf-8", "replace")
    language = (v.languages or b"?")[1:].decode("utf-8", "replace")
    gender = {1: "male", 2: "female"}.get(v.gender) if variant else None
    if variant:
        ident = ident.split("/")[-1]
    return {
        "id": ident,
        "name": v.name.decode("utf-8", "replace"),
        "language": "" if variant else language,
        "gender": gender,
        "variant": variant,
    }


def _phonemes(text: str, voice: str) -> str:
    """IPA for ``text`` (to check lexicon respellings without ears)."""
    from pyttsx3.drivers import _espeak

    fn = _espeak.dll.espeak_TextToPhonemes
    fn.restype = ctypes.c_char_p
    fn.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
    _espeak.SetVoiceByName(voice.encode())
    buf = ctypes.c_char_p(text.encode())
    parts = []
    while buf.value:
        parts.append((fn(ctypes.pointer(buf), 1, 0x02) or b"").decode())
    return " ".join(p for p in parts if p)


def _serve(engine: _Engine, request: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """Handle one request; errors a user can act on come back as messages."""
    op = request.get("op")
    if op == "synth":
        engine.configure(request["voice"], request["rate"], request["pitch"])
        pcm, rate = engine.synthesize(request["text"], scratch / "phrase.wav")
        samples = process_pcm(pcm, rate, request["volume"])
        ClipCache(Path(request["cache"])).store(request["key"], samples)
        return {"ok": True, "seconds": len(samples) / CLIP_RATE}
    if op == "voices":
        return {"ok": True, "voices": _voices_from_espeak()}
    if op == "phonemes":
        return {"ok": True, "phonemes": _phonemes(request["text"], request["voice"])}
    return {"ok": False, "error": f"unknown request {op!r}"}


def _worker_main() -> None:
    """Entry point of a worker process: JSON lines in on stdin, out on a private fd.

    Stdout (fd 1) is pointed at /dev/null before pyttsx3 loads, so its
    ``Audio saved to …`` prints and anything espeak writes go nowhere.
    """
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process

    def send(message: dict[str, Any]) -> None:
        proto.write(json.dumps(message) + "\n")

    try:
        library = os.environ.get("VOICEGUIDE_ESPEAK_LIB")
        data = os.environ.get("ESPEAK_DATA_PATH")
        if data:
            check_data_path(data)
        if library:
            ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
        engine = _Engine()
    except (SpeechError, OSError, RuntimeError) as exc:
        send({"ok": False, "error": str(exc)})
        return
    send({"ok": True, "ready": True, "pid": os.getpid()})
    with tempfile.TemporaryDirectory(prefix="voiceguide-") as tmp:
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("op") == "quit":
                break
            try:
                send(_serve(engine, request, Path(tmp)))
            except SpeechError as exc:
                send({"ok": False, "error": str(exc)})


# --------------------------------------------------------------------------- main side


class _Worker:
    """One worker process and its pipe, with a timeout on every answer."""

    def __init__(self, lib: EspeakLib) -> None:
        self.lib = lib
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        self._buffer = b""
        self._ready = False
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_BOOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=self._environment(),
            close_fds=True,
        )

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        env["VOICEGUIDE_ESPEAK_LIB"] = self.lib.library if not self.lib.system else ""
        # Workers are the parallelism: a BLAS thread pool in each would only fight over cores.
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = "1"
        if self.lib.data:
            env["ESPEAK_DATA_PATH"] = self.lib.data
        return env

    def ready(self, timeout: float) -> None:
        """Wait for the worker's hello (start-up takes ~0.3 s: numpy, scipy, espeak)."""
        if self._ready:
            return
        hello = self._read(timeout, "starting")
        if not hello.get("ok"):
            raise SpeechError(f"speech engine failed to start: {hello.get('error')}")
        self._ready = True

    def request(self, message: dict[str, Any], timeout: float, doing: str) -> dict[str, Any]:
        """Send one request and wait for its answer."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died(doing) from None
        return self._read(timeout, doing)

    def _read(self, timeout: float, doing: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.kill()
                raise SpeechError(
                    f"speech engine hung: no answer within {timeout:g} s while {doing}; "
                    "try again, or try --system-espeak"
                )
            chunk = os.read(fd, 65536)
            if not chunk:
                raise self._died(doing)
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _died(self, doing: str) -> SpeechError:
        """Explain a crashed worker, with the last thing it wrote to stderr."""
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        self._stderr.seek(0)
        tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        detail = f": {tail[-1]}" if tail else ""
        hint = ""
        if code == 1 and not self._ready:
            hint = (
                " (espeak-ng exits like this when its data folder is wrong: check ESPEAK_DATA_PATH)"
            )
        return SpeechError(
            f"speech engine stopped (exit status {code}) while {doing}{detail}{hint}"
        )

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def close(self) -> None:
        """Ask politely, then insist."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.write(b'{"op": "quit"}\n')
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.kill()
        for stream in (self.proc.stdout, self.proc.stdin):
            with contextlib.suppress(OSError, ValueError):
                if stream:
                    stream.close()
        self._stderr.close()


class _Pool:
    """Workers shared by threads: a request borrows an idle worker, any worker.

    Started lazily and together (they boot in parallel). A worker that hung or
    died is replaced by a fresh one, so one bad phrase does not poison the rest.
    """

    def __init__(self, lib: EspeakLib, size: int, timeout: float) -> None:
        self.lib, self.size, self.timeout = lib, max(1, size), timeout
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._started = False
        self._all: list[_Worker] = []

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            for _ in range(self.size):
                worker = _Worker(self.lib)
                self._all.append(worker)
                self._idle.put(worker)
            self._started = True

    def call(self, message: dict[str, Any], doing: str, timeout: float | None = None) -> dict:
        self.start()
        worker = self._idle.get()
        try:
            worker.ready(max(20.0, self.timeout))
            reply = worker.request(message, timeout or self.timeout, doing)
        except SpeechError:
            worker.kill()
            worker = self._replace(worker)
            raise
        finally:
            self._idle.put(worker)
        if not reply.get("ok"):
            raise SpeechError(str(reply.get("error")))
        return reply

    def _replace(self, dead: _Worker) -> _Worker:
        dead.close()
        fresh = _Worker(self.lib)
        with self._lock:
            self._all = [w for w in self._all if w is not dead] + [fresh]
        return fresh

    def close(self) -> None:
        with self._lock:
            workers, self._all, self._started = self._all, [], False
            self._idle = queue.Queue()
        for worker in workers:
            worker.close()


# --------------------------------------------------------------------------- voices


@dataclass(frozen=True)
class VoiceInfo:
    """A voice (or, with ``variant=True``, a variant to append as ``+id``)."""

    id: str
    name: str
    language: str
    gender: str | None = None
    variant: bool = False


def _catalog(lib: EspeakLib, cache_root: Path, pool: _Pool | None = None) -> list[VoiceInfo]:
    """All voices and variants; asked of espeak once per engine version, then read from disk."""
    listing = cache_root / f"voices-{hashlib.sha256(lib.engine_id.encode()).hexdigest()[:16]}.json"
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        return [VoiceInfo(**v) for v in json.loads(listing.read_text())]
    own = pool is None
    pool = pool or _Pool(lib, 1, 20.0)
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
    lib = locate_espeak(system_espeak)
    everything = _catalog(lib, ClipCache(cache_dir).root)
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
    lib = locate_espeak(system_espeak)
    return _resolve(query, _catalog(lib, ClipCache(cache_dir).root)).id_with_variant


@dataclass(frozen=True)
class _Resolved:
    voice: VoiceInfo
    variant: str | None

    @property
    def id_with_variant(self) -> str:
        return f"{self.voice.id}+{self.variant}" if self.variant else self.voice.id


def _resolve(query: str, catalog: list[VoiceInfo]) -> _Resolved:
    base, _, variant = query.strip().partition("+")
    voices = [v for v in catalog if not v.variant]
    voice = _match_voice(base.strip(), voices)
    if not variant:
        return _Resolved(voice, None)
    variants = {v.id.lower(): v.id for v in catalog if v.variant}
    variants.update({v.name.lower(): v.id for v in catalog if v.variant})
    if variant.strip().lower() not in variants:
        close = difflib.get_close_matches(variant.lower(), list(variants), n=4, cutoff=0.5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise SpeechError(
            f"unknown voice variant {variant!r}{hint} (see `voiceguide voices --variants`)"
        )
    return _Resolved(voice, variants[variant.strip().lower()])


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


# --------------------------------------------------------------------------- speaker


@dataclass(frozen=True)
class _Job:
    text: str
    spoken: str
    key: str


class Speaker:
    """Turns texts into :class:`Clip` objects: cache first, then worker processes.

    ``lexicon`` entries extend (and override) :data:`DEFAULT_LEXICON`.
    Thread-safe: a live player may call :meth:`clips` from two threads.
    """

    def __init__(
        self,
        settings: VoiceSettings | None = None,
        lexicon: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        workers: int = 2,
        timeout: float = 15.0,
    ) -> None:
        self.settings = settings or VoiceSettings()
        self.lexicon = merge_lexicons(DEFAULT_LEXICON, lexicon)
        self.cache = ClipCache(cache_dir)
        self.lib = locate_espeak(self.settings.system_espeak)
        self._pool = _Pool(self.lib, workers, timeout)
        self._count_lock = threading.Lock()
        self.engine_calls = 0
        resolved = _resolve(self.settings.voice, _catalog(self.lib, self.cache.root, self._pool))
        self.voice_id = resolved.id_with_variant
        self.language = resolved.voice.language
        self.voice_name = resolved.voice.name

    # -- public API

    def clip(self, text: str) -> Clip:
        """One clip (see :meth:`clips`)."""
        return self.clips([text])[text]

    def clips(
        self,
        texts: Iterable[str],
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Clip]:
        """Clips for every distinct text; ``progress(done, total)`` after each one.

        Every text is checked before anything is synthesized, so a bad cue
        fails fast. Cache hits cost a file read; misses go to the workers.
        """
        jobs = {text: self._job(text) for text in dict.fromkeys(texts)}
        out: dict[str, Clip] = {}
        missing = []
        for text, job in jobs.items():
            hit = self.cache.load(job.key)
            if hit is None:
                missing.append(job)
            else:
                out[text] = hit
        if progress and out:
            progress(len(out), len(jobs))
        for job, clip in self._synthesize(missing):
            out[job.text] = clip
            if progress:
                progress(len(out), len(jobs))
        return out

    def start(self) -> None:
        """Start the worker processes now without waiting (~1 s boot, in the background).

        A live player can call this first thing, so the first cue it asks for
        is not delayed by Python, numpy and espeak starting up.
        """
        self._pool.start()

    def phonemes(self, text: str) -> str:
        """espeak's IPA for ``text`` after the lexicon (to check pronunciations)."""
        spoken = apply_lexicon(normalize_text(text), self.lexicon)
        message = {"op": "phonemes", "text": spoken, "voice": self.voice_id}
        return self._pool.call(message, f"reading {_preview(text)}")["phonemes"]

    def close(self) -> None:
        """Stop the worker processes."""
        self._pool.close()

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # -- internals

    def _job(self, text: str) -> _Job:
        cleaned = normalize_text(text)
        check_script(cleaned, self.language, self.voice_id)
        spoken = apply_lexicon(cleaned, self.lexicon)
        return _Job(text=text, spoken=spoken, key=self.cache_key(spoken))

    def cache_key(self, spoken: str) -> str:
        """Digest of everything that changes the sound.

        The lexicon enters through ``spoken`` (the respelled text), so adding
        an entry only invalidates the clips whose words it changes.
        """
        s = self.settings
        fields = {
            "engine": self.lib.engine_id,
            "processing": PROCESSING_VERSION,
            "voice": self.voice_id,
            "rate": s.rate,
            "volume": round(float(s.volume), 4),
            "pitch": s.pitch,
            "text": spoken,
        }
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def _synthesize(self, jobs: list[_Job]) -> Iterator[tuple[_Job, Clip]]:
        """Run jobs on the pool from a few threads; yield results as they land."""
        if not jobs:
            return
        todo: queue.Queue[_Job] = queue.Queue()
        for job in jobs:
            todo.put(job)
        results: queue.Queue[tuple[_Job, Clip | None, BaseException | None]] = queue.Queue()
        stop = threading.Event()
        threads = [
            threading.Thread(target=self._drain, args=(todo, results, stop), daemon=True)
            for _ in range(min(len(jobs), self._pool.size))
        ]
        for t in threads:
            t.start()
        try:
            for _ in jobs:
                job, clip, error = results.get()
                if error is not None:
                    raise error
                assert clip is not None
                yield job, clip
        finally:
            stop.set()
            for t in threads:
                t.join()

    def _drain(self, todo: queue.Queue[_Job], results: queue.Queue, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results.put((job, self._run(job), None))
            except BaseException as exc:  # handed to the consuming thread
                stop.set()
                results.put((job, None, exc))
                return

    def _run(self, job: _Job) -> Clip:
        s = self.settings
        message = {
            "op": "synth",
            "text": job.spoken,
            "voice": self.voice_id,
            "rate": s.rate,
            "pitch": s.pitch,
            "volume": s.volume,
            "key": job.key,
            "cache": str(self.cache.root),
        }
        timeout = self._pool.timeout * (1.0 + len(job.spoken) / 500)  # long texts take longer
        self._pool.call(message, f"saying {_preview(job.text)}", timeout)
        with self._count_lock:
            self.engine_calls += 1
        clip = self.cache.load(job.key)
        if clip is None:
            raise SpeechError(
                f"the clip for {_preview(job.text)} could not be read back from {self.cache.root}"
            )
        return clip
