"""Shared setup: an isolated cache, config and state for the whole run, and the CLI runner."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent

# Set before any test or fixture runs (and inherited by every subprocess a test
# starts): never read the developer's config or touch their cache, and share one
# clip cache across the run, so each phrase is synthesized once and every
# process hears the very same clips (espeak's output varies slightly run to run).
_ROOT = Path(tempfile.mkdtemp(prefix="voiceguide-tests-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
os.environ["VOICEGUIDE_CACHE_DIR"] = str(_ROOT / "cache")
os.environ["XDG_CONFIG_HOME"] = str(_ROOT / "config")
os.environ["XDG_STATE_HOME"] = str(_ROOT / "state")
os.environ.pop("VOICEGUIDE_CONFIG", None)
# The light engine unless a test asks for another: the neural voice (Piper) is tested in
# tests/test_neural.py, and synthesizing every test's phrases with it would cost minutes.
os.environ["VOICEGUIDE_ENGINE"] = "pyttsx3"
# The Ctrl-C tests send SIGINT to the processes they start, which must take it as from a
# terminal. A suite started in the background (`bash .ci/run &` from a script) inherits
# SIGINT ignored, and an ignored signal stays ignored across exec: voiceguide then ran
# on through Ctrl-C and three tests failed. A handler is reset to the default on exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


# ---------------------------------------------------------------- voiceguide serve (test_serve*.py)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One ``voiceguide serve`` for the HTTP and browser tests (also named voiceguide.test)."""
    pytest.importorskip("starlette")
    from support.served import start_server, write_folder

    root = tmp_path_factory.mktemp("serve")
    server = start_server(
        write_folder(root / "folder"), root / "store", "--name", "voiceguide.test"
    )
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="session")
def rendered(served) -> str:  # type: ignore[no-untyped-def]
    """The test routine rendered once with default options: its session id."""
    return served.render(routine="serve-test.yaml")
