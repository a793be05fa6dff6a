"""The ``pyttsx3`` engine: the system voices (espeak-ng on Linux, bundled).

* **Bundled espeak-ng.** pyttsx3 looks for ``libespeak-ng.so.1`` by name. The
  ``espeakng-loader`` wheel ships that library and its data, so loading it with
  ``RTLD_GLOBAL`` and pointing ``ESPEAK_DATA_PATH`` at its data *before*
  pyttsx3 imports makes a plain ``pip install`` speak. A system espeak-ng is
  used only when asked for (``system_espeak``).
* **Driver races** (see STACK-NOTES): the driver's ``stop()`` is patched to
  cancel only while a phrase is really being spoken, one empty
  ``runAndWait()`` follows ``init()``, one phrase goes per ``runAndWait()``,
  and every clip is checked to be non-empty (retried once).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from voiceguide.errors import SpeechError
from voiceguide.speech.clips import read_wav
from voiceguide.speech.engines import Backend, Engine, register
from voiceguide.speech.lexicon import preview

NAME = "pyttsx3"
ENGINE_NAME = "espeak-ng"
INSTALL_BUNDLED = "pip install espeakng-loader"
INSTALL_SYSTEM = "apt-get install libespeak-ng1"


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


# --------------------------------------------------------------------------- engine


@register
class Pyttsx3Engine(Engine):
    """espeak-ng through pyttsx3, in worker processes."""

    name = NAME
    summary = "system voices through pyttsx3 (espeak-ng on Linux): robotic but light"
    hint = "try again, or try --system-espeak"

    def __init__(self, system_espeak: bool = False) -> None:
        self.lib = locate_espeak(system_espeak)

    @property
    def engine_id(self) -> str:
        return self.lib.engine_id

    def worker_env(self) -> dict[str, str]:
        env = {"VOICEGUIDE_ESPEAK_LIB": self.lib.library if not self.lib.system else ""}
        if self.lib.data:
            env["ESPEAK_DATA_PATH"] = self.lib.data
        return env

    @staticmethod
    def backend(env: dict[str, str]) -> Backend:
        library = env.get("VOICEGUIDE_ESPEAK_LIB")
        data = env.get("ESPEAK_DATA_PATH")
        if data:
            check_data_path(data)
        if library:
            ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
        return _Pyttsx3Backend(env.get("VOICEGUIDE_SCRATCH"))


# --------------------------------------------------------------------------- worker side


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


class _Pyttsx3Backend(Backend):
    """pyttsx3 used the way that proved reliable: one phrase per runAndWait()."""

    def __init__(self, scratch: str | None = None) -> None:
        import pyttsx3

        _patch_driver()
        self._engine = pyttsx3.init("espeak")
        self._engine.runAndWait()  # the first runAndWait returns early; spend it on nothing
        self._voice: str | None = None
        self._props: dict[str, Any] = {}
        # The worker's parent makes the scratch folder and removes it, killed worker or not;
        # a folder of our own only when used outside a worker.
        self._own = None if scratch else tempfile.TemporaryDirectory(prefix="voiceguide-")
        self._scratch = Path(scratch or self._own.name)  # type: ignore[union-attr]

    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, int]:
        self.configure(voice, rate, pitch)
        return self.speak_to_file(text, self._scratch / "phrase.wav")

    def handle(self, request: dict[str, Any]) -> dict[str, Any] | None:
        if request.get("op") == "voices":
            return {"ok": True, "voices": _voices_from_espeak()}
        if request.get("op") == "phonemes":
            return {"ok": True, "phonemes": _phonemes(request["text"], request["voice"])}
        return None

    def configure(self, voice: str, rate: int, pitch: int) -> None:
        """Set only what changed; a voice change re-applies rate and pitch."""
        if voice != self._voice:
            self._engine.setProperty("voice", voice)
            self._voice, self._props = voice, {}
        for name, value in (("rate", rate), ("pitch", pitch), ("volume", 1.0)):
            if self._props.get(name) != value:
                self._engine.setProperty(name, value)
                self._props[name] = value

    def speak_to_file(self, text: str, path: Path) -> tuple[np.ndarray, int]:
        """Speak into ``path``; retry once if espeak hands back nothing."""
        for _attempt in range(2):
            path.unlink(missing_ok=True)
            self._engine.save_to_file(text, str(path))
            self._engine.runAndWait()
            if path.exists() and path.stat().st_size > 44:
                pcm, rate = read_wav(path)
                if np.any(pcm):
                    return pcm, rate
        raise SpeechError(f"espeak-ng produced an empty clip twice for {preview(text)}")


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
