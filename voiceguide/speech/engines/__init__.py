"""Speech engines, registered by name.

An engine has two halves. The *main-side* :class:`Engine` object knows the
engine's name, version and voices, and how to start a worker process for it
(the environment the worker needs). The *worker-side* :class:`Backend` lives
in that process and turns text into PCM. Workers isolate the parent from
engines that print, hang, leak or ``exit()`` inside C (STACK-NOTES), and
they are the parallelism.

To add an engine: a module in this package with an :class:`Engine` subclass
decorated with :func:`register`, and the module's name in ``_MODULES``.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from voiceguide.errors import SpeechError

#: Engine modules in this package, in the order `auto` prefers their voices.
_MODULES = ("piper", "pyttsx3")
_REGISTRY: dict[str, type[Engine]] = {}


@dataclass(frozen=True)
class VoiceInfo:
    """A voice (or, with ``variant=True``, an espeak variant to append as ``+id``)."""

    id: str
    name: str
    language: str
    gender: str | None = None
    variant: bool = False


class Backend(ABC):
    """The worker-process half of an engine: one voice at a time, text in, PCM out."""

    @abstractmethod
    def synthesize(self, text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, int]:
        """Float samples in [-1, 1] and their sample rate; ``rate`` is words per minute."""

    def handle(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """Engine-specific requests (voice lists, phonemes); None if not understood."""
        return None


class Engine(ABC):
    """The main-process half: identity, voices, and how to start a worker."""

    name: ClassVar[str]
    summary: ClassVar[str]
    #: How much slower than espeak a phrase may take before a worker counts as hung.
    slowness: ClassVar[float] = 1.0
    #: Added to "speech engine hung" and "stopped" messages: what the user can try.
    hint: ClassVar[str] = "try again"

    @property
    @abstractmethod
    def engine_id(self) -> str:
        """Name and version, part of every cache key (a new engine version re-makes clips)."""

    @abstractmethod
    def worker_env(self) -> dict[str, str]:
        """Environment variables a worker process needs to load this engine."""

    @staticmethod
    @abstractmethod
    def backend(env: dict[str, str]) -> Backend:
        """Build the backend inside the worker (called there, from its environment)."""


def register(cls: type[Engine]) -> type[Engine]:
    """Class decorator: make an engine known by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    for module in _MODULES:
        importlib.import_module(f"{__name__}.{module}")


def names() -> list[str]:
    """Every registered engine name, in preference order."""
    _load_all()
    order = {cls.__module__.rsplit(".", 1)[-1]: name for name, cls in _REGISTRY.items()}
    return [order[m] for m in _MODULES if m in order]


def engine_class(name: str) -> type[Engine]:
    """The engine registered as ``name``; an unknown name is one line listing the valid ones."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(names())
        raise SpeechError(f"unknown speech engine {name!r}; valid engines: {valid}") from None
