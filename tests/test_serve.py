"""``voiceguide serve`` over real HTTP: guard, JSON API, renders, Range, stopping, the QR."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from support.served import Served, start_server, write_folder

pytest.importorskip("starlette")

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voiceguide", *args],
                          capture_output=True, text=True)  # fmt: skip


# ---------------------------------------------------------------- who may talk to it


def test_listens_on_loopback_with_a_long_token(served: Served) -> None:
    assert served.url.startswith("http://127.0.0.1:")
    assert len(base64.urlsafe_b64decode(served.token + "==")) * 8 >= 128
    with socket.create_connection(("127.0.0.1", served.port), timeout=2):
        pass


@pytest.mark.parametrize("path", ["/", "/api/routines", "/static/style.css",
                                  "/api/sessions/abc/audio", "/session/abc"])  # fmt: skip
def test_without_the_cookie_everything_is_forbidden(served: Served, path: str) -> None:
    assert served.call(path, cookie=False).status == 403
    assert served.call(path, cookie=False, headers={"Cookie": f"voiceguide-{served.port}=nope"}
                       ).status == 403  # fmt: skip
    assert served.call(path + "?token=wrong", cookie=False).status == 403


def test_the_token_is_exchanged_for_a_strict_cookie(served: Served) -> None:
    reply = served.call(f"/?token={served.token}&routine=serve-test.yaml", cookie=False)
    assert reply.status == 303
    assert reply.headers["location"] == "/?routine=serve-test.yaml"
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"{served.cookie};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert served.call("/").status == 200


def test_a_foreign_host_gets_421(served: Served) -> None:
    """DNS rebinding: a page on evil.example resolving its name to 127.0.0.1 gets nothing."""
    for host in ("evil.example", f"evil.example:{served.port}", f"127.0.0.1:{served.port + 1}"):
        assert served.call("/api/routines", headers={"Host": host}).status == 421
    assert served.call("/api/routines", headers={"Host": f"localhost:{served.port}"}).status == 200


# ---------------------------------------------------------------- lists


def test_routines_are_the_cli_list_plus_the_folder(served: Served) -> None:
    rows = served.call("/api/routines").json()
    cli = json.loads(_cli("routines", "--json").stdout)
    builtin = [{k: v for k, v in row.items() if k != "source"} for row in rows[: len(cli)]]
    assert builtin == cli
    by_id = {row["id"]: row for row in rows}
    assert by_id["serve-test.yaml"]["title"] == "Serve test session"
    broken = served.folder / "broken.yaml"
    line = _cli("validate", str(broken)).stderr.strip()
    assert by_id["broken.yaml"]["error"] == line  # listed with its one line, not hidden


def test_ambience_and_voices_are_the_cli_lists(served: Served) -> None:
    assert served.call("/api/ambience").json() == json.loads(_cli("ambience", "--json").stdout)
    voices = served.call("/api/voices").json()
    ids = {v["id"] for v in voices}
    assert "gmw/en-US" in ids and any(v["variant"] for v in voices)


# ---------------------------------------------------------------- sessions


def test_bad_options_get_the_command_lines_line(served: Served) -> None:
    reply = served.call("/api/sessions", {"routine": "serve-test.yaml", "pace": 9})
    assert reply.status == 400
    cli = _cli("render", str(served.folder / "serve-test.yaml"), "--pace", "9").stderr.strip()
    assert cli.startswith(reply.json()["error"])  # the CLI adds only "(see '... --help')"
    for body, fragment in [
        ({"routine": "nope"}, "no routine 'nope'"),
        ({"routine": "serve-test.yaml", "length": "soon"}, "--length"),
        ({"routine": "serve-test.yaml", "ambience": "/etc/passwd"}, "unknown ambience"),
        ({"routine": "serve-test.yaml", "volume": 3}, "unknown option 'volume'"),
        ({"routine": "broken.yaml"}, 'missing "steps"'),
    ]:
        reply = served.call("/api/sessions", body)
        assert reply.status == 400 and fragment in reply.json()["error"], (body, reply.body)
        assert "\n" not in reply.json()["error"]


def test_a_render_reports_every_step_then_done(served: Served) -> None:
    reply = served.call("/api/sessions", {"routine": "serve-test.yaml", "pace": 1.2})
    assert reply.status == 201
    session_id = reply.json()["id"]
    events = served.events(session_id)
    assert events[-1] == ("done", {"id": session_id})
    progress = [data for kind, data in events if kind == "progress"]
    script = served.call(f"/api/sessions/{session_id}").json()
    assert {p["step"] for p in progress} == set(range(len(script["chapters"])))
    fractions = [p["fraction"] for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] > 0.95


def test_a_session_is_show_json_and_is_reused(served: Served, rendered: str) -> None:
    script = served.call(f"/api/sessions/{rendered}").json()
    shown = json.loads(_cli("show", str(served.folder / "serve-test.yaml"), "--json").stdout)
    assert set(script) - {"loudness"} == set(shown)  # render adds the delivered file's loudness
    assert [c["title"] for c in script["chapters"]] == [c["title"] for c in shown["chapters"]]
    audio = served.store / rendered / "session.mp3"
    before = audio.stat().st_mtime_ns
    again = served.call("/api/sessions", {"routine": "serve-test.yaml"})
    assert again.status == 200 and again.json() == {
        "id": rendered, "state": "done", "url": f"/session/{rendered}"}  # fmt: skip
    assert audio.stat().st_mtime_ns == before
    assert served.call(f"/session/{rendered}").status == 200
    assert served.call("/session/0123456789abcdef").status == 404


def test_audio_answers_range_requests(served: Served, rendered: str) -> None:
    path = f"/api/sessions/{rendered}/audio"
    size = (served.store / rendered / "session.mp3").stat().st_size
    whole = served.call(path)
    assert whole.status == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "audio/mpeg" and len(whole.body) == size
    part = served.call(path, headers={"Range": "bytes=100-199"})
    assert part.status == 206 and part.body == whole.body[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    tail = served.call(path, headers={"Range": "bytes=-500"})
    assert tail.status == 206 and tail.body == whole.body[-500:]
    assert served.call(path, headers={"Range": f"bytes={size + 10}-"}).status == 416
    head = served.call(path, method="HEAD")
    assert head.status == 200 and head.body == b"" and int(head.headers["content-length"]) == size
    vtt = served.call(f"/api/sessions/{rendered}/subtitles.vtt")
    assert vtt.status == 200 and vtt.body.startswith(b"WEBVTT")


def test_a_failed_render_leaves_nothing_and_says_why(served: Served) -> None:
    reply = served.call("/api/sessions", {"routine": "bad-bed.yaml"})
    session_id = reply.json()["id"]
    kind, data = served.events(session_id)[-1]
    assert kind == "error" and data["error"].startswith("voiceguide: ") and "noise.ogg" in data[
        "error"]  # fmt: skip
    assert "\n" not in data["error"]
    assert served.call(f"/api/sessions/{session_id}").json()["error"] == data["error"]
    assert not (served.store / session_id).exists()
    assert not list(served.store.glob(".part-*"))


def test_disconnects_cost_nothing_and_two_render_at_once(served: Served, rendered: str) -> None:
    # Hang up on a download after a few bytes, and on an event stream after its first event.
    audio = urllib.request.Request(served.base + f"/api/sessions/{rendered}/audio",
                                   headers={"Cookie": served.cookie})  # fmt: skip
    with urllib.request.urlopen(audio, timeout=10) as response:
        response.read(1000)
    ids = []
    for pace in (0.9, 1.1):
        reply = served.call("/api/sessions", {"routine": "serve-test.yaml", "pace": pace})
        ids.append(reply.json()["id"])
    events = urllib.request.Request(served.base + f"/api/sessions/{ids[0]}/events",
                                    headers={"Cookie": served.cookie})  # fmt: skip
    with urllib.request.urlopen(events, timeout=10) as response:
        response.readline()
    results: dict[str, str] = {}
    threads = [threading.Thread(target=lambda i=i: results.update(
        {i: served.events(i)[-1][0]})) for i in ids]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {ids[0]: "done", ids[1]: "done"}
    assert served.call("/api/routines").status == 200


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stops_cleanly_mid_render(tmp_path: Path, sig: int) -> None:
    """Stopped while a render is mixing (ffmpeg running, temp files open): nothing is left."""
    server = start_server(write_folder(tmp_path / "folder"), tmp_path / "store",
                          tmp=tmp_path / "tmp")  # fmt: skip
    reply = server.call("/api/sessions", {"routine": "serve-test.yaml", "length": "8m"})
    assert reply.status == 201
    stream = urllib.request.Request(server.base + f"/api/sessions/{reply.json()['id']}/events",
                                    headers={"Cookie": server.cookie})  # fmt: skip
    with urllib.request.urlopen(stream, timeout=60) as response:
        for line in response:
            if b'"stage": "mix"' in line:
                break
    assert list((tmp_path / "store").glob(".part-*/*"))  # the render's temp files exist now
    assert list((tmp_path / "tmp").glob("voiceguide-previews-*"))
    assert server.stop(sig) == 0
    assert list((tmp_path / "store").iterdir()) == []
    assert list((tmp_path / "tmp").iterdir()) == []  # previews and every temp file gone
    assert server.proc.stderr is not None and "stopped" in server.proc.stderr.read()


def test_lan_prints_a_qr_code_of_the_url(tmp_path: Path) -> None:
    from voiceguide.cli.serve import lan_address
    from voiceguide.errors import VoiceguideError

    try:
        address = lan_address()
    except VoiceguideError:
        pytest.skip("no LAN address on this machine")
    server = start_server(write_folder(tmp_path / "folder"), tmp_path / "store", "--lan")
    try:
        assert server.url.startswith(f"http://{address}:")
        qr = [line for line in server.stdout[:-1] if line.strip()]
        image = tmp_path / "qr.pbm"
        image.write_bytes(_pbm(qr))
        decoded = subprocess.run(["zbarimg", "--quiet", "--raw", str(image)],
                                 capture_output=True, text=True, check=True)  # fmt: skip
        assert decoded.stdout.strip() == server.url
        with pytest.raises(OSError):  # not on loopback any more
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    finally:
        server.stop()


def _pbm(lines: list[str], scale: int = 8) -> bytes:
    """The half-block terminal QR code as a bitmap: a light glyph half is a light module.

    segno prints light modules as the glyph, so the dark background shows the dark modules
    (the usual look on a dark terminal).
    """
    top = {" ": (0, 0), "▀": (1, 0), "▄": (0, 1), "█": (1, 1)}
    width = max(len(line) for line in lines)
    rows: list[list[int]] = []
    for line in lines:
        cells = [top.get(ch, (0, 0)) for ch in line.ljust(width)]
        rows.append([1 - c[0] for c in cells])  # 1 = dark in PBM
        rows.append([1 - c[1] for c in cells])
    pad = 4
    rows = [[0] * (width + 2 * pad)] * pad + [[0] * pad + r + [0] * pad for r in rows] + [
        [0] * (width + 2 * pad)] * pad  # fmt: skip
    big = [[v for v in row for _ in range(scale)] for row in rows for _ in range(scale)]
    body = "\n".join(" ".join(map(str, row)) for row in big)
    return f"P1\n{len(big[0])} {len(big)}\n{body}\n".encode()


def test_trim_keeps_the_store_within_its_budget(tmp_path: Path) -> None:
    from voiceguide.web.sessions import SessionStore

    store = SessionStore(tmp_path, budget_bytes=3_000)
    for age, name in enumerate(["old", "mid", "new"]):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "session.mp3").write_bytes(b"x" * 1_500)
        os.utime(folder, (1_000 + age, 1_000 + age))
    (tmp_path / ".part-x").mkdir()
    assert store.trim(keep="old") == ["mid"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".part-x", "new", "old"]
    store.sweep()
    assert not (tmp_path / ".part-x").exists()


def test_serve_help_has_an_example() -> None:
    out = _cli("serve", "--help").stdout
    assert "voiceguide serve --lan" in out and "--port" in out


def test_previews_are_spoken_and_played_by_the_cli(served: Served) -> None:
    voice = served.call("/api/voices/preview?voice=en-gb&rate=140")
    assert voice.status == 200 and voice.headers["content-type"] == "audio/mpeg"
    assert len(voice.body) > 5_000
    bad = served.call("/api/voices/preview?voice=nosuchvoice")
    assert bad.status == 400 and "unknown voice 'nosuchvoice'" in bad.json()["error"]
    bed = served.call("/api/ambience/rain/preview")
    assert bed.status == 200 and len(bed.body) > 100_000  # 12 s of MP3
    assert served.call("/api/ambience/..%2Fetc/preview").status == 404
