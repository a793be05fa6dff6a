"""The personal config file: defaults a user sets once.

TOML in the platform's user config folder (``voiceguide config path``)::

    [voice]
    voice = "en-gb-scotland"
    rate = 140
    pitch = 35
    volume = 0.9
    system_espeak = false

    [lexicon]
    gua-sha = "gwah shah"

    [cache]
    max_mb = 500   # the clip cache's size limit; least recently used clips go first

    [render]   # free-form, read by the render command
    [play]     # free-form, read by the live player

    [keys]     # live keys: key = "action" (see `voiceguide play --help`)
    x = "next"

Precedence for voice settings: command line > routine ``voice:`` block >
this file > built-in defaults.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voiceguide.errors import VoiceguideError
from voiceguide.speech import VoiceSettings

VOICE_KEYS = ("voice", "rate", "volume", "pitch", "system_espeak", "engine")
SECTIONS = ("voice", "lexicon", "render", "play", "keys", "cache")


class ConfigError(VoiceguideError):
    """The config file exists but cannot be used; located as file:line where possible."""

    exit_code = 2


def config_path() -> Path:
    """``$VOICEGUIDE_CONFIG`` or ``<user config folder>/voiceguide/config.toml``."""
    env = os.environ.get("VOICEGUIDE_CONFIG")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("voiceguide")) / "config.toml"


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The parsed config, checked; ``{}`` when there is no file.

    A syntax error becomes one line ``config.toml:3:9: <what tomllib said>``.
    """
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_located(path, str(exc))) from None
    _check(data, path)
    return data


def _located(path: Path, message: str) -> str:
    """Move tomllib's '(at line 3, column 9)' to the front, compiler style."""
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if not match:
        return f"{path}: {message}"
    return f"{path}:{match.group(1)}:{match.group(2)}: {message[: match.start()]}"


def _check(data: dict[str, Any], path: Path) -> None:
    """Catch typos early: unknown sections or voice keys, non-text lexicon entries."""
    for name, value in data.items():
        if name not in SECTIONS:
            raise ConfigError(f"{path}: unknown section [{name}]; known: {', '.join(SECTIONS)}")
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {name} should be a [{name}] section")
    for key, value in data.get("cache", {}).items():
        if key != "max_mb":
            raise ConfigError(f"{path}: [cache] {key}: unknown key; known: max_mb")
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1:
            raise ConfigError(f"{path}: [cache] max_mb: expected a size in MB of at least 1")
    for key in data.get("voice", {}):
        if key not in VOICE_KEYS:
            raise ConfigError(f"{path}: [voice] {key}: unknown key; known: {', '.join(VOICE_KEYS)}")
    for word, respelling in data.get("lexicon", {}).items():
        if not isinstance(respelling, str):
            raise ConfigError(f"{path}: [lexicon] {word}: expected text, got {respelling!r}")


def voice_settings(
    cli: Mapping[str, Any] | None = None,
    routine: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
) -> VoiceSettings:
    """Merge voice settings: command line > routine > config > built-in.

    ``None`` in ``cli`` means "not given". ``config`` may be the whole loaded
    config or just its ``[voice]`` section.
    """
    config = config or {}
    section = config.get("voice") if isinstance(config.get("voice"), Mapping) else config
    merged: dict[str, Any] = {}
    for layer in (section, routine or {}, cli or {}):
        merged.update({k: v for k, v in layer.items() if k in VOICE_KEYS and v is not None})
    return VoiceSettings(**merged)


def cache_limit_mb(config: Mapping[str, Any]) -> float:
    """``[cache] max_mb``: how large the clip cache may grow (default 500 MB)."""
    from voiceguide.speech.cache import DEFAULT_LIMIT_MB

    return float(config.get("cache", {}).get("max_mb", DEFAULT_LIMIT_MB))


def config_lexicon(config: Mapping[str, Any]) -> dict[str, str]:
    """The ``[lexicon]`` section (word → respelling), empty if absent."""
    return dict(config.get("lexicon", {}))
