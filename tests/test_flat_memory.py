"""Memory does not grow with the number of cues: clips live on disk, not in the mixer.

Each case runs in its own process (real espeak-ng synthesis, the real mixer) and
reports that process's peak resident memory. A routine of 200 steps, each with its
own sentence, against one of 20: with every clip held as samples (as before) the
200-step process peaked about 115 MB higher (300 against 30 steps: 173 MB); streamed
from disk, 10-15 MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from voiceguide.clipbank import ClipBank

LINES = [
    "Glide your flat hands slowly from the lower back up to the shoulders and down again.",
    "Knead the muscle beside the spine between your thumbs and fingers, one side at a time.",
    "Press gently with your palms and lean your weight in rather than pushing with your arms.",
    "Ask your partner whether the pressure feels good, and soften it if they say it is too much.",
]

CHILD = r"""
import json, resource, sys
from voiceguide.compiler import Options, compile
from voiceguide.mixer import RATE
from voiceguide.render import prepare
from voiceguide.routine import load_routine
from voiceguide.speech import VoiceSettings
mixer, _ = prepare(compile(load_routine(sys.argv[1]), Options()), VoiceSettings())
for at in (0, mixer.length // 2, mixer.length - 2 * RATE):  # blocks from start to end
    mixer.render(at, 2 * RATE)
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "cues": len(mixer.script.cues), "minutes": mixer.length / RATE / 60}))
"""


def _routine(path: Path, steps: int) -> Path:
    lines = ["voiceguide: 1", f"title: {steps} steps", "steps:"]
    for n in range(steps):
        say = f"Step {n + 1}. {LINES[n % len(LINES)]}"
        lines += [f"  - title: Part {n + 1}", f"    say: {say}", "    duration: 15s"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _peak(routine: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(routine)], capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_peak_memory_does_not_grow_with_the_number_of_cues(tmp_path: Path) -> None:
    short = _peak(_routine(tmp_path / "short.yaml", 20))
    long = _peak(_routine(tmp_path / "long.yaml", 200))
    assert long["cues"] > 9 * short["cues"] and long["minutes"] > 45, (short, long)
    # 180 more clips of ~6 s as int16 would be ~100 MB more; the allocator's own noise is less
    assert long["rss_mb"] - short["rss_mb"] < 40, (short, long)


def test_clips_read_back_exactly_and_the_file_goes_with_the_bank(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    clips = {f"t{n}": rng.uniform(-1.2, 1.2, 4410 * (n + 1)).astype(np.float32) for n in range(5)}
    with ClipBank(tmp_path) as bank:
        for text, samples in clips.items():
            bank.add(text, samples)
        bank.placeholder("later", 0.5)
        for text, samples in clips.items():
            want = np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)
            stored = bank.stored(text)
            assert np.array_equal(bank.get(text)[0], want)
            assert np.array_equal(stored.read(100, 300), want[100:300])
        assert not bank.get("later")[0].any() and bank.duration("later") == 0.5
        assert not list(tmp_path.iterdir()), "the clips' file must have no name"


def test_an_unusable_cache_folder_sends_the_clips_to_the_temp_folder(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    samples = np.linspace(-0.5, 0.5, 22050, dtype=np.float32)
    with ClipBank(tmp_path / "cache" / "clips") as bank:
        bank.add("line", samples)
        assert np.array_equal(bank.get("line")[0], np.round(samples * 32767.0).astype(np.int16))
