"""The config's `[cache] max_mb` holds for every command that fills the clip cache."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support.alsa import alsa_home
from support.routines import SHORT

from voiceguide.speech.cache import ClipCache

LIMIT_MB = 4


def _stale_filler(cache: Path, count: int = 24) -> list[Path]:
    """Old clips worth 6 MB (0.25 MB each), last used a day ago: the first to go."""
    store = ClipCache(cache, limit_mb=1000)
    day_ago = time.time() - 86_400
    paths = []
    for i in range(count):
        path = store.store(f"{i:064x}", np.zeros(62_500, np.float32))
        os.utime(path, (day_ago, day_ago))
        paths.append(path)
    return paths


@pytest.mark.parametrize("command", ["render", "play"])
def test_render_and_play_keep_the_cache_within_the_configured_limit(
    tmp_path: Path, command: str
) -> None:
    cache = tmp_path / "cache"
    filler = _stale_filler(cache)
    config = tmp_path / "config.toml"
    config.write_text(f"[cache]\nmax_mb = {LIMIT_MB}\n")
    env, _ = alsa_home(tmp_path)
    env.update(VOICEGUIDE_CONFIG=str(config), VOICEGUIDE_CACHE_DIR=str(cache),
               VOICEGUIDE_PLAY_CLOCK="virtual")  # fmt: skip
    (tmp_path / "r.yaml").write_text(SHORT)
    args = (
        ["render", "r.yaml", "-o", "out.wav", "-q"] if command == "render" else ["play", "r.yaml"]
    )
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "voiceguide", *args, "--ambience", "none"],
                          cwd=tmp_path, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    info = ClipCache(cache, limit_mb=LIMIT_MB).info()
    fresh = [p for p in cache.glob("clips/*/*.clip") if p.stat().st_mtime >= started - 1]
    assert fresh, "the session's clips should be in the cache"
    assert info["bytes"] <= LIMIT_MB * 1e6, info
    assert sum(not p.exists() for p in filler) > 0, "no stale clip was evicted"
    assert all(p.exists() for p in fresh), "the session's own clips go last"


def test_a_limit_given_in_code_wins_over_the_config(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[cache]\nmax_mb = 7\n")
    monkeypatch.setenv("VOICEGUIDE_CONFIG", str(config))
    assert ClipCache(tmp_path).limit_bytes == 7_000_000
    assert ClipCache(tmp_path, limit_mb=3).limit_bytes == 3_000_000
    config.unlink()
    assert ClipCache(tmp_path).limit_bytes == 500_000_000
