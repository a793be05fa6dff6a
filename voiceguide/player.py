"""Live playback: the session mixed just ahead of the ear, steered by single keys.

The session goes out as one continuous stream (``voiceguide.sinks``): short
contiguous blocks of BLOCK samples are mixed and queued LEAD seconds ahead of
what the device has taken, and the device's own clock (the samples it has
taken) is the player's clock, so the screen, the keys and every cue follow the
sound actually played and nothing drifts however long the session runs.
Pausing keeps the stream open and writes silence; a jump or a pause fades the
old sound out by adding its fade into the next blocks (``_carry``), so the
device never sees a seam.

Where no stream can be opened, the simpleaudio fallback can only play
one-shot buffers: there blocks of ONESHOT.block are started on absolute wall-
clock deadlines and overlap their neighbours with complementary sin²/cos²
fades, as before the stream existed.

Keys take effect at the next block, within LEAD + BLOCK of the press, without
touching audio already handed over. Tests drive the real sinks through ALSA's
file plugin, unpaced, so an hour of playback is checked in seconds.
"""

from __future__ import annotations

import math
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from voiceguide.confirm import Confirmer, back_words, next_words, where_words
from voiceguide.errors import AudioError
from voiceguide.export import to_pcm16
from voiceguide.keys import ACTIONS, DEFAULT_BINDINGS
from voiceguide.live import LiveSession
from voiceguide.mixer import RATE
from voiceguide.narration import estimate_seconds
from voiceguide.navigation import (
    Segment,
    back_target,
    next_target,
    segment_at,
    segments,
    view_at,
)
from voiceguide.screen import View
from voiceguide.script import Script
from voiceguide.sinks import Clock, RealClock, SimpleaudioSink, Sink, StreamClock, VirtualClock

__all__ = ["Outcome", "Player", "RealClock", "SimpleaudioSink", "VirtualClock", "view_at"]


@dataclass(frozen=True)
class Timing:
    """How a sink is fed: block length and overlap (samples), and how far ahead (seconds)."""

    block: int
    overlap: int
    lead: float


#: One stream: small contiguous blocks kept a moment ahead of the device.
STREAM = Timing(block=int(0.04 * RATE), overlap=0, lead=0.06)
#: simpleaudio: a one-shot stream per block, started just before its wall-clock deadline.
ONESHOT = Timing(block=int(0.2 * RATE), overlap=int(0.05 * RATE), lead=0.01)
BLOCK, OVERLAP, LEAD = STREAM.block, STREAM.overlap, STREAM.lead
#: Fades for pausing, resuming, skipping and quitting: soft, but quick to answer.
FADE = int(0.4 * RATE)
#: Resuming mid-sentence starts the sentence again, this much before it.
RESUME_LEAD = 0.4
VOLUME_STEP = 3.0
VOLUME_RANGE = (-24.0, 6.0)
EXTEND = 30.0
#: The screen's clock is redrawn this often (seconds of sound); changes show at once.
DRAW_EVERY = 0.1


class Keys(Protocol):
    def poll(self) -> list[str]: ...


class Display(Protocol):
    def draw(self, view: View) -> None: ...


@dataclass
class Outcome:
    position: float  # seconds into the session where playback stopped
    finished: bool
    error: AudioError | None = None
    signal: int | None = None  # the signal that stopped it (SIGTERM, SIGHUP), if any


@dataclass
class Played:
    """One block handed to the sink: for tests, the benchmark and debugging."""

    deadline: float
    position: int  # session sample the block starts at
    samples: int
    wall: float = field(default_factory=time.monotonic)
    moving: bool = True  # False: silence (or only a confirmation) while paused or waiting
    mixed: float = 0.0  # the player's clock when the keys this block answers were read


class Player:
    """Plays a LiveSession from ``start`` seconds until the end, a quit, or an error.

    Keys and :meth:`command` (for any other thread: voice commands) become
    actions that run between blocks on the player's own thread, so the
    session is only ever changed from one place. Each is answered by ear
    through ``confirm`` from the very next block.
    """

    def __init__(
        self,
        session: LiveSession,
        sink: Sink,
        clock: Clock | None = None,
        keys: Keys | None = None,
        display: Display | None = None,
        start: float = 0.0,
        on_block: Callable[[Played], None] | None = None,
        confirm: Confirmer | None = None,
        bindings: Mapping[str, str] | None = None,
        volume_db: float = 0.0,
    ) -> None:
        self.session = session
        self.sink = sink
        self.continuous = bool(getattr(sink, "continuous", False))
        self.timing = STREAM if self.continuous else ONESHOT
        if clock is None:  # on a stream the device's clock drives everything
            clock = StreamClock(sink) if self.continuous else RealClock()  # type: ignore[arg-type]
        self.clock = clock
        self.keys = keys
        self.display = display
        self.on_block = on_block
        self.sounding = threading.Event()  # set with the first block given to the sink
        self.confirm = confirm
        self.bindings = dict(DEFAULT_BINDINGS if bindings is None else bindings)
        self.pos = _sample_at(start)
        self.volume_db = volume_db
        self.paused = False
        self.ramp: tuple[int, int] | None = (self.pos, FADE) if start > 0 else None
        self.message = ""
        self.message_until = 0.0
        self.deadline = 0.0
        self.heard = (self.pos, 0.0)  # (position, deadline) of the block playing now
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.waiting: Hold | None = None
        self._held: set[int] = set()  # wait steps already waited at (until gone back to)
        self.fault = ""  # what could not be said, shown until the step changes
        self.warnings: tuple[str, ...] = ()
        self.checklist: tuple[str, ...] = ()  # shown while waiting before the start
        # paused: the place in the giver's terms (step, side, seconds into it), and the
        # script it was taken on (see _keep_place)
        self._place: tuple[int, str | None, float] | None = None
        self._placed_on: Script | None = None
        self._carry: np.ndarray | None = None  # a fade-out still to be added to the next blocks
        # stream: (deadline, position, moving) of the blocks queued, to know what is heard now
        self._written: deque[tuple[float, int, bool]] = deque(maxlen=64)
        self._polled = 0.0
        self._drawn_state: tuple | None = None  # type: ignore[type-arg]
        self._drawn_at = 0.0

    # -- the loop

    def run(self) -> Outcome:
        self.deadline = self.clock.now()
        self.heard = (self.pos, self.deadline)
        try:
            while True:
                self._polled = self.clock.now()  # what a block mixed in this turn has heard of
                for key in self.keys.poll() if self.keys else []:
                    action = self.bindings.get(key)
                    if action:
                        self._commands.put(action)
                while not self._commands.empty():
                    if self._do(self._commands.get()) == "stop":
                        return self._stop(finished=False)
                self._check_speech()
                if self.paused or (self.waiting and self.waiting.before_start):
                    self._idle()
                    continue
                if self.pos >= self.session.mixer.length:
                    self._play_out()
                    self._draw()
                    return Outcome(position=self.session.mixer.length / RATE, finished=True)
                lead = self.timing.lead
                if self.clock.now() >= self.deadline - lead:
                    self._next_block()
                self._draw()
                self.clock.sleep_until(min(self.deadline - lead, self.clock.now() + 0.02))
        except AudioError as err:
            self.sink.stop()
            return Outcome(position=self.heard_seconds(), finished=False, error=err)
        except KeyboardInterrupt as stop:
            outcome = self._stop(finished=False)
            outcome.signal = getattr(stop, "signal", None)
            return outcome

    def command(self, action: str) -> None:
        """Ask for an action from any thread, as a key press would (see ``keys.ACTIONS``)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
        self._commands.put(action)

    def _idle(self) -> None:
        """Paused (or before the start): only confirmations play, on the same block chain."""
        self._keep_place()
        now = self.clock.now()
        lead, size, overlap = self.timing.lead, self.timing.block, self.timing.overlap
        sounding = self._carry is not None or (
            self.confirm is not None and self.confirm.busy(max(self.deadline, now)))  # fmt: skip
        if self.continuous or sounding:  # a stream is never left without samples
            if self.deadline < now - lead:
                self.deadline = now
            if now >= self.deadline - lead:
                block = np.zeros((size + overlap, 2), np.float32)
                self._overlay(block)
                block *= np.float32(10 ** (self.volume_db / 20))
                if overlap:
                    _window(block, fade_in=overlap, fade_out=overlap)
                self._add_carry(block)
                self._play(block, self.pos, moving=False)
                self.deadline += size / RATE
            self._draw()
            self.clock.sleep_until(min(self.deadline - lead, self.clock.now() + 0.02))
            return
        self._draw()
        self.clock.sleep_until(now + 0.05)

    def _next_block(self) -> None:
        size, overlap = self.timing.block, self.timing.overlap
        n = size + overlap
        t = self.pos / RATE
        if not self.session.ready(t + max(2 * n / RATE, 0.2)):
            self.session.hold(t, size / RATE)  # speech is late: the bed plays on meanwhile
            time.sleep(0.002)  # and the speech thread gets the GIL (a virtual clock never sleeps)
        self._hold_for_waits(t, t + n / RATE)
        block = self._mix(self.pos, n)
        self._overlay(block)
        block *= np.float32(10 ** (self.volume_db / 20))
        if overlap:
            _window(block, fade_in=overlap, fade_out=overlap)
        self._add_carry(block)
        self._play(block, self.pos)
        self.heard = (self.pos, self.deadline)
        self.pos += size
        self.deadline += size / RATE

    def _mix(self, pos: int, n: int) -> np.ndarray:
        """The session from ``pos``, under the current jump ramp (volume comes after)."""
        block = self.session.mixer.render(pos, n)
        if self.ramp is not None:
            start, length = self.ramp
            x = np.clip((np.arange(pos, pos + n) - start) / length, 0.0, 1.0)
            block *= (0.5 - 0.5 * np.cos(np.pi * x)).astype(np.float32)[:, None]
            if pos + n >= start + length:
                self.ramp = None
        return block

    def _overlay(self, block: np.ndarray) -> None:
        if self.confirm is None:
            return
        overlap = self.timing.overlap
        extra = self.confirm.render(self.deadline, len(block), overlap, overlap)
        if extra is not None:
            block += extra

    def _play(self, block: np.ndarray, pos: int, moving: bool = True) -> None:
        self.sink.play(to_pcm16(block))
        self.sounding.set()
        if self.continuous:
            self._written.append((self.deadline, pos, moving))
        if self.on_block:
            self.on_block(Played(self.deadline, pos, len(block), moving=moving,
                                 mixed=self._polled))  # fmt: skip

    def _add_carry(self, block: np.ndarray) -> None:
        """Add the part of a fade-out that falls in this block (stream only)."""
        if self._carry is None:
            return
        k = min(len(block), len(self._carry))
        block[:k] += self._carry[:k]
        self._carry = self._carry[k:] if k < len(self._carry) else None

    def _tail(self) -> None:
        """Fade out what would have come next, from the next boundary on."""
        overlap = self.timing.overlap
        block = self._mix(self.pos, overlap + FADE) * np.float32(10 ** (self.volume_db / 20))
        _window(block, fade_in=overlap, fade_out=FADE)
        if self.continuous:  # summed into the blocks that follow, whatever they hold
            if self._carry is not None:
                k = min(len(block), len(self._carry))
                block[:k] += self._carry[:k]
            self._carry = block
            return
        self.clock.sleep_until(self.deadline - self.timing.lead)
        self._play(block, self.pos)

    def _play_out(self) -> None:
        """The end: let the last fades and confirmations sound, then let the device drain."""
        if self.continuous:
            limit = self.deadline + 2.0
            while self._carry is not None or (
                self.confirm is not None and self.confirm.busy(self.deadline)
                and self.deadline < limit):  # fmt: skip
                block = np.zeros((self.timing.block, 2), np.float32)
                self._overlay(block)
                block *= np.float32(10 ** (self.volume_db / 20))
                self._add_carry(block)
                self._play(block, self.pos, moving=False)
                self.deadline += self.timing.block / RATE
        else:
            self.clock.sleep_until(self.deadline + (self.timing.overlap + FADE) / RATE)
        self.sink.drain()  # the fade has played out by then: let it end, not cut it

    def _stop(self, finished: bool) -> Outcome:
        self._keep_place()
        if not self.paused and not (self.waiting is not None and self.waiting.before_start):
            self._tail()  # nothing to fade when nothing is playing
        self._play_out()
        return Outcome(position=self.pos / RATE, finished=finished)

    # -- speech that fails

    def _check_speech(self) -> None:
        """A cue that could not be said is shown; speech gone altogether stops the session."""
        failed = self.session.failures()
        if failed and failed != self.fault:
            self.fault = failed
            self._say("fault", None)
        if self.session.error is not None and self.session.done.is_set():
            raise AudioError(f"speech stopped working ({self.session.error})")

    # -- waits: the checklist before the start, and steps that hold until a key

    def _hold_for_waits(self, t0: float, t1: float) -> None:
        """Reaching a hold point, open a long stretch of bed there until released."""
        for index, at in hold_points(self.session.script):
            if t0 <= at < t1 and index not in self._held:
                self._held.add(index)
                self.session.hold(at, HOLD)
                self.waiting = Hold(at=at, before_start=False, step=index)
                self._say("ready", "Press space when you are ready.")

    def start_with_checklist(self, words: str, items: tuple[str, ...] = ()) -> None:
        """Hold before the first word: the checklist is shown and said, then wait for a key."""
        self.waiting = Hold(at=self.pos / RATE, before_start=True, step=-1)
        self.checklist = items
        if self.confirm is not None:
            self.confirm.confirm("ready", words, self.clock.now())

    def _release(self) -> bool:
        """Go on after a wait; False when there was nothing to release."""
        hold, self.waiting = self.waiting, None
        if hold is None:
            return False
        if hold.before_start:
            self.deadline = max(self.deadline, self.clock.now())
            self._say("resume", None)
            return True
        t = self.pos / RATE
        keep = 0.3  # a breath of bed before the next step; room for "Go on." when words are on
        if self.confirm is not None and self.confirm.words:
            keep += (self.confirm.duration("Go on.") or 0.6) + 0.4
        left = self.session.script.steps[hold.step].end - t - keep  # the hold, the step's rest
        if left > 0:
            self.session.release(t, left)
        self._say("resume", "Go on.")
        return True

    # -- actions

    def _do(self, action: str) -> str | None:
        if action == "stop":
            self._say("stop", None)
            return "stop"
        if self.waiting is not None and action in ("toggle", "resume", "next"):
            self._release()
            return None
        if self.waiting is not None and action in ("back", "next-step", "back-step"):
            self._release()  # leave the wait first, so later times are where they were
        handler = {
            "toggle": self.toggle_pause,
            "pause": lambda: None if self.paused else self.toggle_pause(),
            "resume": lambda: self.toggle_pause() if self.paused else None,
            "next": self.next,
            "back": self.back,
            "next-step": lambda: self.next(whole_steps=True),
            "back-step": lambda: self.back(whole_steps=True),
            "repeat": self.repeat,
            "more": lambda: self.extend(EXTEND),
            "less": lambda: self.extend(-EXTEND),
            "louder": lambda: self.volume(VOLUME_STEP),
            "softer": lambda: self.volume(-VOLUME_STEP),
        }[action]
        handler()
        return None

    def handle(self, key: str) -> str | None:
        """One key press now (tests and old callers); "quit" when it stops the session."""
        action = self.bindings.get(key)
        return "quit" if action and self._do(action) == "stop" else None

    def heard_seconds(self) -> float:
        """Where in the session the listener is right now."""
        if self.paused or (self.waiting is not None and self.waiting.before_start):
            return self.pos / RATE
        now = self.clock.now()
        if self.continuous:  # the block the device is taking now, not the one just queued
            for deadline, pos, moving in reversed(self._written):
                if deadline <= now:
                    return (pos + (now - deadline) * RATE if moving else pos) / RATE
        pos, deadline = self.heard
        return (pos + max(0.0, now - deadline) * RATE) / RATE

    def toggle_pause(self) -> None:
        if not self.paused:
            self._tail()
            self.paused = True
            self._pin()
            self._note("paused: space to resume", forever=True)
            self._say("pause", "Paused.")
            return
        self._keep_place()
        self.paused = False
        self._place = None
        t = self.pos / RATE
        here = segment_at(self.session.script, t)
        again = _sentence_start(self.session, t)  # never back across a side switch
        self.pos = round(max(again, here.start if here else again) * RATE)
        self.ramp = (self.pos, FADE)
        self._mark()
        self._note("")
        self._say("resume", None)

    def _mark(self) -> None:
        """From the next block on, what is heard is ``self.pos``."""
        self.deadline = max(self.deadline, self.clock.now())
        self.heard = (self.pos, self.deadline)
        self._written.clear()

    def _pin(self) -> None:
        """Paused: remember where, as the giver knows it (step, side, seconds into it)."""
        t = self.pos / RATE
        here = segment_at(self.session.script, t)
        self._place = None if here is None else (here.step, here.side, t - here.start)
        self._placed_on = self.session.script

    def _keep_place(self) -> None:
        """Keep a paused playhead on the side the giver paused on.

        Speech still arriving re-lays the script (lines jumped over get their
        real lengths and everything after them moves later), which can slide a
        side switch past a paused playhead: a resume point saved then would
        name the side before. The place taken at the pause is kept instead.
        """
        script = self.session.script
        if not self.paused or self._place is None or script is self._placed_on:
            return
        self._placed_on = script
        step, side, offset = self._place
        for segment in segments(script):
            if segment.step == step and segment.side == side:
                at = min(segment.start + offset, max(segment.start, segment.end - 1.0 / RATE))
                self.pos = _sample_at(at)
                self.heard = (self.pos, self.heard[1])
                return

    def next(self, whole_steps: bool = False) -> None:
        target = next_target(self.session.script, self.pos / RATE, whole_steps)
        if target is None:
            self._say("nothing", "That was the last step.")
            return
        self._jump(target, "next", next_words)

    def next_step(self) -> None:
        self.next(whole_steps=True)

    def back(self, whole_steps: bool = False) -> None:
        target = back_target(self.session.script, self.heard_seconds(), whole_steps)
        if target is None:
            self._say("nothing", None)
            return
        self._jump(target, "back", back_words)

    def repeat(self) -> None:
        again = self.session.repeat(self.heard_seconds())
        if again is not None:
            self._note("repeating the instruction")
        self._say("repeat" if again is not None else "nothing", None)

    def extend(self, seconds: float) -> None:
        changed = self.session.extend(self.heard_seconds(), seconds)
        if changed:
            sign = "+" if changed > 0 else "−"
            self._note(f"{sign}{abs(changed):.0f} s on this step")
            words = "Thirty more seconds." if changed > 0 else "Thirty seconds less."
            if abs(abs(changed) - EXTEND) > 0.5:
                words = f"{abs(changed):.0f} seconds {'more' if changed > 0 else 'less'}."
            self._say("more" if changed > 0 else "less", words)
        else:
            self._say("nothing", None)

    def volume(self, step: float) -> None:
        before = self.volume_db
        self.volume_db = min(max(self.volume_db + step, VOLUME_RANGE[0]), VOLUME_RANGE[1])
        self._note(f"volume {self.volume_db:+.0f} dB")
        if self.volume_db == before:
            self._say("nothing", None)
        else:
            self._say("louder" if step > 0 else "softer", "Louder." if step > 0 else "Softer.")

    def _jump(self, target: Segment, kind: str, wording: Callable[[str, str | None], str]) -> None:
        """Cut to ``target``, the old sound fading out as the new fades in.

        Landing on a step, a moment of bed is opened there for the words
        ("Next: kneading, left side."); landing on a later side, the
        session's own side line says it at once, so only the earcon sounds.
        """
        title = self.session.script.steps[target.step].title
        self._note(f"{'skipped to' if kind == 'next' else 'back to'}: "
                   f"{where_words(title, target.side)}")  # fmt: skip
        if self.paused:
            self.paused = False
        else:
            self._tail()
        self.pos = _sample_at(target.start)
        self.ramp = (self.pos, FADE)
        self._mark()  # a key right after acts on where we went
        self._held = {i for i in self._held if i < target.step}  # its wait holds again
        words = None
        if target.start == self.session.script.steps[target.step].start:
            words = wording(title, target.side)
            if self.confirm is not None and self.confirm.words:
                said = self.confirm.duration(words) or estimate_seconds(words, 150)
                self.session.hold(target.start, said + 0.4)
        self._say(kind, words)

    def _say(self, kind: str, words: str | None) -> None:
        if self.confirm is not None:
            self.confirm.confirm(kind, words, max(self.deadline, self.clock.now()))

    # -- screen

    def _note(self, text: str, forever: bool = False) -> None:
        self.message = text
        self.message_until = float("inf") if forever else self.clock.now() + 3.0

    def _draw(self) -> None:
        """Redraw at most ten times a second of sound, and at once when a state changes."""
        if self.display is None:
            return
        now = self.clock.now()
        if now > self.message_until:
            self.message = ""
        state = (self.paused, self.message, self.waiting, self.fault, self.volume_db,
                 id(self.session.script), self.pos if self.paused else None)  # fmt: skip
        if state == self._drawn_state and 0.0 <= now - self._drawn_at < DRAW_EVERY:
            return
        self._drawn_state, self._drawn_at = state, now
        waiting = ""
        if self.waiting is not None:
            waiting = "press space when you are ready"
        if self.waiting is not None and self.waiting.before_start and self.checklist:
            self.display.draw(View(
                title="Before you start", step_number=None, step_count=0,
                instruction="  ·  ".join(self.checklist), waiting=waiting,
                duration=self.session.script.duration, warnings=self.warnings,
            ))  # fmt: skip
            return
        self.display.draw(view_at(
            self.session.script, self.heard_seconds(), self.paused, self.volume_db,
            self.message, waiting=waiting, fault=self.fault, warnings=self.warnings,
        ))  # fmt: skip


#: A wait step holds this long after its words end.
HOLD_AFTER = 0.8
#: How long a wait holds at most (bed playing); after that the session goes on by itself.
HOLD = 600.0


@dataclass(frozen=True)
class Hold:
    """The session is waiting for the giver at ``at`` (session seconds)."""

    at: float
    before_start: bool
    step: int  # the wait step's index (-1 before the start)


def hold_points(script: Script) -> list[tuple[int, float]]:
    """Where ``wait: true`` steps hold: a moment after the step's own words, inside the step."""
    points = []
    for index, step in enumerate(script.steps):
        if not step.wait or step.end <= step.start:
            continue
        said = [c.end for c in script.cues if c.step == index and c.kind != "wait"]
        points.append((index, min(max(said, default=step.start) + HOLD_AFTER, step.end - 0.01)))
    return points


def for_live(script: Script) -> Script:
    """A script as live play uses it: a file's "the guide goes on at the chime" line for a
    wait step is not said, since live play holds for a key instead."""
    return replace(script, cues=tuple(c for c in script.cues if c.kind != "wait"))


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
