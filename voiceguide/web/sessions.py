"""Rendered sessions: planning, rendering in worker processes, progress, reuse and a disk budget.

A session is one folder in the store named by its key (``session.mp3`` with
ID3 chapters, ``session.vtt``, ``session.json``). A render writes into a
hidden ``.part-*`` folder that is renamed into place only when everything is
written, so a failed or interrupted render leaves nothing a page could load.
Renders run as ``python -m voiceguide.web.worker`` processes: two phones can
render at once, the server stays small, and stopping one is a signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiceguide.web.catalog import Catalog
from voiceguide.web.requests import (
    Planned,
    check_ambience,
    parse_render_options,
    render_argv,
    routine_id_of,
    session_key,
)

AUDIO, SUBTITLES, SCRIPT = "session.mp3", "session.vtt", "session.json"
PART_PREFIX = ".part-"
#: Renders running at once (more wait their turn); this machine kind has two cores.
MAX_RENDERS = 2
STOP_GRACE = 5.0  # seconds a worker gets to clean up after SIGINT


def plan(catalog: Catalog, body: Any) -> Planned:
    """Check a request as ``render`` would and compile its plan (no audio yet)."""
    from voiceguide.cli.options import session_setup
    from voiceguide.speech import resolve_voice

    routine_id = routine_id_of(body)
    argv = render_argv(body)
    routine, source = catalog.load(routine_id)
    spec = catalog.spec(routine_id)
    params = parse_render_options(spec, argv)
    check_ambience(params)
    if params.get("voice"):
        resolve_voice(params["voice"], system_espeak=bool(params.get("system_espeak")))
    session = session_setup(routine, params)
    return Planned(session_key(source, params, session), spec, tuple(argv), session.script)


@dataclass
class Session:
    """One render, finished or not, and its events for every page that listens."""

    id: str
    folder: Path
    state: str = "rendering"  # then "done" or "error"
    error: str | None = None
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self) -> Any:
        """Every event so far, then each new one, until done or error."""
        seen = 0
        while True:
            changed = self._changed
            while seen < len(self.events):
                seen += 1
                yield self.events[seen - 1]
            if self.state != "rendering":
                return
            await changed.wait()

    def file(self, name: str) -> Path:
        return self.folder / name


class SessionStore:
    """Sessions by id: reused when finished, rendered by workers, trimmed to a disk budget."""

    def __init__(self, root: Path, budget_bytes: int) -> None:
        self.root = root
        self.budget = budget_bytes
        self.sessions: dict[str, Session] = {}
        self.workers: dict[str, asyncio.subprocess.Process] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(MAX_RENDERS)
        root.mkdir(parents=True, exist_ok=True)
        self.sweep()

    # ------------------------------------------------------------ lookup

    def get(self, session_id: str) -> Session | None:
        """A session rendered now or by an earlier run (its folder is still in the store)."""
        session = self.sessions.get(session_id)
        if session is None and _safe_id(session_id) and (self.root / session_id / AUDIO).is_file():
            session = self._finished(session_id)
        return session

    def _finished(self, session_id: str) -> Session:
        session = Session(session_id, self.root / session_id, state="done")
        session.publish("done", {"id": session_id})
        self.sessions[session_id] = session
        return session

    def touch(self, session: Session) -> None:
        """Mark as recently used, so the disk budget drops older sessions first."""
        with contextlib.suppress(OSError):
            os.utime(session.folder)

    # ------------------------------------------------------------ rendering

    def start(self, planned: Planned) -> Session:
        """The finished session for this plan, the one rendering now, or a new render."""
        session = self.get(planned.id)
        if session is not None and session.state != "error":
            self.touch(session)
            return session
        session = Session(planned.id, self.root / planned.id)
        self.sessions[planned.id] = session
        session.publish("progress", {"fraction": 0.0, "stage": "queued", "step": 0,
                                     "title": _first_title(planned)})  # fmt: skip
        task = asyncio.get_running_loop().create_task(self._render(session, planned))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return session

    async def _render(self, session: Session, planned: Planned) -> None:
        async with self.slots:
            part = Path(tempfile.mkdtemp(prefix=f"{PART_PREFIX}{session.id}-", dir=self.root))
            try:
                error = await self._run_worker(session, planned, part)
                if error is None:
                    shutil.rmtree(session.folder, ignore_errors=True)  # a stale, incomplete one
                    os.replace(part, session.folder)
            except BaseException:
                shutil.rmtree(part, ignore_errors=True)
                raise
            shutil.rmtree(part, ignore_errors=True)
        if error is None:
            session.state = "done"
            session.publish("done", {"id": session.id})
            self.trim(keep=session.id)
        else:
            session.state, session.error = "error", error
            session.publish("error", {"error": error})

    async def _run_worker(self, session: Session, planned: Planned, part: Path) -> str | None:
        """Run one render; its progress lines become events. The one-line error, or None."""
        job = json.dumps({"routine": planned.spec, "argv": list(planned.argv), "folder": str(part)})
        with tempfile.TemporaryFile() as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "voiceguide.web.worker",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                start_new_session=True,  # Ctrl-C reaches the server, which stops workers itself
            )  # fmt: skip
            self.workers[session.id] = proc
            try:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(job.encode())
                proc.stdin.close()
                error = None
                async for line in proc.stdout:
                    message = json.loads(line)
                    if "error" in message:
                        error = message["error"]
                    elif "fraction" in message:
                        session.publish("progress", message)
                code = await proc.wait()
            finally:
                self.workers.pop(session.id, None)
                if proc.returncode is None:
                    await _stop(proc)
            if code != 0 and error is None:
                stderr.seek(0)
                lines = stderr.read().decode(errors="replace").strip().splitlines()
                error = f"voiceguide: render failed ({lines[-1] if lines else f'exit {code}'})"
        return error

    async def close(self) -> None:
        """Stop every render (each cleans up its own temp files), then sweep what is left."""
        await asyncio.gather(*(_stop(proc) for proc in list(self.workers.values())))
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.sweep()

    # ------------------------------------------------------------ disk

    def sweep(self) -> None:
        """Remove half-made renders (a crash or kill -9 of an earlier run can leave them)."""
        for path in self.root.glob(f"{PART_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)

    def trim(self, keep: str | None = None) -> list[str]:
        """Drop the least recently used finished sessions until the store fits its budget."""
        folders = []
        for path in self.root.iterdir():
            if path.name.startswith(".") or not path.is_dir():
                continue
            size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
            folders.append((path.stat().st_mtime, path, size))
        total = sum(size for *_, size in folders)
        dropped = []
        for _, path, size in sorted(folders):
            if total <= self.budget:
                break
            if path.name == keep or path.name in self.workers:
                continue
            shutil.rmtree(path, ignore_errors=True)
            self.sessions.pop(path.name, None)
            total -= size
            dropped.append(path.name)
        return dropped


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGINT first (the render removes its temp files), SIGKILL if it does not end."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        await asyncio.wait_for(proc.wait(), STOP_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


def _safe_id(session_id: str) -> bool:
    return session_id.isalnum() and len(session_id) <= 64


def _first_title(planned: Planned) -> str:
    chapters = planned.script.chapters
    return chapters[0].title if chapters else planned.script.title


def new_token() -> str:
    """The per-run secret: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def default_store() -> Path:
    from voiceguide.paths import cache_dir

    return cache_dir() / "sessions"
