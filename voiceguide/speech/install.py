"""``voices install NAME``: fetch a Piper voice from the public catalogue, verified, atomically.

The catalogue is Piper's own ``voices.json``: for every voice its files
(``.onnx`` model, ``.onnx.json`` config) with their sizes and MD5 digests.
Each file is streamed to a temporary file beside its destination while its
digest is computed, checked for size and digest, and only then renamed into
place; the model goes last, so a voice is never visible half-installed. A
truncated download, a wrong checksum or a server error is one line and
leaves nothing behind. ``$VOICEGUIDE_VOICES_URL`` points at another copy of
the catalogue (a mirror, or the tests' local server).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voiceguide.errors import SpeechError
from voiceguide.speech.engines.piper import voices_dir

CATALOGUE_URL = "https://huggingface.co/rhasspy/piper-voices/resolve/main"
TIMEOUT = 30.0
CHUNK = 1 << 16

#: ``progress(done_bytes, total_bytes, label)`` as a file downloads.
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to the catalogue's base URL
    size: int
    md5: str


def base_url() -> str:
    return os.environ.get("VOICEGUIDE_VOICES_URL", CATALOGUE_URL).rstrip("/")


def _open(url: str) -> Any:
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT)
    except urllib.error.HTTPError as err:
        raise SpeechError(
            f"the voice catalogue answered {err.code} {err.reason} for {url}"
        ) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise SpeechError(f"cannot reach the voice catalogue at {url}: {reason}") from None


def catalogue() -> dict[str, Any]:
    """The catalogue: voice key → its description and files."""
    url = f"{base_url()}/voices.json"
    with _open(url) as answer:
        try:
            data = json.loads(answer.read())
        except (ValueError, OSError):
            raise SpeechError(f"the voice catalogue at {url} is not valid JSON") from None
    if not isinstance(data, dict):
        raise SpeechError(f"the voice catalogue at {url} is not a list of voices")
    return data


def files_of(name: str, voices: dict[str, Any]) -> list[RemoteFile]:
    """The model and config of voice ``name``, config first; one line for an unknown name."""
    if name not in voices:
        close = difflib.get_close_matches(name, list(voices), n=4, cutoff=0.5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise SpeechError(f"no voice {name!r} in the Piper catalogue{hint}")
    try:
        found = [
            RemoteFile(path, int(meta["size_bytes"]), str(meta["md5_digest"]))
            for path, meta in voices[name]["files"].items()
            if path.endswith((".onnx", ".onnx.json"))
        ]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise SpeechError(f"the catalogue entry for {name!r} is malformed") from None
    if sorted(Path(f.path).suffix for f in found) != [".json", ".onnx"]:
        raise SpeechError(f"the catalogue entry for {name!r} lacks its .onnx or .onnx.json file")
    return sorted(found, key=lambda f: f.path.endswith(".onnx"))


def install(name: str, progress: Progress | None = None, folder: Path | None = None) -> Path:
    """Download voice ``name`` into the user's voices folder; return the model's path."""
    folder = folder or voices_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SpeechError(f"cannot create the voices folder {folder}: {err.strerror}") from None
    model, config = folder / f"{name}.onnx", folder / f"{name}.onnx.json"
    had_config = config.exists()
    try:
        for remote in files_of(name, catalogue()):
            _download(remote, model if remote.path.endswith(".onnx") else config, progress)
    except BaseException:
        if not had_config and not model.exists():  # no half-installed voice left behind
            config.unlink(missing_ok=True)
        raise
    return model


def _download(remote: RemoteFile, target: Path, progress: Progress | None) -> None:
    """Stream to a temp file beside ``target``, verify size and MD5, then rename."""
    url = f"{base_url()}/{remote.path}"
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        digest, done = hashlib.md5(usedforsecurity=False), 0
        with os.fdopen(fd, "wb") as out, _open(url) as answer:
            while True:
                try:
                    block = answer.read(CHUNK)
                except (OSError, ValueError, http.client.HTTPException) as err:
                    raise SpeechError(f"download of {target.name} broke off: {err}") from None
                if not block:
                    break
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, remote.size, target.name)
        if done != remote.size:
            raise SpeechError(
                f"download of {target.name} is incomplete: {done} of {remote.size} bytes; try again"
            )
        if digest.hexdigest() != remote.md5:
            raise SpeechError(
                f"download of {target.name} does not match the catalogue's checksum "
                "(damaged or changed on the server); nothing was installed"
            )
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
