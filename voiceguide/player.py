"""Live playback: short blocks, mixed just ahead of the ear, steered by single keys.

simpleaudio opens one ALSA stream per buffer, so a session is played as a
chain of short blocks (BLOCK seconds), each started on an absolute deadline
and overlapping the next by OVERLAP with complementary sin²/cos² fades: a
late start by a few milliseconds blurs nothing, and since every deadline is
counted from one origin, lateness never accumulates into drift. Blocks are
short so a key takes effect at the next boundary, within 0.25 s, without
ever touching audio already handed to the device.

The clock and the sink are parameters: tests and the benchmark drive the
real simpleaudio sink (through ALSA's file plugin) with a virtual clock, so
an hour of playback is checked in seconds.
"""

from __future__ import annotations

import math
import os
import re
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from voiceguide.device import quiet_stderr
from voiceguide.edits import step_at
from voiceguide.errors import AudioError
from voiceguide.export import to_pcm16
from voiceguide.live import LiveSession
from voiceguide.mixer import RATE
from voiceguide.narration import estimate_seconds
from voiceguide.screen import View

BLOCK = int(0.2 * RATE)
OVERLAP = int(0.05 * RATE)
#: Fades for pausing, resuming, skipping and quitting: soft, but quick to answer.
FADE = int(0.4 * RATE)
#: How far before a block's deadline it is mixed and handed over.
LEAD = 0.01
#: Resuming mid-sentence starts the sentence again, this much before it.
RESUME_LEAD = 0.4
VOLUME_STEP = 3.0
VOLUME_RANGE = (-24.0, 6.0)
EXTEND = 30.0


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep_until(self, t: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, t: float) -> None:
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class VirtualClock:
    """Time that passes only when asked to: an hour of playback in seconds."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep_until(self, t: float) -> None:
        self.t = max(self.t, t)


class Sink(Protocol):
    def play(self, pcm: np.ndarray) -> None: ...
    def drain(self) -> None: ...
    def stop(self) -> None: ...


class SimpleaudioSink:
    """The default ALSA output, one stream per block."""

    def __init__(self) -> None:
        try:
            import simpleaudio
        except ImportError:
            raise AudioError(
                "live playback needs simpleaudio: pip install 'voiceguide[play]' "
                "(it builds against ALSA: apt-get install libasound2-dev)"
            ) from None
        if os.environ.get("PYTHONMALLOC") != "malloc":
            warnings.warn(
                "simpleaudio frees memory without holding the GIL; run long playback with "
                "PYTHONMALLOC=malloc (voiceguide play does this itself)",
                RuntimeWarning,
                stacklevel=2,
            )
        self._sa = simpleaudio
        self._live: deque = deque()
        self._started = False

    def probe(self) -> None:
        """Open the device once with a moment of silence, to fail before anything starts."""
        self.play(np.zeros((RATE // 100, 2), np.int16))

    def play(self, pcm: np.ndarray) -> None:
        try:
            with quiet_stderr():  # ALSA prints its own complaints straight to fd 2
                obj = self._sa.play_buffer(np.ascontiguousarray(pcm), 2, 2, RATE)
        except Exception as err:  # SimpleaudioError is not importable by name reliably
            reason = str(err).replace(" -- ", "; ")
            if not self._started:
                raise AudioError(
                    f"no audio output device ({reason}); "
                    "use `voiceguide render` to write the session to a file instead"
                ) from None
            raise AudioError(f"cannot play audio: the output device went away ({reason})") from None
        self._started = True
        self._live.append(obj)
        while self._live and not self._live[0].is_playing():
            self._live.popleft()

    def drain(self) -> None:
        """Wait for what was handed over to finish playing."""
        while self._live:
            self._live.popleft().wait_done()

    def stop(self) -> None:
        while self._live:
            self._live.popleft().stop()


class Keys(Protocol):
    def poll(self) -> list[str]: ...


class Display(Protocol):
    def draw(self, view: View) -> None: ...


@dataclass
class Outcome:
    position: float  # seconds into the session where playback stopped
    finished: bool
    error: AudioError | None = None


@dataclass
class Played:
    """One block handed to the sink: for tests, the benchmark and debugging."""

    deadline: float
    position: int  # session sample the block starts at
    samples: int
    wall: float = field(default_factory=time.monotonic)


class Player:
    """Plays a LiveSession from ``start`` seconds until the end, a quit, or an error."""

    def __init__(
        self,
        session: LiveSession,
        sink: Sink,
        clock: Clock | None = None,
        keys: Keys | None = None,
        display: Display | None = None,
        start: float = 0.0,
        on_block: Callable[[Played], None] | None = None,
    ) -> None:
        self.session = session
        self.sink = sink
        self.clock = clock or RealClock()
        self.keys = keys
        self.display = display
        self.on_block = on_block
        self.pos = _sample_at(start)
        self.volume_db = 0.0
        self.paused = False
        self.ramp: tuple[int, int] | None = (self.pos, FADE) if start > 0 else None
        self.message = ""
        self.message_until = 0.0
        self.deadline = 0.0
        self.heard = (self.pos, 0.0)  # (position, deadline) of the block playing now

    # -- the loop

    def run(self) -> Outcome:
        self.deadline = self.clock.now()
        self.heard = (self.pos, self.deadline)
        try:
            while True:
                for key in self.keys.poll() if self.keys else []:
                    if self.handle(key) == "quit":
                        return self._stop(finished=False)
                if self.paused:
                    self._draw()
                    self.clock.sleep_until(self.clock.now() + 0.05)
                    continue
                if self.pos >= self.session.mixer.length:
                    self.clock.sleep_until(self.deadline + OVERLAP / RATE)
                    self.sink.drain()
                    self._draw()
                    return Outcome(position=self.session.mixer.length / RATE, finished=True)
                if self.clock.now() >= self.deadline - LEAD:
                    self._next_block()
                self._draw()
                self.clock.sleep_until(min(self.deadline - LEAD, self.clock.now() + 0.02))
        except AudioError as err:
            self.sink.stop()
            return Outcome(position=self.heard_seconds(), finished=False, error=err)
        except KeyboardInterrupt:
            return self._stop(finished=False)

    def _next_block(self) -> None:
        n = BLOCK + OVERLAP
        t = self.pos / RATE
        if not self.session.ready(t + 2 * n / RATE):
            self.session.hold(t, BLOCK / RATE)  # speech is late: the bed plays on meanwhile
        block = self._mix(self.pos, n)
        _window(block, fade_in=OVERLAP, fade_out=OVERLAP)
        self._play(block, self.pos)
        self.heard = (self.pos, self.deadline)
        self.pos += BLOCK
        self.deadline += BLOCK / RATE

    def _mix(self, pos: int, n: int) -> np.ndarray:
        block = self.session.mixer.render(pos, n) * np.float32(10 ** (self.volume_db / 20))
        if self.ramp is not None:
            start, length = self.ramp
            x = np.clip((np.arange(pos, pos + n) - start) / length, 0.0, 1.0)
            block *= (0.5 - 0.5 * np.cos(np.pi * x)).astype(np.float32)[:, None]
            if pos + n >= start + length:
                self.ramp = None
        return block

    def _play(self, block: np.ndarray, pos: int) -> None:
        self.sink.play(to_pcm16(block))
        if self.on_block:
            self.on_block(Played(self.deadline, pos, len(block)))

    def _tail(self) -> None:
        """Fade out what would have come next, at the next boundary."""
        block = self._mix(self.pos, OVERLAP + FADE)
        _window(block, fade_in=OVERLAP, fade_out=FADE)
        self.clock.sleep_until(self.deadline - LEAD)
        self._play(block, self.pos)

    def _stop(self, finished: bool) -> Outcome:
        self._tail()
        self.clock.sleep_until(self.deadline + (OVERLAP + FADE) / RATE)
        self.sink.drain()  # the fade has played out by now: let it end, not cut it
        return Outcome(position=self.pos / RATE, finished=finished)

    # -- keys

    def heard_seconds(self) -> float:
        """Where in the session the listener is right now."""
        if self.paused:
            return self.pos / RATE
        pos, deadline = self.heard
        return (pos + max(0.0, self.clock.now() - deadline) * RATE) / RATE

    def handle(self, key: str) -> str | None:
        actions = {
            "space": self.toggle_pause,
            "n": self.next_step,
            "b": self.back,
            "r": self.repeat,
            "+": lambda: self.extend(EXTEND),
            "-": lambda: self.extend(-EXTEND),
            "up": lambda: self.volume(VOLUME_STEP),
            "down": lambda: self.volume(-VOLUME_STEP),
        }
        if key == "q":
            return "quit"
        action = actions.get(key)
        if action is not None:
            action()
        return None

    def toggle_pause(self) -> None:
        if not self.paused:
            self._tail()
            self.paused = True
            self._note("paused: space to resume", forever=True)
            return
        self.paused = False
        self.pos = round(_sentence_start(self.session, self.pos / RATE) * RATE)
        self.ramp = (self.pos, FADE)
        self.deadline = self.clock.now()
        self._note("")

    def next_step(self) -> None:
        t = self.pos / RATE
        later = [s.start for s in self.session.script.steps if s.start > t + 0.5]
        if later:
            self._cut(later[0])
            self._note(f"skipped to: {self._title_at(later[0])}")

    def back(self) -> None:
        t = self.heard_seconds()
        index = step_at(self.session.script, t)
        if index is None:
            return
        steps = self.session.script.steps
        target = steps[index].start
        if t - target < 3.0 and index > 0:  # a second press goes to the step before
            target = steps[index - 1].start
        self._cut(target)
        self._note(f"back to: {self._title_at(target)}")

    def repeat(self) -> None:
        again = self.session.repeat(self.heard_seconds())
        if again is not None:
            self._note("repeating the instruction")

    def extend(self, seconds: float) -> None:
        changed = self.session.extend(self.heard_seconds(), seconds)
        if changed:
            sign = "+" if changed > 0 else "−"
            self._note(f"{sign}{abs(changed):.0f} s on this step")

    def volume(self, step: float) -> None:
        self.volume_db = min(max(self.volume_db + step, VOLUME_RANGE[0]), VOLUME_RANGE[1])
        self._note(f"volume {self.volume_db:+.0f} dB")

    def _cut(self, target: float) -> None:
        """Jump: the old sound fades out as the new fades in, from the next boundary."""
        self._tail()
        self.pos = _sample_at(target)
        self.ramp = (self.pos, FADE)

    def _title_at(self, t: float) -> str:
        index = step_at(self.session.script, t + 1e-6)
        return self.session.script.steps[index].title if index is not None else "the end"

    # -- screen

    def _note(self, text: str, forever: bool = False) -> None:
        self.message = text
        self.message_until = float("inf") if forever else self.clock.now() + 3.0

    def _draw(self) -> None:
        if self.display is None:
            return
        if self.clock.now() > self.message_until:
            self.message = ""
        self.display.draw(view_at(self.session.script, self.heard_seconds(), self.paused,
                                  self.volume_db, self.message))  # fmt: skip


def _sample_at(t: float) -> int:
    """The first sample at or after ``t``: a jump to a step lands inside that step."""
    return math.ceil(t * RATE - 1e-9)


def _window(block: np.ndarray, fade_in: int, fade_out: int) -> None:
    """Complementary overlap fades: sin² in and cos² out sum to one across a boundary."""
    if fade_in:
        block[:fade_in] *= (np.sin(0.5 * np.pi * (np.arange(fade_in) + 0.5) / fade_in) ** 2)[
            :, None
        ].astype(np.float32)
    if fade_out:
        x = (np.arange(fade_out) + 0.5) / fade_out
        block[-fade_out:] *= (np.cos(0.5 * np.pi * x) ** 2)[:, None].astype(np.float32)


def _sentence_start(session: LiveSession, t: float) -> float:
    """Resuming mid-cue goes back to the start of the sentence that was cut off."""
    for cue in session.script.cues:
        if cue.at <= t < cue.end:
            pcm = session.bank.get(cue.text)[0]
            starts = sentence_starts(cue.text, pcm, RATE)
            begun = max(s for s in starts if s <= t - cue.at)
            if begun == 0.0:
                return max(0.0, cue.at - RESUME_LEAD)
            return cue.at + begun  # the quiet between sentences: nothing is cut
    return t


_SENTENCE = re.compile(r"(?<=[.!?;:])\s+")


def sentence_starts(text: str, samples: np.ndarray, rate: int) -> list[float]:
    """Seconds into a clip where each of its sentences begins (the first at 0).

    Each boundary is estimated from the text (the same letter-based model the
    compiler plans with), then moved to the quietest 30 ms within 0.35 s of
    it: espeak pauses between sentences, so that lands in the gap.
    """
    sentences = _SENTENCE.split(text.strip())
    if len(sentences) < 2 or len(samples) == 0:
        return [0.0]
    whole = estimate_seconds(text, 150)
    length = len(samples) / rate
    energy = np.convolve(samples.astype(np.float64) ** 2, np.ones(int(0.03 * rate)), "same")
    starts = [0.0]
    for k in range(1, len(sentences)):
        guess = estimate_seconds(" ".join(sentences[:k]), 150) / whole * length
        lo, hi = (max(0, int((guess + d) * rate)) for d in (-0.35, 0.35))
        window = energy[lo : min(hi, len(energy))]
        if len(window):
            starts.append((lo + int(np.argmin(window))) / rate)
    return sorted(set(starts))


def view_at(script, t: float, paused: bool, volume_db: float, message: str) -> View:  # type: ignore[no-untyped-def]
    """What the screen shows at ``t`` seconds into ``script``."""
    index = step_at(script, t)
    steps = script.steps
    real = [i for i, s in enumerate(steps) if s.say]
    if index is None:
        opening = bool(steps) and t < steps[0].start
        title = "Introduction" if opening else "Closing"
        left = (steps[0].start if opening else script.duration) - t
        instruction, detail, number = "", "", None
    else:
        step = steps[index]
        title, instruction = step.title, step.say
        pressure = f"{step.pressure} pressure" if step.pressure else None
        detail = " · ".join(x for x in (step.technique, pressure, step.area) if x)
        left = step.end - t
        number = real.index(index) + 1 if index in real else None
    following = [steps[i].title for i in real if steps[i].start > t]
    return View(
        title=title, step_number=number, step_count=len(real), instruction=instruction,
        detail=detail, step_left=max(0.0, left), elapsed=min(t, script.duration),
        duration=script.duration, next_title=following[0] if following else None,
        paused=paused, volume_db=volume_db, message=message,
    )  # fmt: skip
