"""Recognition of "guide <command>" with pocketsphinx, one speech segment at a time.

Why pocketsphinx: it is the one maintained recognizer on PyPI whose wheel
carries an English model, so nothing is downloaded at run time (see
docs/benchmarks.md for what was measured). Free-form decoding of a room
microphone is poor; against a small grammar of the commands it is good.

Audio is cut into segments by pocketsphinx's endpointer (WebRTC's voice
activity detector over a 0.3 s window). Each segment is decoded whole against
the grammar once it ends, so a command is decided about 0.3–0.5 s after its
last word. A segment running past 2 s (a command the session's remains ran
into) is also decoded in overlapping windows (_windows). A short segment that
is "guide" said alone is held for the next one, so a pause after the wake
word ("guide... next") does not split the command (LONE); so is any short
segment while the session is cancelled, for a next one right after it: over
narration the endpointer can split a command itself (ADJACENT). The grammar holds
only commands, so it would force one onto any sound: segments too short or
too long to be a command alone (a knock; talk, narration or music running on)
are not decoded whole, and a decoded command is rejected when it has speech
before "guide", when its durations are not those of a command said alone
(_plausible), or when the grammar's path scores far below a free phone loop
over the same audio (MIN_MATCH, a little less far when no other command comes
close: CLEAR): ordinary talk forced into a command fits badly. In the
benchmark this took room talk from 37 false commands in 15 minutes to none.
Every command taken is decoded again at several frequency warps, and from the
second on the decoder hears with the warp that fits the giver's voice best
(talker.py): a deep or a light voice is then heard as the model's own kind.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voiceguide.errors import VoiceguideError
from voiceguide.listen.grammar import COMMANDS, PRONUNCIATIONS, WAKE, commands_in, jsgf
from voiceguide.listen.talker import WARPS, Talker, set_warp

RATE = 16_000
#: Segments (seconds, with the endpointer's margins) shorter than this are knocks and clicks,
MIN_SEGMENT = 0.5
#: and longer ones are not a command said alone ("guide, less time" takes about 1.5 s).
MAX_SEGMENT = 3.2
#: A segment's loud frames must stand this far (dB) above the room's recent floor: the
#: grammar would otherwise force a command onto a gust of the bed or a distant voice.
MIN_SNR = 12.0
#: Seconds of frame levels the floor is taken from (its 20th percentile).
FLOOR_SECONDS = 8.0
#: A segment this short (seconds) that holds no command but fits "guide" said alone
#: (_lone_guide) may be followed by a pause ("guide... next"): when the next segment
#: starts within JOIN_GAP seconds of its end, the two are decoded together first.
#: Without this a pause of 0.45 s or more after "guide" lost every command (the
#: endpointer ends a segment after 0.3 s without speech). Joining any short segment
#: to the next let the narration in once without the canceller or the gate.
LONE = 1.0
JOIN_GAP = 1.5
#: With the session cancelled, a short segment holding no command is also decoded
#: with the next when that one starts within ADJACENT seconds of its end: the two are
#: one utterance the endpointer split. It hears the echo turned down (and blocks of
#: the session alone blanked, listener.ECHO_ONLY_DB), so over narration the quieter
#: middle of a command ends a segment: "guide con" + "tinue", "guide" + "stop" (the
#: "s" starts it) 0-0.03 s apart. Ninth pass, replayed on eight placements: three
#: natural commands over narration were lost so (the second half too quiet alone for
#: MIN_SNR, the first not "guide" alone); joined, two are heard, with no wrong or false
#: command more. Not without the canceller, whose endpointer hears the microphone.
ADJACENT = 0.2
#: Overlong segments are decoded in windows this long (seconds), this far apart.
WINDOW = 2.3
WINDOW_HOP = 0.3
#: A window's command is taken only when another decode (an earlier window or the
#: segment) found the same command with "guide" this close (seconds): over narration
#: one window in a few hears "back" as "stop" or "pause", two rarely agree on it.
#: Measured over five placements: wrong commands 4 -> 1, right 72 -> 66 of 100.
AGREE = 0.3
#: Seconds before "guide" that must be quieter than the command in a window: a
#: window can start in the middle of talk, a segment cannot.
PAUSE = 0.2
#: and by how much. Measured: right commands in windows 13-31 dB, windows starting
#: inside room talk mostly under 4 dB (the loudest fit badly anyway, MIN_MATCH).
PAUSE_DB = 10.0
#: Added before decoding: pocketsphinx fails on exact digital silence.
DITHER = 10 ** (-60 / 20)
#: Seconds of audio before a segment's start that are decoded with it: the decoder
#: needs some silence before the first word (without it "guide back" decoded as
#: "guide next" even clean). Everything heard up to the decision is decoded too.
CONTEXT = 0.3
#: The grammar path must score nearly as well as a free phone loop over the same
#: audio (log score difference per 1000 frames of the command, from "guide" to its
#: last word): ordinary talk forced into a command scores far worse than its own
#: phones. Until the seventh pass the difference was taken per frame decoded, the
#: silence around the command included, so the same fit counted for more in a long
#: segment than in a tight one, and each command needed its own threshold. Per frame
#: of the command, one threshold does (seventh pass, every decode of eight placements
#: replayed: right commands against wrong ones and room talk, AUC 0.81 -> 0.87 and
#: 0.96 -> 0.98). -2.1 chosen on the tuning three (docs/benchmarks.md).
MIN_MATCH = -2.1
#: Without the played signal (no canceller, no near-end check) the bed and the
#: narration's ends are forced into commands too: replayed on four placements, -1.9 to
#: -2.2 all gave no false trigger and one wrong command; a little stricter, -2.0.
MIN_MATCH_UNCANCELLED = -2.0
#: A stricter MIN_MATCH for "stop": a wrong stop ends the session, a missed one is said
#: again. Third pass: "back" and "softer" over narration heard as "stop" at -1.12 and
#: -1.13 per frame decoded; sixth pass: no wrong or false stop above -1.26 over eight
#: placements. Per frame of the command, the one wrong stop those eight placements hold
#: fits at -2.15 (seventh pass): -2.0.
MIN_MATCH_STOP = -2.0
#: The shortest "guide" (seconds in the decoded path) that is a word said: right
#: commands 0.30-1.4 s in espeak voices, 0.24-0.33 s in the brisker natural ones; the
#: decoder's path through a blip or mid-talk is 0.09-0.27 s. 0.28 s (third pass) lost
#: a natural talker's commands; with the session cancelled 0.24 s admitted no more
#: false triggers over eight placements (fourth pass). Without the canceller it let in
#: a wrong command, so 0.28 s there.
MIN_GUIDE = 0.24
MIN_GUIDE_UNCANCELLED = 0.28
#: The most seconds of sound (trailing "uh" and silence, the endpointer's 0.3 s
#: margin included) a segment may hold after the command's last word: right
#: commands 0.3-1.2 s, talk forced into a command and running on 1.7-2.3 s.
MAX_TRAIL = 1.4
#: Seconds of speech decoded before "guide" ("uh") that still count as a hesitation:
#: with the session cancelled, none (talk runs into "guide", commands do not);
#: without it the bed and the end of a cue come before "guide" too (measured: up
#: to 0.52 s before right commands, 0.06-0.65 s before room talk), so more.
MAX_LEAD = 0.0
MAX_LEAD_UNCANCELLED = 0.55
#: One "uh" of at most MAX_UH seconds ending at most UH_GAP seconds before "guide"
#: does not count as speech before it in a segment: over narration the decoder often
#: puts the narration's remains or the onset of "guide" there. It matters only with
#: the session cancelled (without it MAX_LEAD_UNCANCELLED lets more through). Fifth
#: pass, replayed over eight placements: 3 more espeak and 4 more natural commands
#: heard of 160 (2 and 2 of the 100 held out), no more wrong or false ones. Not for
#: "stop", which must be heard clearly, nor in windows, whose start is arbitrary.
MAX_UH = 0.2
UH_GAP = 0.5
#: A command that fits its audio clearly better than any other command may fit it a
#: little worse than the phone loop: MIN_MATCH is LOOSER lower when the grammar's path
#: beats the best path through the *other* commands by at least CLEAR (same units). A
#: talker unlike the model's voices fits every command worse, but still one far better
#: than the rest; a mishearing ("softer" for "stop", "pause" for "back") is a near tie.
#: Measured on every decode of eight placements (seventh pass): right commands just
#: under the threshold had margins spread from 0 to 2, wrong ones mostly under 0.3, room
#: talk far under the threshold whatever its margin. Not for "stop" (MIN_MATCH_STOP
#: stays), nor without the session cancelled.
CLEAR = 0.3
LOOSER = 0.3
#: A "stop" with a word decoded after it is decoded again against the grammar without
#: the trailing hesitation, and kept only if that decode says "stop" too: the second
#: syllable of "louder" or "softer" otherwise goes into the "uh" and leaves "stop" (the
#: bench's one wrong stop, "louder" heard as "guide stop uh" at -0.87). A right "stop"
#: followed by a breath is still "stop" without the "uh" to put it in.
CONFIRM_STOP = True
#: A "stop" heard with the giver's warp (talker.py) must be "stop" without it too: a
#: deep voice's "back" can fit "stop" best once its frequencies are raised. Tenth pass:
#: the bench heard one en-gb+m3 "back" as a wrong stop at warp 0.8; replayed, the
#: check cost 2 right espeak stops of 160 commands (en-gb+m3's and en-us+m7's, which
#: the model as it is hears as "softer"), no natural one. A missed stop is said again;
#: a wrong one ends the session.
STOP_UNWARPED = True
#: pocketsphinx options beyond the defaults. Front-end ones the model's feat.params sets
#: (cmn, remove_noise, ...) are overridden by it here; set those in ``decoder.config``
#: after loading, then ``reinit_feat()`` (ninth pass: noise removal off was worse).
DECODER_OPTIONS: dict[str, object] = {}


@dataclass(frozen=True)
class Heard:
    """One recognized command."""

    at: float  # seconds into the audio where "guide" began
    command: str  # the words after "guide", e.g. "more time"
    decided: float  # seconds into the audio when it was recognized
    end: float = 0.0  # seconds into the audio where the speech segment holding it ended

    def as_json(self) -> dict[str, object]:
        return {"at": round(self.at, 2), "command": self.command}


@dataclass(frozen=True)
class Decoded:
    """One decoded stretch holding a command, with what the checks look at."""

    heard: list[Heard]  # the commands in it (the first is judged)
    words: list[str]  # the real words of its path
    path: list[tuple[str, float, float]]  # (word, start, end) seconds, fillers and silence too
    lead: float  # seconds of speech before "guide"
    match: float  # grammar against phone loop, per frame of the command (MIN_MATCH)
    pause: float  # dB the PAUSE before "guide" is quieter than the command (PAUSE_DB)
    confirmed: bool = True  # a "stop" decoded again without the trailing "uh" is "stop"
    margin: float = 0.0  # grammar path against the best path through another command (CLEAR)
    pcm: bytes = field(default=b"", repr=False)  # what was decoded, to fit the talker with


def _load() -> tuple[type, type]:
    try:
        from pocketsphinx import Decoder, Endpointer
    except ImportError:
        raise VoiceguideError(
            "listening needs pocketsphinx: pip install 'voiceguide[listen]'"
        ) from None
    return Decoder, Endpointer


class Recognizer:
    """Feed 16 kHz mono float blocks with :meth:`feed`; it returns the commands heard."""

    def __init__(self, vad_mode: int = 3) -> None:
        decoder_type, endpointer_type = _load()
        from pocketsphinx import get_model_path

        self.decoder = decoder_type(
            samprate=RATE, lm=None, loglevel="FATAL", bestpath=False, **DECODER_OPTIONS
        )
        for word, phones in PRONUNCIATIONS.items():
            self.decoder.add_word(word, phones, True)
        self.decoder.add_jsgf_string("commands", jsgf())
        self.decoder.add_jsgf_string("confirm", jsgf(trailing=False))
        self.decoder.add_jsgf_string("guide", jsgf(alone=True))
        for command in COMMANDS:
            self.decoder.add_jsgf_string(f"not {command}", jsgf(without=command))
        self.decoder.add_allphone_file("phones", str(Path(get_model_path()) / "en-us-phone.lm.bin"))
        self.decoder.activate_search("commands")
        self.match = 0.0  # the last decoded segment's MIN_MATCH measure
        self.lead = 0.0  # and its seconds of speech before "guide"
        self.words: list[tuple[str, float, float]] = []  # its path: (word, start, end) seconds
        self.max_lead = MAX_LEAD
        self.min_guide = MIN_GUIDE  # the listener sets these four by whether it cancels
        self.min_match = MIN_MATCH
        self.looser = LOOSER  # 0 when the session is not cancelled (see CLEAR)
        self.endpointer = endpointer_type(window=0.3, ratio=0.9, vad_mode=vad_mode,
                                          sample_rate=RATE)  # fmt: skip
        self.frame = int(self.endpointer.frame_bytes // 2)
        self._pending = np.zeros((2, 0), np.float32)  # (heard, segmented) not yet a frame
        self._rng = np.random.default_rng(0)
        self.samples = 0  # samples fed so far: the stream's clock
        self._segment: list[bytes] | None = None
        self._lone: _Short | None = None  # a short segment, perhaps half a command
        self._start = 0.0
        self.partial = ""  # the words of the last segment, for a live display
        self._levels: deque[float] = deque(maxlen=int(FLOOR_SECONDS * RATE / self.frame))
        self._segment_levels: list[float] = []
        self._recent: deque[tuple[int, bytes]] = deque(  # (first sample, frame) lately heard
            maxlen=int((MAX_SEGMENT + CONTEXT + LONE + JOIN_GAP + 1.5) * RATE / self.frame)
        )
        self.segments = 0
        self.windowed = False  # decode overlong segments in windows (see _windows)
        self._next_window: float | None = None  # where the next window starts (seconds)
        self._split = False  # the current segment is being decoded in windows
        self._judged: deque[tuple[float, str, bool]] = deque(maxlen=16)  # (at, command, good)
        self.decoded_seconds = 0.0
        self.talker = Talker()  # the giver's voice, from the commands taken (talker.py)
        self.fit_talker = True  # False keeps the model's own front end (for measuring)
        self._to_fit: bytes | None = None  # a command taken, not yet decoded at every warp
        self.warp = 1.0  # the warp the decoder hears with now

    @property
    def now(self) -> float:
        return self.samples / RATE

    def feed(self, block: np.ndarray, vad: np.ndarray | None = None) -> list[Heard]:
        """Process more audio; return the commands decided on in it.

        ``vad``, when given, is what the endpointer segments instead of ``block``
        (the same length): the listener blanks the stretches that are only the
        session's own sound there, so the remains of narration do not run into a
        command's segment, while the decoder still hears ``block`` unchanged.
        """
        if self._to_fit is not None:
            self._fit(self._to_fit)  # after the command was returned, not before
        block = block.astype(np.float32)
        vad = block if vad is None else vad.astype(np.float32)
        audio = np.concatenate([self._pending, np.stack([block, vad])], axis=1)
        n = audio.shape[1] // self.frame * self.frame
        self._pending = audio[:, n:]
        heard: list[Heard] = []
        for i in range(0, n, self.frame):
            heard.extend(self._frame(audio[0, i : i + self.frame], audio[1, i : i + self.frame]))
        return heard

    def flush(self) -> list[Heard]:
        """The end of the audio: decide on a segment in progress."""
        return self._decode() if self._segment else []  # the end of the audio ends a segment

    def _frame(self, x: np.ndarray, vad: np.ndarray) -> list[Heard]:
        dither = self._rng.standard_normal(len(x)).astype(np.float32) * DITHER
        x = x + dither
        pcm = _pcm(x)
        self._recent.append((self.samples, pcm))
        self.samples += len(x)
        level = float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12))
        self._levels.append(level)
        was = self.endpointer.in_speech
        speech = self.endpointer.process(_pcm(vad + dither))
        if speech is None:
            return []
        if not was:
            self._segment = []
            self._segment_levels = []
            self._start = self.endpointer.speech_start
            self._split = False
        if self._segment is not None:
            self._segment.append(speech)
            self._segment_levels.append(level)
            seconds = len(self._segment) * self.frame / RATE
            if self.windowed and not self._split and seconds > WINDOW - CONTEXT:
                self._split = True  # perhaps too long for a command alone: see _windows
                self._next_window = self._start - CONTEXT
            if seconds > MAX_SEGMENT:
                self._segment = None  # too long for a command alone
        heard = self._windows(ended=not self.endpointer.in_speech)
        if not self.endpointer.in_speech:
            return heard + self._decode()
        return heard

    def snr_db(self, levels: list[float] | None = None) -> float:
        """How far a segment's loud frames (the current one's unless ``levels``)
        stand above the recent floor."""
        levels = self._segment_levels if levels is None else levels
        if not levels or not self._levels:
            return 0.0
        floor = float(np.percentile(np.array(self._levels), 20))
        return float(np.percentile(np.array(levels), 90)) - floor

    def _decode(self) -> list[Heard]:
        if self._segment is None:
            return []
        seconds = sum(len(frame) for frame in self._segment) / 2 / RATE
        self._segment = None
        lone, self._lone = self._lone, None
        heard: list[Heard] = []
        if lone and seconds <= MAX_SEGMENT and self._joined_loud_enough(lone):
            heard = self._judge(lone.start - CONTEXT, self.now)  # "guide", a pause, "next"
        if heard or self.snr_db() < MIN_SNR:
            return heard
        if seconds >= MIN_SEGMENT:
            self.segments += 1
            self.decoded_seconds += seconds
            heard = self._judge(self._start - CONTEXT, self.now)
        if not heard and seconds <= LONE:
            guide = self._lone_guide(self._start - CONTEXT, self.now)
            if guide or self.windowed:  # "guide" and a pause, or half a command (ADJACENT)
                self._lone = _Short(self._start, self.now, self._segment_levels, guide)
        return heard

    def _joined_loud_enough(self, lone: _Short) -> bool:
        """Whether the segment just ended is decoded with the short one before it,
        judged loud enough (MIN_SNR) over both: a "stop" over narration may not be alone."""
        both = lone.levels + self._segment_levels
        return lone.joins(self._start) and self.snr_db(both) >= MIN_SNR

    def _windows(self, ended: bool) -> list[Heard]:
        """An overlong segment, decoded in overlapping WINDOW-second stretches.

        A command said while the session's remains keep the endpointer in speech
        is still a command: each window is judged as a segment would be, so one
        that starts in the pause before "guide" finds it. Only once the
        canceller runs (``self.windowed``): without it, long segments are mostly
        talk and narration, and every window would be another chance to misfire.
        """
        heard: list[Heard] = []
        while self._next_window is not None and (
            self._next_window + WINDOW <= self.now
            or (ended and self._next_window + MIN_SEGMENT + CONTEXT < self.now)
        ):
            start = self._next_window
            heard += self._judge(start, min(start + WINDOW, self.now), window=True)
            self._next_window = start + WINDOW_HOP
        if ended:
            self._next_window = None
        return heard

    def _judge(self, begin: float, end: float, window: bool = False) -> list[Heard]:
        """Decode [begin, end) of what was lately heard; the commands it holds, if any."""
        decoded = self._hear(begin, end)
        if decoded is None:
            return []
        heard = self._accept(decoded, window)
        if heard and self.fit_talker:
            self._to_fit = decoded.pcm
        return heard

    def _fit(self, pcm: bytes) -> None:
        """Decode a command taken at every warp, and use the talker's warp from now on."""
        self._to_fit = None
        scores = {}
        for warp in WARPS:
            set_warp(self.decoder, warp)
            scores[warp] = self._score(pcm, "commands")
        self.talker.heard(scores, len(pcm) // 2 * 100 // RATE)
        self.warp = self.talker.warp
        set_warp(self.decoder, self.warp)

    def _hear(self, begin: float, end: float) -> Decoded | None:
        """Decode [begin, end) against the grammar and, when it holds a command, the phone loop.

        Every command-holding stretch gets both decodes, whatever :meth:`_accept`
        then decides, so everything the checks look at is in one :class:`Decoded`:
        the thresholds were tuned by recording these and replaying the checks.
        """
        start, pcm = self._heard(begin, end)
        if not pcm:
            return None
        grammar = self._score(pcm, "commands")
        if grammar is None:
            return None
        segs = list(self.decoder.seg())
        self.words = self._path(segs)
        segments = [(_base(s.word), s.start_frame) for s in segs if _is_word(s.word)]
        self.lead = 0.0
        for s in segs:
            if _base(s.word) == WAKE:
                break
            if _is_word(s.word):
                self.lead += (s.end_frame - s.start_frame + 1) / 100.0
        words = [w for w, _ in segments]
        self.partial = " ".join(words[-8:])
        found = commands_in(words)
        if not found:
            return None
        heard = [Heard(start + segments[i][1] / 100.0, c, decided=self.now, end=end)
                 for i, c in found]  # fmt: skip
        frames = _command_frames(self.words)
        self.match = _per_frame(grammar, self._score(pcm, "phones") or 0.0, frames)
        confirmed = self._confirmed(pcm, words)
        other = self._score(pcm, f"not {heard[0].command}")
        margin = 99.0 if other is None else _per_frame(grammar, other, frames)
        return Decoded(heard, words, list(self.words), self.lead, self.match,
                       self.pause_db(heard[0].at, end), confirmed, margin, pcm)  # fmt: skip

    def _heard(self, begin: float, end: float) -> tuple[float, bytes]:
        """What was heard in [begin, end): (where it starts, seconds; its PCM)."""
        first, last = int(begin * RATE), int(end * RATE)
        frames = [(i, frame) for i, frame in self._recent if first <= i < last]
        return (frames[0][0] / RATE if frames else begin), b"".join(f for _, f in frames)

    def _lone_guide(self, begin: float, end: float) -> bool:
        """Whether [begin, end) is "guide" said alone: the word fitting its audio
        as well as a command must (MIN_MATCH), and as long as one (MIN_GUIDE)."""
        _, pcm = self._heard(begin, end)
        said = self._score(pcm, "guide") if pcm else None
        if said is None:
            return False
        path = self._path(self.decoder.seg())
        guide = [(a, b) for w, a, b in path if _base(w) == WAKE]
        if not guide or guide[0][1] - guide[0][0] < self.min_guide:
            return False  # too short to be the word: no need of the phone loop
        phones = self._score(pcm, "phones") or 0.0
        return _per_frame(said, phones, _command_frames(path)) >= self.min_match

    @staticmethod
    def _path(segs: Iterable[Any]) -> list[tuple[str, float, float]]:
        """A decode's segments as (word, start, end) seconds."""
        return [(s.word, s.start_frame / 100, (s.end_frame + 1) / 100) for s in segs]

    def _confirmed(self, pcm: bytes, words: list[str]) -> bool:
        """Whether a "stop" holds up decoded again: with a word after it, without the
        trailing "uh" to put that word in (CONFIRM_STOP); under the giver's warp,
        without the warp (STOP_UNWARPED). True for anything else."""
        found = commands_in(words)
        if not found or found[0][1] != "stop":
            return True
        if CONFIRM_STOP and len(words) > found[0][0] + 2 and not self._says_stop(pcm, "confirm"):
            return False
        if not STOP_UNWARPED or self.warp == 1.0:
            return True
        set_warp(self.decoder, 1.0)
        try:
            return self._says_stop(pcm, "commands")
        finally:
            set_warp(self.decoder, self.warp)

    def _says_stop(self, pcm: bytes, search: str) -> bool:
        """Whether ``pcm`` decoded against ``search`` has "stop" for its first command."""
        if self._score(pcm, search) is None:
            return False
        again = [_base(s.word) for s in self.decoder.seg() if _is_word(s.word)]
        first = commands_in(again)
        return bool(first) and first[0][1] == "stop"

    def _accept(self, d: Decoded, window: bool) -> list[Heard]:
        """Whether a decoded command is one said alone (see the module docstring)."""
        lead = d.lead
        if not window and d.heard[0].command != "stop" and self._hesitation(d.path):
            lead = 0.0  # a short "uh" just before "guide" (MAX_UH)
        if lead > self.max_lead:
            return []  # speech before "guide": someone talking, not a command
        if not self._plausible(d.path, window):
            return []
        if window and d.pause < PAUSE_DB:
            return []  # the window began inside talk: "guide" was not after a pause
        said = d.heard[0]
        threshold = self.min_match
        if d.margin >= CLEAR and said.command != "stop":
            threshold -= self.looser  # clearly this command, if not clearly speech
        good = d.confirmed and d.match >= threshold
        good = good and not ("stop" in d.words and d.match < MIN_MATCH_STOP)
        agree = any(c == said.command and abs(at - said.at) <= AGREE and ok
                    for at, c, ok in self._judged)  # fmt: skip
        self._judged.append((said.at, said.command, good))
        if not good or (window and not agree):
            return []  # a window's command counts once a second decode finds it too
        return d.heard

    def _hesitation(self, path: list[tuple[str, float, float]]) -> bool:
        """Whether the only word before "guide" is one short "uh" close to it (MAX_UH)."""
        before = []
        for word, start, end in path:
            if _base(word) == WAKE:
                return (len(before) == 1 and _base(before[0][0]) == "uh"
                        and before[0][2] - before[0][1] <= MAX_UH
                        and start - before[0][2] <= UH_GAP)  # fmt: skip
            if _is_word(word):
                before.append((word, start, end))
        return False

    def _plausible(self, path: list[tuple[str, float, float]], window: bool) -> bool:
        """Whether the decoded path has the durations of a command said alone.

        The decoder can always force "guide <command>" onto a blip in its
        shortest path (about 0.2 s for "guide"), and onto talk that runs on after
        it as a long trailing "uh" or silence. A segment's end is where the
        sound stopped; a window's is arbitrary, so only segments are held to MAX_TRAIL.
        """
        real = [(w, a, b) for w, a, b in path if _is_word(w)]
        guide = next(((a, b) for w, a, b in real if _base(w) == WAKE), None)
        if guide is None or guide[1] - guide[0] < self.min_guide:
            return False
        said = [b for w, a, b in real if _base(w) != "uh"]
        trail = path[-1][2] - said[-1] if said and path else 0.0
        return window or trail <= MAX_TRAIL

    def pause_db(self, at: float, end: float) -> float:
        """How much quieter (dB) the PAUSE seconds before ``at`` were than [at, end)
        (the loudest 10 ms before against the 90th percentile after)."""
        first, last = int((at - PAUSE) * RATE), int(end * RATE)
        before, after = [], []
        for i, frame in self._recent:
            if first <= i < last:
                power = np.mean((np.frombuffer(frame, "<i2") / 32768.0) ** 2) + 1e-12
                (before if i < at * RATE - self.frame else after).append(10 * np.log10(power))
        if not before or not after:
            return 0.0
        return float(np.percentile(after, 90) - np.max(before))

    def _score(self, pcm: bytes, search: str) -> float | None:
        """Decode against one search; its path score (natural log), None if nothing fits.

        The binding gives the score as a probability; its log is a (scaled) log
        likelihood, comparable between searches over the same audio.
        """
        if self.decoder.current_search() != search:
            self.decoder.activate_search(search)
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, False, True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        if hyp is None or hyp.score <= 0.0:
            return None
        return float(np.log(hyp.score))


@dataclass(frozen=True)
class _Short:
    """A short segment that held no command, kept for the next one (LONE, ADJACENT)."""

    start: float  # seconds
    end: float
    levels: list[float]  # its frames' levels (dB), for MIN_SNR over both
    guide: bool  # it fits "guide" said alone

    def joins(self, start: float) -> bool:
        """Whether a segment starting at ``start`` is decoded together with this one."""
        return start - self.end <= (JOIN_GAP if self.guide else ADJACENT)


def _pcm(x: np.ndarray) -> bytes:
    return (np.clip(x, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def _command_frames(path: list[tuple[str, float, float]]) -> int:
    """Frames (10 ms) from "guide" to the command's last word: what MIN_MATCH is per."""
    real = [(_base(w), a, b) for w, a, b in path if _is_word(w) and _base(w) != "uh"]
    guide = next((a for w, a, _ in real if w == WAKE), real[0][1] if real else 0.0)
    return max(round(100 * (real[-1][2] - guide)) if real else 0, 1)


def _per_frame(score: float, against: float, frames: int) -> float:
    """How much better one decode's path score is than another's, per frame of the
    command (×1000): the scale MIN_MATCH and CLEAR are set on."""
    return 1000 * (score - against) / frames


def _is_word(word: str) -> bool:
    """Real words, not silence, noise or the grammar's empty transitions."""
    return not word.startswith(("<", "[", "+", "(NULL)"))


def _base(word: str) -> str:
    """``a(2)`` (a second pronunciation) is still ``a``."""
    return word.split("(", 1)[0]
