"""``voiceguide serve``: a page on this machine that renders sessions and plays them on a phone."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from typing import Any

import click

from voiceguide.errors import VoiceguideError

DEFAULT_PORT = 8765


def lan_address() -> str:
    """The address other machines on the LAN reach this one by (the default route's source)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = probe.getsockname()[0]
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        raise VoiceguideError("--lan: this machine has no network address besides loopback")
    return address


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        hint = "; pick another with --port" if port else ""
        raise VoiceguideError(f"cannot listen on {host}:{port} ({err.strerror}){hint}") from None
    sock.listen(128)  # connections wait in the backlog from the moment the URL is printed
    return sock


def terminal_qr(url: str) -> str:
    """The URL as a QR code in half-block characters, dark modules drawn light-on-dark safe."""
    import io

    import segno

    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


@click.command()
@click.argument("folder", required=False, default=".",
                type=click.Path(file_okay=False, path_type=Path))  # fmt: skip
@click.option(
    "--lan",
    is_flag=True,
    help="Listen on this machine's LAN address (for a phone) and print a QR code.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    metavar="HOST",
    help="Also answer to this host name, e.g. mybox.local (repeatable).",
)
@click.option(
    "--store",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for rendered sessions (default: the user cache folder).",
)
@click.option(
    "--keep",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    metavar="MB",
    help="Disk budget for finished sessions; the oldest go first.",
)
def serve(folder: Path, lan: bool, port: int, names: tuple[str, ...], store: Path | None,
          keep: int) -> None:  # fmt: skip
    """Serve a page that renders sessions and plays them on a phone.

    The page offers the built-in routines and the routine files in FOLDER
    (default: this folder). The URL it prints carries a secret token: only
    browsers that opened it may use the server. It listens on 127.0.0.1 unless
    --lan is given. Ctrl-C stops it.

    \b
    Examples:
      voiceguide serve                  open the printed URL on this machine
      voiceguide serve --lan            scan the QR code with a phone on the same Wi-Fi
      voiceguide serve ~/routines --port 9000
    """
    try:
        import segno  # noqa: F401
        import uvicorn
        from starlette import applications  # noqa: F401
    except ImportError:
        raise VoiceguideError(
            "serve needs its extra: pip install 'voiceguide[serve]' (or bash scripts/setup.sh)"
        ) from None
    from voiceguide.web.app import build_app
    from voiceguide.web.catalog import Catalog
    from voiceguide.web.sessions import SessionStore, default_store, new_token

    if not folder.is_dir():
        raise VoiceguideError(f"{folder}: no such folder")
    host = lan_address() if lan else "127.0.0.1"
    sock = bind(host, port)
    port = sock.getsockname()[1]
    hosts = {f"{host}:{port}", *(f"{n}:{port}" for n in names)}
    if not lan:
        hosts.add(f"localhost:{port}")
    token = new_token()
    sessions = SessionStore(store or default_store(), keep * 1_000_000)
    app = build_app(Catalog(folder), sessions, token, hosts, cookie=f"voiceguide-{port}")
    url = f"http://{host}:{port}/?token={token}"
    click.echo(f"voiceguide: serving {folder.resolve()} (Ctrl-C stops)", err=True)
    if lan:
        click.echo(terminal_qr(url))
    click.echo(url)
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=2, access_log=False)  # fmt: skip
    server = quiet_server(config)
    server.run(sockets=[sock])
    click.echo("voiceguide: stopped", err=True)


def quiet_server(config: Any) -> Any:
    """uvicorn's server, stopping on SIGINT or SIGTERM without re-raising the signal afterwards.

    uvicorn re-raises a caught signal once it has shut down, which would end the
    process with a traceback or a signal status instead of a clean exit.
    """
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True  # a second Ctrl-C: stop waiting for connections
            self.should_exit = True

    return Server(config)
