"""The compiler's options and the timing constants every part of it shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from voiceguide.errors import CompileError
from voiceguide.narration import ESPEAK_TIMING, SpeechTiming

Detail = Literal["minimal", "normal", "detailed"]

#: Silence kept between two cues so speech never runs together.
MIN_GAP = 0.5
#: Optional lines (next-up, time-left, check-ins, reminders) keep this much
#: quiet around them, so they never crowd a count or an instruction.
OPTIONAL_GAP = 1.5
#: Bed alone before the first word, and after the last, for the fades.
LEAD_IN = 2.0
TAIL = 6.0
#: From a step's start (where the chime sounds) to its instruction.
CHIME_LEAD = 1.5
#: Settling time after the intro and before the hands start a repetition.
SETTLE = 2.0
REP_LEAD = 1.0
#: The least working time a duration step must keep after its own speech.
MIN_WORK = 3.0
#: The shortest repetition we will count aloud.
MIN_COUNTED_REP = 1.5
#: How far --length may stretch working times (never below 1: see ``Step.shrink``).
STRETCH_LIMIT = 3.0
#: A reminder may slide this far from where it was asked for.
REMINDER_SLACK = 20.0
#: The hands get their first instruction within this long of the first word.
OPENING_BUDGET = 20.0
#: Quiet kept between the opening's sentences.
INTRO_GAP = 1.5
#: Working time outside pauses and quiet steps never goes longer than this
#: without a word; guidance lines are placed when the quiet reaches FILL_AFTER.
MAX_SILENCE = 90.0
FILL_AFTER = 60.0
#: Check-ins wait until the hands have worked this long in a step, and never
#: come in the session's first working minute.
CHECK_IN_AFTER_WORK = 45.0
CHECK_IN_NOT_BEFORE = 60.0
#: Routine cautions are said in the first few hands-on steps, or not at all.
CAUTION_STEPS = 3


@dataclass(frozen=True)
class Options:
    """How to turn a routine into a session.

    ``pace`` is a tempo: 1 is the routine as written, 0.8 is 20 % slower
    (every working time and settling gap lasts 1/0.8 as long). ``length``
    overrides pace: ranges and working times are fitted to it, never below
    what the routine allows. ``tempo`` plans a soft tick at each step's stroke rate.
    """

    pace: float = 1.0
    length: float | None = None
    wpm: float = 150.0
    counting: bool | None = None  # None: each step's own `count`
    check_in: float | None = None  # None: the routine's; 0: off
    detail: Detail = "normal"
    ambience: str | None = None  # overrides every bed in the routine; "none" for silence
    tempo: bool = False
    #: How long the chosen engine takes to speak (narration.TIMINGS[engine]).
    timing: SpeechTiming = ESPEAK_TIMING

    def __post_init__(self) -> None:
        if not 0.25 <= self.pace <= 4.0:
            raise CompileError(f"pace {self.pace:g} is out of range (0.25 to 4)")
        if self.length is not None and not 60 <= self.length <= 8 * 3600:
            raise CompileError("--length must be between 1 minute and 8 hours")
        if not 80 <= self.wpm <= 300:
            raise CompileError(f"speech rate {self.wpm:g} wpm is out of range (80 to 300)")
        if self.check_in is not None and 0 < self.check_in < 60:
            raise CompileError("check in at most once a minute")
