"""Long sentences in clauses with Piper (issue 14): memory, CPU, pauses, and how well a
recognizer understands the speech, with the run cap against without it.

    .venv/bin/python scripts/bench.py --clauses

Run by ``scripts/bench.py --clauses``; prints one JSON report. Every built-in line is
synthesized at the default rate (140 wpm) by the real backend, in a fresh process per
setting for its peak RSS and CPU time; then each sentence the cap cuts is made whole
and in clauses, and the quiet at every cut measured in both. The recognizer is
pocketsphinx's general English model (the `listen` extra) on the whole lines that hold
a cut sentence, scored as word errors against the line's text.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import numpy as np

UNCAPPED = 10**6
RATE_WPM = 140

ONE_SETTING = r"""
import json, sys, time
from voiceguide.compiler import Options, compile
from voiceguide.routine import builtin_ids, load_builtin
from voiceguide.speech.engines import engine_class
from voiceguide.speech.engines import piper as P

P.MAX_RUN = int(sys.argv[1])
backend = engine_class("piper").backend(P.PiperEngine(P.bundled_voice()).worker_env())
texts = sorted({c.text for r in builtin_ids() for c in compile(load_builtin(r), Options()).cues})
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
loaded = hwm()
cpu = time.process_time()
seconds = 0.0
for text in texts:
    audio, rate = backend.synthesize(text, "", %(wpm)d, 50)
    seconds += len(audio) / rate
print(json.dumps({"lines": len(texts), "loaded_mb": round(loaded), "peak_mb": round(hwm()),
                  "cpu_s": round(time.process_time() - cpu, 1), "speech_s": round(seconds, 1)}))
""" % {"wpm": RATE_WPM}  # noqa: UP031 - braces of the code itself


def one_setting(max_run: int) -> dict[str, Any]:
    """Every built-in line in a fresh process: peak RSS, CPU time, seconds of speech."""
    out = subprocess.run([sys.executable, "-c", ONE_SETTING, str(max_run)], check=True,
                         capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def quiet_runs(audio: np.ndarray, rate: int, peak: float) -> list[tuple[int, int]]:
    """(start, end) samples of every quiet of 20 ms or more inside ``audio``."""
    from voiceguide.speech.engines import clauses

    frame = round(clauses.FRAME_SECONDS * rate)
    n = len(audio) // frame * frame
    loud = np.abs(audio[:n]).reshape(-1, frame).max(axis=1) >= clauses.SILENCE * peak
    runs, start = [], None
    for k, is_loud in enumerate(loud):
        if not is_loud and start is None:
            start = k
        elif is_loud and start is not None:
            if start > 0 and k - start >= 4:
                runs.append((start * frame, k * frame))
            start = None
    return runs


def gap_at(audio: np.ndarray, rate: int, near: int, within: float = 0.25) -> float:
    """Seconds of the quiet nearest to sample ``near`` (0 when none is within ``within`` s)."""
    runs = quiet_runs(audio, rate, float(np.max(np.abs(audio))))
    close = [r for r in runs if min(abs(r[0] - near), abs(r[1] - near)) <= within * rate]
    if not close:
        return 0.0
    a, b = min(close, key=lambda r: min(abs(r[0] - near), abs(r[1] - near)))
    return (b - a) / rate


def cut_points(backend: Any, pieces: list[list[str]], config: Any) -> list[int]:
    """Where each cut falls in the whole sentence's sound, estimated from the pieces:
    the end of the sound of the pieces before it, laid end to end with the voice's pauses."""
    from voiceguide.speech.engines import clauses

    rate = backend.voice.config.sample_rate
    raw = [backend._run(p, config) for p in pieces]
    peak = max(float(np.max(np.abs(r))) for r in raw)
    points, at = [], 0
    for k, r in enumerate(raw[:-1]):
        start, stop = clauses.ends(r, rate, peak)
        at += stop if k == 0 else stop - start
        points.append(at)
        gap = round(_gap_seconds(pieces[k][-1]) * config.length_scale * rate)
        at += gap
    return points


def _gap_seconds(mark: str) -> float:
    from voiceguide.speech.engines import piper

    return piper.clause_gap(mark)


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two word lists."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def recognize(decoder: Any, audio: np.ndarray, rate: int) -> list[str]:
    from scipy.signal import resample_poly

    pcm = resample_poly(audio, 16000, rate)
    data = (np.clip(pcm, -1, 1) * 32767 * 0.5).astype("<i2").tobytes()
    decoder.start_utt()
    decoder.process_raw(data, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return words_of(hyp.hypstr if hyp else "")


def pauses_and_recognition() -> dict[str, Any]:
    """Quiet at each cut (whole against clauses), the length change, and word errors."""
    from piper import SynthesisConfig
    from pocketsphinx import Decoder

    from voiceguide.compiler import Options, compile
    from voiceguide.routine import builtin_ids, load_builtin
    from voiceguide.speech.engines import clauses, engine_class
    from voiceguide.speech.engines import piper as P

    backend = engine_class("piper").backend(P.PiperEngine(P.bundled_voice()).worker_env())
    scale = P.length_scale(RATE_WPM)
    config = SynthesisConfig(length_scale=scale, noise_scale=0.0, noise_w_scale=0.0)
    rate = backend.voice.config.sample_rate
    cap = P.run_cap(scale)
    texts = sorted({c.text for r in builtin_ids()
                    for c in compile(load_builtin(r), Options()).cues})  # fmt: skip
    gaps: dict[str, list[tuple[float, float]]] = {"clause mark": [], "word gap": []}
    longer: list[float] = []
    cut_lines: list[str] = []
    for text in texts:
        for phonemes in backend.voice.phonemize(text):
            pieces = P.sentence_pieces(phonemes, cap)
            if len(pieces) == 1:
                continue
            if text not in cut_lines:
                cut_lines.append(text)
            whole = backend._sentence(phonemes, config, UNCAPPED)
            cut = backend._sentence(phonemes, config, cap)
            longer.append((len(cut) - len(whole)) / rate)
            for piece, near in zip(pieces, cut_points(backend, pieces, config), strict=False):
                kind = "clause mark" if piece[-1] in clauses.CLAUSE_MARKS else "word gap"
                gaps[kind].append((gap_at(whole, rate, near), gap_at(cut, rate, near)))
    report: dict[str, Any] = {"cap_phonemes_at_140_wpm": cap, "lines_with_a_cut": len(cut_lines),
                              "sentence_length_change_s": _spread(longer)}  # fmt: skip
    for kind, rows in gaps.items():
        if rows:
            a = np.array(rows)
            report[f"quiet_at_{kind.replace(' ', '_')}_ms"] = {
                "cuts": len(rows),
                "whole": _spread(1000 * a[:, 0]),
                "clauses": _spread(1000 * a[:, 1]),
                "clauses_minus_whole": _spread(1000 * (a[:, 1] - a[:, 0])),
            }
    decoder = Decoder(loglevel="FATAL")
    errors = {"whole": 0, "clauses": 0}
    words = 0
    for text in cut_lines:
        ref = words_of(text)
        words += len(ref)
        for name, max_run in (("whole", UNCAPPED), ("clauses", P.MAX_RUN)):
            kept, P.MAX_RUN = P.MAX_RUN, max_run
            try:
                audio, _ = backend.synthesize(text, "", RATE_WPM, 50)
            finally:
                P.MAX_RUN = kept
            errors[name] += word_errors(ref, recognize(decoder, audio, rate))
    report["word_errors_on_lines_with_a_cut"] = {
        "words": words,
        **{k: f"{v} ({100 * v / words:.1f} %)" for k, v in errors.items()},
    }
    return report


def _spread(values: Any) -> dict[str, float]:
    a = np.asarray(values, dtype=float)
    return {"median": round(float(np.median(a)), 3),
            "p10": round(float(np.percentile(a, 10)), 3),
            "p90": round(float(np.percentile(a, 90)), 3),
            "min": round(float(a.min()), 3), "max": round(float(a.max()), 3)}  # fmt: skip


def main() -> dict[str, Any]:
    from voiceguide.speech.engines import piper

    t = time.perf_counter()
    report: dict[str, Any] = {}
    for name, max_run in (("whole_sentences", UNCAPPED), ("in_clauses", piper.MAX_RUN)):
        report[name] = one_setting(max_run)
        print(name, json.dumps(report[name]), flush=True)
    report.update(pauses_and_recognition())
    report["bench_seconds"] = round(time.perf_counter() - t, 1)
    return report
