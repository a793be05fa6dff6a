"""`voices install` against a local HTTP server on 127.0.0.1 (no internet here): a good voice,
a truncated download, a wrong checksum and a server error."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from voiceguide.cli import main
from voiceguide.speech.engines.piper import bundled_voice, find_voice

TINY = b"not really a model, but bytes to fetch\n" * 50


def _entry(name: str, model: bytes, config: bytes, md5: str | None = None) -> dict:
    lang = name.split("-")[0]
    folder = f"{lang[:2]}/{lang}/{name.split('-')[1]}/{name.split('-')[2]}"
    return {
        "key": name,
        "files": {
            f"{folder}/{name}.onnx": {
                "size_bytes": len(model),
                "md5_digest": md5 or hashlib.md5(model).hexdigest(),
            },
            f"{folder}/{name}.onnx.json": {
                "size_bytes": len(config),
                "md5_digest": hashlib.md5(config).hexdigest(),
            },
            f"{folder}/MODEL_CARD": {"size_bytes": 1, "md5_digest": "0"},
        },
    }


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    joe = bundled_voice()
    assert joe is not None
    model, config = joe.model.read_bytes(), joe.config.read_bytes()
    voices = {
        "en_US-copy-medium": _entry("en_US-copy-medium", model, config),
        "xx_XX-short-low": _entry("xx_XX-short-low", TINY, config),
        "xx_XX-wrong-low": _entry("xx_XX-wrong-low", TINY, config, md5="0" * 32),
        "xx_XX-error-low": _entry("xx_XX-error-low", TINY, config),
    }
    files: dict[str, bytes] = {"voices.json": json.dumps(voices).encode()}
    for name, entry in voices.items():
        for path in entry["files"]:
            if path.endswith(".onnx.json"):
                files[path] = config
            elif path.endswith(".onnx"):
                files[path] = model if name == "en_US-copy-medium" else TINY

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.lstrip("/")
            if path not in files or ("error" in path and path.endswith(".onnx")):
                self.send_error(404 if path not in files else 500)
                return
            body = files[path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if "short" in path and path.endswith(".onnx"):
                body = body[: len(body) // 2]  # then the connection closes: truncated
                self.close_connection = True
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: str) -> Path:
    monkeypatch.setenv("VOICEGUIDE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VOICEGUIDE_VOICES_URL", server)
    return tmp_path / "data" / "voices"


def test_install_a_voice_then_use_it(runner, data: Path, tmp_path: Path) -> None:
    result = runner.invoke(main, ["voices", "install", "en_US-copy-medium"])
    assert result.exit_code == 0, result.output
    assert "installed en_US-copy-medium" in result.output
    assert sorted(p.name for p in data.iterdir()) == [
        "en_US-copy-medium.onnx",
        "en_US-copy-medium.onnx.json",
    ]
    found = find_voice("en_US-copy-medium")
    assert found is not None and found.language == "en-US"
    listed = json.loads(runner.invoke(main, ["voices", "--json"]).output)
    assert "en_US-copy-medium" in {e["id"] for e in listed if e["engine"] == "piper"}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("xx_XX-short-low", "incomplete"),
        ("xx_XX-wrong-low", "does not match the catalogue's checksum"),
        ("xx_XX-error-low", "answered 500"),
        ("xx_XX-absent-low", "no voice 'xx_XX-absent-low' in the Piper catalogue"),
    ],
)
def test_a_bad_download_is_one_line_and_leaves_nothing(
    runner, data: Path, name: str, message: str
) -> None:
    result = runner.invoke(main, ["voices", "install", name])
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("voiceguide: ") and message in last, result.output
    assert "Traceback" not in result.output
    assert not data.exists() or list(data.iterdir()) == []  # no voice, no temp file


def test_no_catalogue_server_is_one_line(
    runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VOICEGUIDE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VOICEGUIDE_VOICES_URL", "http://127.0.0.1:9")  # discard port: refused
    result = runner.invoke(main, ["voices", "install", "en_US-lessac-medium"])
    assert result.exit_code == 1
    assert "cannot reach the voice catalogue" in result.output
