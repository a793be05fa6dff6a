"""The Speaker: lexicon, cache, engine workers and clip processing composed into one call."""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceguide.errors import SpeechError
from voiceguide.notation import speakable
from voiceguide.speech.cache import ClipCache
from voiceguide.speech.lexicon import (
    DEFAULT_LEXICON,
    apply_lexicon,
    check_script,
    merge_lexicons,
    normalize_text,
    preview,
)
from voiceguide.speech.settings import DEFAULT_PITCH, PROCESSING_VERSION, Clip, VoiceSettings
from voiceguide.speech.voices import espeak_catalog, espeak_query, pick_engine, resolve
from voiceguide.speech.worker import CacheWriteError, Pool


@dataclass(frozen=True)
class _Job:
    text: str
    spoken: str
    key: str


class Speaker:
    """Turns texts into :class:`Clip` objects: cache first, then worker processes.

    ``lexicon`` entries extend (and override) :data:`DEFAULT_LEXICON`.
    ``cache_limit_mb`` None means the config file's ``[cache] max_mb`` (default 500).
    Thread-safe: a live player may call :meth:`clips` from two threads.
    """

    def __init__(
        self,
        settings: VoiceSettings | None = None,
        lexicon: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        workers: int = 2,
        timeout: float = 15.0,
        warn: Callable[[str], None] | None = None,
        cache_limit_mb: float | None = None,
    ) -> None:
        self.settings = settings or VoiceSettings()
        self.lexicon = merge_lexicons(DEFAULT_LEXICON, lexicon)
        self._warn = warn or _to_stderr
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        self._cache_lock = threading.Lock()
        self.cache = ClipCache(cache_dir, cache_limit_mb)
        problem = self.cache.writable()
        if problem is not None:
            self._fall_back(problem)
        self.engine, piper_voice = pick_engine(self.settings)
        self._pool = Pool(self.engine, workers, timeout)
        self._engine_id: str | None = None
        self._count_lock = threading.Lock()
        self.engine_calls = 0
        if piper_voice is not None:
            if self.settings.pitch is not None:
                raise SpeechError(
                    f"the piper voice {piper_voice.id} cannot change pitch; drop the pitch "
                    "setting, or choose a pyttsx3 voice (`voiceguide voices`)"
                )
            self.voice_id, self.language = piper_voice.id, piper_voice.language
            self.voice_name, self.pitch = piper_voice.description or piper_voice.id, None
        else:
            catalog = espeak_catalog(self.engine, self.cache.root, self._pool)
            resolved = resolve(espeak_query(self.settings), catalog)
            self.voice_id = resolved.id_with_variant
            self.language = resolved.voice.language
            self.voice_name = resolved.voice.name
            self.pitch = DEFAULT_PITCH if self.settings.pitch is None else self.settings.pitch

    @property
    def engine_name(self) -> str:
        """The registered name of the engine speaking (piper, pyttsx3)."""
        return self.engine.name

    # -- public API

    def clip(self, text: str) -> Clip:
        """One clip (see :meth:`clips`)."""
        return self.clips([text])[text]

    def clips(
        self,
        texts: Iterable[str],
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Clip]:
        """Clips for every distinct text; ``progress(done, total)`` after each one.

        Every text is checked before anything is synthesized, so a bad cue
        fails fast. Cache hits cost a file read; misses go to the workers.
        """
        jobs = {text: self._jobs(text) for text in dict.fromkeys(texts)}
        parts: dict[str, Clip] = {}
        missing: dict[str, _Job] = {}
        for job in (j for js in jobs.values() for j in js):
            if job.key in parts or job.key in missing:
                continue
            hit = self.cache.load(job.key)
            if hit is None:
                missing[job.key] = job
            else:
                parts[job.key] = hit
        total = len(parts) + len(missing)
        if progress and parts:
            progress(len(parts), total)
        for job, clip in self._synthesize(list(missing.values())):
            parts[job.key] = clip
            if progress:
                progress(len(parts), total)
        return {text: _joined([parts[j.key] for j in js]) for text, js in jobs.items()}

    def uncached(self, texts: Iterable[str]) -> int:
        """How many of ``texts`` have no clip in the cache (a render uses it to choose
        between speaking everything first and speaking while it mixes)."""
        return sum(
            not all(self.cache.path_for(job.key).is_file() for job in self._jobs(text))
            for text in dict.fromkeys(texts)
        )

    def lower_priority(self, niceness: int = 10) -> None:
        """Let other work have the cores first: speech that is needed later than it is made
        (a render's encoder starves when the workers take both cores)."""
        self._pool.lower_priority(niceness)

    def abort(self) -> None:
        """Kill the workers mid-clip: a caller on another thread stopped (Ctrl-C, a failure),
        and a thread still waiting for a clip must return now rather than after it."""
        self._pool.abort()

    def pieces(self, text: str) -> Iterator[np.ndarray]:
        """The clip of ``text`` as consecutive pieces: what :meth:`clip` would join, unjoined.

        A long text is synthesized a group of sentences at a time into the
        cache, then read back one piece at a time with the pause between them
        as a piece of its own, so a 20,000-character text never sits in memory
        whole (joined, it took 2.7 GB).
        """
        jobs = self._jobs(text)
        unique = {job.key: job for job in jobs}
        missing = [job for key, job in unique.items() if not self.cache.path_for(key).is_file()]
        for _ in self._synthesize(missing):  # into the cache; read back below, a piece at a time
            pass
        for i, job in enumerate(jobs):
            clip = self.cache.load(job.key) or self._run(job)  # gone meanwhile: made again
            if i:
                yield np.zeros(round(PIECE_GAP * clip.rate), np.float32)
            yield clip.samples

    def start(self) -> None:
        """Start the worker processes now without waiting (~1 s boot, in the background).

        A live player can call this first thing, so the first cue it asks for
        is not delayed by Python, numpy and espeak starting up.
        """
        self._pool.start()

    def phonemes(self, text: str) -> str:
        """espeak's IPA for ``text`` after the lexicon (to check pronunciations)."""
        spoken = apply_lexicon(speakable(normalize_text(text)), self.lexicon)
        message = {"op": "phonemes", "text": spoken, "voice": self.voice_id}
        return self._pool.call(message, f"reading {preview(text)}")["phonemes"]

    def close(self) -> None:
        """Stop the worker processes; keep the cache within its size limit."""
        self._pool.close()
        if self.engine_calls and self._temp is None and not self._pool.aborted:
            with contextlib.suppress(OSError):
                self.cache.evict_now_and_then()
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None

    def _fall_back(self, problem: str) -> None:
        """The cache is an accelerator: when it cannot be written, speak into a temp folder."""
        with self._cache_lock:
            if self._temp is not None:
                return
            where = self.cache.root
            self._temp = tempfile.TemporaryDirectory(prefix="voiceguide-speech-")
            self.cache = ClipCache(Path(self._temp.name), self.cache.limit_bytes / 1e6)
        self._warn(
            f"the speech cache {where} cannot be used ({problem}); "
            "speech goes to a temporary folder for this run"
        )

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # -- internals

    def _jobs(self, text: str) -> list[_Job]:
        """One job, or (a long text) one per group of sentences, so memory stays small."""
        cleaned = normalize_text(text)
        if len(cleaned) <= LONG_TEXT:
            return [self._job(text)]
        return [self._job(part) for part in _sentence_groups(cleaned)]

    def _job(self, text: str) -> _Job:
        cleaned = normalize_text(text)
        check_script(cleaned, self.language, self.voice_id)
        spoken = apply_lexicon(speakable(cleaned), self.lexicon)  # notation, then lexicon
        return _Job(text=text, spoken=spoken, key=self.cache_key(spoken))

    def cache_key(self, spoken: str) -> str:
        """Digest of everything that changes the sound.

        The lexicon enters through ``spoken`` (the respelled text), so adding
        an entry only invalidates the clips whose words it changes.
        """
        s = self.settings
        if self._engine_id is None:  # asks package metadata: a millisecond a clip, once
            self._engine_id = self.engine.engine_id
        fields = {
            "engine": self._engine_id,
            "processing": PROCESSING_VERSION,
            "voice": self.voice_id,
            "rate": s.rate,
            "volume": round(float(s.volume), 4),
            "pitch": self.pitch,
            "text": spoken,
        }
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def _synthesize(self, jobs: list[_Job]) -> Iterator[tuple[_Job, Clip]]:
        """Run jobs on the pool from a few threads; yield results as they land."""
        if not jobs:
            return
        todo: queue.Queue[_Job] = queue.Queue()
        for job in jobs:
            todo.put(job)
        results: queue.Queue[tuple[_Job, Clip | None, BaseException | None]] = queue.Queue()
        stop = threading.Event()
        threads = [
            threading.Thread(target=self._drain, args=(todo, results, stop), daemon=True)
            for _ in range(min(len(jobs), self._pool.size))
        ]
        for t in threads:
            t.start()
        try:
            for _ in jobs:
                job, clip, error = results.get()
                if error is not None:
                    raise error
                assert clip is not None
                yield job, clip
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            # Stopped (Ctrl-C, SIGTERM): waiting for the clips in flight could take
            # seconds, so the workers are killed and their threads let go.
            stop.set()
            self._pool.abort()
            raise
        finally:
            stop.set()
            deadline = time.monotonic() + (1.0 if self._pool.aborted else 1e9)
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))

    def _drain(self, todo: queue.Queue[_Job], results: queue.Queue, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results.put((job, self._run(job), None))
            except BaseException as exc:  # handed to the consuming thread
                stop.set()
                results.put((job, None, exc))
                return

    def _run(self, job: _Job) -> Clip:
        s = self.settings
        message = {
            "op": "synth",
            "text": job.spoken,
            "voice": self.voice_id,
            "rate": s.rate,
            "pitch": self.pitch or 0,
            "volume": s.volume,
            "key": job.key,
            "cache": str(self.cache.root),
        }
        timeout = self._pool.timeout * (1.0 + len(job.spoken) / 500)  # long texts take longer
        try:
            self._pool.call(message, f"saying {preview(job.text)}", timeout)
        except CacheWriteError as err:  # full or read-only mid-run: once, then the temp folder
            self._fall_back(str(err).rsplit(": ", 1)[-1])
            message["cache"] = str(self.cache.root)
            self._pool.call(message, f"saying {preview(job.text)}", timeout)
        with self._count_lock:
            self.engine_calls += 1
        clip = self.cache.load(job.key)
        if clip is None:
            raise SpeechError(
                f"the clip for {preview(job.text)} could not be read back from {self.cache.root}"
            )
        return clip


def _to_stderr(message: str) -> None:
    print(f"voiceguide: warning: {message}", file=sys.stderr)


#: Texts longer than this (characters) are synthesized a few sentences at a time: an engine
#: holds, trims and levels a whole clip in memory several times over (a 20,000-character text
#: in one piece took 2.7 GB; in 600-character pieces the Piper worker still peaked at 308 MB,
#: in 300-character ones 284 MB). No built-in cue is this long (the longest has 210).
LONG_TEXT = 300
#: The pause between the pieces of a long text (about a sentence end's).
PIECE_GAP = 0.45


def _sentence_groups(text: str, size: int = LONG_TEXT) -> list[str]:
    """Split at sentence ends into pieces of at most ``size`` characters (a longer sentence
    is split at commas, then at spaces)."""
    sentences = re.split(r"(?<=[.!?;:])\s+", text)
    pieces: list[str] = []
    for sentence in sentences:
        while len(sentence) > size:
            cut = max(sentence.rfind(", ", 0, size), sentence.rfind(" ", 0, size))
            cut = cut if cut > 0 else size
            pieces.append(sentence[: cut + 1].strip())
            sentence = sentence[cut + 1 :].strip()
        if pieces and len(pieces[-1]) + 1 + len(sentence) <= size:
            pieces[-1] = f"{pieces[-1]} {sentence}"
        elif sentence:
            pieces.append(sentence)
    return [p for p in pieces if any(ch.isalnum() for ch in p)]


def _joined(clips: list[Clip]) -> Clip:
    """The pieces of a long text as one clip, a sentence pause apart."""
    if len(clips) == 1:
        return clips[0]
    gap = np.zeros(round(PIECE_GAP * clips[0].rate), np.float32)
    joined = [x for c in clips for x in (gap, c.samples)][1:]
    return Clip(np.concatenate(joined).astype(np.float32), clips[0].rate)
