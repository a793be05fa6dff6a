"""The Speaker: lexicon, cache, engine workers and clip processing composed into one call."""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

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
from voiceguide.speech.worker import Pool


@dataclass(frozen=True)
class _Job:
    text: str
    spoken: str
    key: str


class Speaker:
    """Turns texts into :class:`Clip` objects: cache first, then worker processes.

    ``lexicon`` entries extend (and override) :data:`DEFAULT_LEXICON`.
    Thread-safe: a live player may call :meth:`clips` from two threads.
    """

    def __init__(
        self,
        settings: VoiceSettings | None = None,
        lexicon: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        workers: int = 2,
        timeout: float = 15.0,
    ) -> None:
        self.settings = settings or VoiceSettings()
        self.lexicon = merge_lexicons(DEFAULT_LEXICON, lexicon)
        self.cache = ClipCache(cache_dir)
        self.engine, piper_voice = pick_engine(self.settings)
        self._pool = Pool(self.engine, workers, timeout)
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
        jobs = {text: self._job(text) for text in dict.fromkeys(texts)}
        out: dict[str, Clip] = {}
        missing = []
        for text, job in jobs.items():
            hit = self.cache.load(job.key)
            if hit is None:
                missing.append(job)
            else:
                out[text] = hit
        if progress and out:
            progress(len(out), len(jobs))
        for job, clip in self._synthesize(missing):
            out[job.text] = clip
            if progress:
                progress(len(out), len(jobs))
        return out

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
        """Stop the worker processes."""
        self._pool.close()

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # -- internals

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
        fields = {
            "engine": self.engine.engine_id,
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
        finally:
            stop.set()
            for t in threads:
                t.join()

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
        self._pool.call(message, f"saying {preview(job.text)}", timeout)
        with self._count_lock:
            self.engine_calls += 1
        clip = self.cache.load(job.key)
        if clip is None:
            raise SpeechError(
                f"the clip for {preview(job.text)} could not be read back from {self.cache.root}"
            )
        return clip
