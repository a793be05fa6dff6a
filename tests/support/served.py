"""A real ``voiceguide serve`` process for tests, and plain HTTP calls to it (with its cookie)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: One minute or so: renders in about two seconds, but long enough (> 5 s) for an OS media session.
ROUTINE = """
voiceguide: 1
title: Serve test session
intro: Settle your partner face down.
steps:
  - title: Spread the oil
    say: Spread the oil over the whole back with long, slow strokes.
    duration: 16s
  - title: Strokes beside the spine
    say: Glide up beside the spine to the shoulders.
    reps: 2
    per_rep: 6s
    sides: [left, right]
  - title: Circles
    say: Make slow circles over the lower back.
    duration: 14s
outro: Rest your hands, then lift them away.
"""

#: Valid as a routine, but its bed is not audio: the render fails after speech.
BAD_BED = """
voiceguide: 1
title: Broken bed
ambience: noise.ogg
steps:
  - title: Only step
    say: Rest your hands on the back.
    duration: 10s
"""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Served:
    """A running server: its printed URL, token and the cookie it hands out."""

    proc: subprocess.Popen[str]
    url: str
    store: Path
    folder: Path
    stdout: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def token(self) -> str:
        return self.url.split("token=", 1)[1]

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    @property
    def cookie(self) -> str:
        return f"voiceguide-{self.port}={self.token}"

    def call(self, path: str, body: Any = None, *, method: str | None = None,
             headers: dict[str, str] | None = None, cookie: bool = True) -> Reply:  # fmt: skip
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if cookie:
            request.add_header("Cookie", self.cookie)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with _OPENER.open(request, timeout=30) as response:
                return Reply(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as err:
            return Reply(err.code, dict(err.headers), err.read())

    def events(self, session_id: str) -> list[tuple[str, dict[str, Any]]]:
        """Every server-sent event of a render, to its end."""
        reply = self.call(f"/api/sessions/{session_id}/events")
        events = []
        for block in reply.body.decode().split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in lines:
                events.append((lines["event"], json.loads(lines["data"])))
        return events

    def render(self, **body: Any) -> str:
        """POST a session and wait for its render; the id."""
        reply = self.call("/api/sessions", body)
        assert reply.status in (200, 201), reply.body
        session_id = reply.json()["id"]
        kinds = [kind for kind, _ in self.events(session_id)]
        assert kinds[-1] == "done", kinds
        return session_id

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def start_server(folder: Path, store: Path, *args: str, tmp: Path | None = None) -> Served:
    """``voiceguide serve FOLDER --port 0 --store STORE ARGS``, once it has printed its URL."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if tmp is not None:  # its own temp folder, to see exactly what it leaves there
        tmp.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(tmp)
    proc = subprocess.Popen(
        [sys.executable, "-m", "voiceguide", "serve", str(folder), "--port", "0",
         "--store", str(store), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("http://"):
            return Served(proc, line.strip(), store, folder, lines)
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"serve did not print a URL: {lines} {err}")


def write_folder(folder: Path) -> Path:
    """A served folder: the test routine, one that fails to render, one that fails to load."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "serve-test.yaml").write_text(ROUTINE, encoding="utf-8")
    (folder / "bad-bed.yaml").write_text(BAD_BED, encoding="utf-8")
    (folder / "noise.ogg").write_bytes(b"this is not audio" * 100)
    (folder / "broken.yaml").write_text("voiceguide: 1\ntitle: Broken\n", encoding="utf-8")
    return folder


def stop_all(*servers: Served) -> None:
    for server in servers:
        server.stop()
