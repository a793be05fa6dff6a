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

    [render]          # defaults for `voiceguide render` options
    bitrate = 96
    ambience = "rain"

    [play]            # defaults for `voiceguide play` options
    bed-volume = -20

    [keys]     # live keys: key = "action" (see `voiceguide play --help`)
    x = "next"

Every value is checked like the command-line value it stands for (same
types, same ranges); a bad one is one line naming the file and the key.

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
from voiceguide.speech import PITCH_RANGE, RATE_RANGE, VoiceSettings

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
    if not os.path.lexists(path):
        return {}
    from voiceguide.routine import read_small_file

    data = read_small_file(path, "config file", ConfigError)
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is fine (Windows editors add one)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
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
    """Check every value like its command-line option; normalize numbers (150.0 is 150)."""
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
    voice = data.get("voice", {})
    for key, value in voice.items():
        if key not in VOICE_KEYS:
            raise ConfigError(f"{path}: [voice] {key}: unknown key; known: {', '.join(VOICE_KEYS)}")
        try:
            voice[key] = check_voice_value(key, value)
        except ValueError as exc:
            raise ConfigError(f"{path}: [voice] {key}: {exc}") from None
    for word, respelling in data.get("lexicon", {}).items():
        if not isinstance(respelling, str):
            raise ConfigError(f"{path}: [lexicon] {word}: expected text, got {_kind(respelling)}")


#: Limits shared with the command line (``--rate``, ``--volume``, ``--pitch``).
VOICE_LIMITS: dict[str, tuple[float, float]] = {
    "rate": RATE_RANGE,
    "volume": (0.1, 1.0),
    "pitch": PITCH_RANGE,
}


def check_voice_value(key: str, value: Any) -> Any:
    """A voice setting checked as the option checks it; ValueError says what is wrong."""
    if key == "voice":
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected a voice name in quotes, got {_kind(value)}")
        return value
    if key == "system_espeak":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_kind(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {_kind(value)}")
    low, high = VOICE_LIMITS[key]
    if value != value:  # NaN
        raise ValueError("expected a number, got nan")
    if value < low:
        raise ValueError(f"{value:g} is below {low:g}")
    if value > high:
        raise ValueError(f"{value:g} is above {high:g}")
    if key == "volume":
        return float(value)
    if value != int(value):
        raise ValueError(f"{value:g} is not a whole number")
    return int(value)


def _kind(value: Any) -> str:
    """A TOML value described the way a user wrote it."""
    if isinstance(value, bool):
        return f"a true/false ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value:g})"
    if isinstance(value, str):
        return f"text ({value!r})"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"a date or time ({value})"


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
