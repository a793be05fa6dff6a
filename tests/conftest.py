"""Shared fixtures: an isolated cache and config for every test, and the CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never read the developer's own config or write into their cache."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("VOICEGUIDE_CACHE_DIR", str(_shared_cache(tmp_path_factory)))


_CACHE: list[Path] = []


def _shared_cache(factory: pytest.TempPathFactory) -> Path:
    """One clip cache for the whole run, so real synthesis happens once per phrase."""
    if not _CACHE:
        _CACHE.append(factory.mktemp("clip-cache"))
    return _CACHE[0]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
