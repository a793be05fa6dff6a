"""The Starlette application: the JSON API, the media files and the two pages.

Every answer carries the same facts and error lines as the command line: the
lists are the CLI's ``--json``, a session is ``show --json``, and a bad option
gets render's own one-line message with status 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from voiceguide.errors import VoiceguideError
from voiceguide.web.catalog import Catalog, ambience_rows, voice_rows
from voiceguide.web.guard import Guard
from voiceguide.web.sessions import AUDIO, SCRIPT, SUBTITLES, SessionStore, plan

STATIC = Path(__file__).resolve().parent / "static"
PREVIEW_TEXT = "Glide your hands slowly up beside the spine, then let them rest."
NO_STORE = {"cache-control": "no-store"}


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=NO_STORE)


def _line(err: VoiceguideError) -> str:
    return f"voiceguide: {err}"


class Api:
    """Route handlers over one catalog and one session store."""

    def __init__(self, catalog: Catalog, store: SessionStore) -> None:
        self.catalog = catalog
        self.store = store
        self.previews = Path(tempfile.mkdtemp(prefix="voiceguide-previews-"))

    # ------------------------------------------------------------ pages

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=NO_STORE)

    async def player(self, request: Request) -> Response:
        if self.store.get(request.path_params["sid"]) is None:
            return Response("no such session\n", 404, media_type="text/plain")
        return FileResponse(STATIC / "session.html", headers=NO_STORE)

    # ------------------------------------------------------------ lists

    async def routines(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self.catalog.routines), headers=NO_STORE)

    async def voices(self, request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(voice_rows), headers=NO_STORE)
        except VoiceguideError as err:
            return _error(_line(err), 500)

    async def ambience(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(ambience_rows), headers=NO_STORE)

    # ------------------------------------------------------------ sessions

    async def _planned(self, request: Request) -> Any:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error("voiceguide: the request must be JSON")
        try:
            return await run_in_threadpool(plan, self.catalog, body)
        except VoiceguideError as err:
            return _error(_line(err))

    async def plan(self, request: Request) -> Response:
        """The steps with their times before rendering: ``show --json`` for these options."""
        planned = await self._planned(request)
        if isinstance(planned, Response):
            return planned
        return JSONResponse({"id": planned.id, **planned.script.to_dict()}, headers=NO_STORE)

    async def create(self, request: Request) -> Response:
        planned = await self._planned(request)
        if isinstance(planned, Response):
            return planned
        session = self.store.start(planned)
        return JSONResponse({"id": session.id, "state": session.state,
                             "url": f"/session/{session.id}"},
                            status_code=201 if session.state == "rendering" else 200,
                            headers=NO_STORE)  # fmt: skip

    async def session(self, request: Request) -> Response:
        session = self.store.get(request.path_params["sid"])
        if session is None:
            return _error("voiceguide: no such session", 404)
        if session.state == "error":
            return _error(session.error or "voiceguide: render failed", 409)
        if session.state != "done":
            return _error("voiceguide: still rendering; follow /events", 409)
        return FileResponse(session.file(SCRIPT), media_type="application/json",
                            headers=NO_STORE)  # fmt: skip

    async def events(self, request: Request) -> Response:
        session = self.store.get(request.path_params["sid"])
        if session is None:
            return _error("voiceguide: no such session", 404)

        async def stream() -> AsyncIterator[bytes]:
            async for kind, data in session.follow():
                yield f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={**NO_STORE, "x-accel-buffering": "no"})  # fmt: skip

    async def media(self, request: Request) -> Response:
        """The MP3 (Range requests answered by FileResponse), the subtitles, the script."""
        session = self.store.get(request.path_params["sid"])
        name = {"audio": AUDIO, "subtitles.vtt": SUBTITLES, "script.json": SCRIPT}.get(
            request.path_params["what"]
        )
        if name is None or session is None or session.state != "done":
            return _error("voiceguide: no such session, or not rendered yet", 404)
        self.store.touch(session)
        types = {AUDIO: "audio/mpeg", SUBTITLES: "text/vtt", SCRIPT: "application/json"}
        return FileResponse(session.file(name), media_type=types[name])

    # ------------------------------------------------------------ previews

    async def voice_preview(self, request: Request) -> Response:
        """A sentence in a voice and rate, made by ``voiceguide say`` (same checks, same line)."""
        argv = ["say", PREVIEW_TEXT]
        for name in ("voice", "rate"):
            value = request.query_params.get(name)
            if value:
                argv += [f"--{name}", value]
        return await self._preview(argv)

    async def ambience_preview(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in {row["name"] for row in ambience_rows()}:
            return _error(f"voiceguide: unknown ambience {name!r}", 404)
        return await self._preview(["ambience", "preview", name, "--seconds", "12"])

    async def _preview(self, argv: list[str]) -> Response:
        target = self.previews / (
            hashlib.sha256("\0".join(argv).encode()).hexdigest()[:20] + ".mp3"
        )
        if not target.is_file():
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "voiceguide",
                *argv,
                "-o",
                str(target),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
            if proc.returncode != 0:
                lines = err.decode(errors="replace").strip().splitlines()
                return _error(lines[-1] if lines else "voiceguide: preview failed")
        return FileResponse(target, media_type="audio/mpeg")

    def close(self) -> None:
        shutil.rmtree(self.previews, ignore_errors=True)


def _warm(catalog: Catalog) -> None:
    """Plan the routines and list the voices once, so the first page is as quick as the next.

    A failure here is not reported: the same call fails again, with its line, when asked.
    """
    with contextlib.suppress(Exception):
        catalog.routines()
        voice_rows()


def build_app(catalog: Catalog, store: SessionStore, token: str, hosts: set[str],
              cookie: str) -> Guard:  # fmt: skip
    """The whole server: routes behind the Host and token guard."""
    api = Api(catalog, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        asyncio.get_running_loop().run_in_executor(None, _warm, catalog)
        try:
            yield
        finally:
            await store.close()
            api.close()

    routes = [
        Route("/", api.index),
        Route("/session/{sid}", api.player),
        Route("/api/routines", api.routines),
        Route("/api/voices", api.voices),
        Route("/api/voices/preview", api.voice_preview),
        Route("/api/ambience", api.ambience),
        Route("/api/ambience/{name}/preview", api.ambience_preview),
        Route("/api/plan", api.plan, methods=["POST"]),
        Route("/api/sessions", api.create, methods=["POST"]),
        Route("/api/sessions/{sid}", api.session),
        Route("/api/sessions/{sid}/events", api.events),
        Route("/api/sessions/{sid}/{what:str}", api.media, methods=["GET", "HEAD"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    return Guard(app, token, hosts, cookie)
