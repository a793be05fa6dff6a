"""Speech over ambience, block by block.

Every output sample is a pure function of its position in the session: the
beds are read by absolute index, the ducking and fades are closed-form
envelopes, and clips are placed by their start sample. So any block can be
made on its own, in any order and of any size — the file sink walks the
session start to end, the live player jumps wherever a key sends it, and
memory never depends on the session's length.

Loudness is predicted, not measured after the fact: every clip and every
bed loop carries its K-weighted 100 ms powers, so the session's integrated
loudness (BS.1770 gating included) is computed from the plan in
milliseconds, and one gain brings it to the target before the first block
is made. A look-ahead true-peak limiter catches the rare overshoot.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from voiceguide import loudness
from voiceguide.ambience import CHIME, SESSION_RATE, Bed, bundled_info, load_chime
from voiceguide.clipbank import ClipBank, Stored
from voiceguide.script import Script

RATE = SESSION_RATE
HOP = loudness.hop_size(RATE)
#: How far a sparse session's bed may be lifted to reach the target loudness.
MAX_BED_LIFT = 10.0
#: How much the loudest speech peak may lose to the limiter before the bed is lifted instead.
LIMIT_ALLOWANCE = 0.0
#: With ``MixSettings.limit_db``, how much more gain may make up for what the limiter takes.
MAX_LIMITER_MAKEUP = 2.5


@dataclass(frozen=True)
class MixSettings:
    """The balance and motion of the mix. Levels in dB, times in seconds."""

    # The bed's loudness relative to a clip's, before ducking. Quiet enough that
    # bed-only passages fall under BS.1770's relative gate: otherwise a session
    # that is mostly hands-at-work would need so much gain to reach the target
    # that the limiter would flatten the voice.
    bed_volume: float = -18.0
    duck: float = -10.0  # how far the bed dips under speech
    attack: float = 0.35  # the dip starts this long before a word
    release: float = 0.9  # and recovers over this long after
    hold: float = 2.5  # gaps shorter than this stay ducked: no pumping between close cues
    fade_in: float = 3.0
    fade_out: float = 5.0
    bed_crossfade: float = 4.0
    chime: bool = True
    chime_volume: float = -8.0  # relative to speech
    tick_peak_db: float = -30.0  # the --tempo tick's peak, dBFS before the master gain: soft
    target_lufs: float = -16.0
    ceiling_db: float = -1.0  # true peak
    #: How far the loudest speech peak may rise over the ceiling for the limiter to take
    #: back: 0 except for low-bitrate codecs, whose own peaks need the mix kept well under
    #: the ceiling (a session mixed for them would otherwise come out quiet).
    limit_db: float = 0.0


@dataclass(frozen=True)
class GainCurve:
    """A master gain that moves: from ``first``, each move a smooth (raised-cosine) turn
    over samples [start, end) to its gain. A render that began mixing on estimated
    speech settles its level this way, a few tenths of a dB at a time."""

    first: float
    moves: tuple[tuple[int, int, float], ...] = ()  # (start, end, gain after), in order

    @property
    def last(self) -> float:
        return self.moves[-1][2] if self.moves else self.first

    @property
    def end(self) -> int:
        """Where the last move is over (0 when there is none)."""
        return self.moves[-1][1] if self.moves else 0

    def then(self, start: int, end: int, gain: float) -> GainCurve:
        """This curve with one more move (after every other)."""
        return GainCurve(self.first, (*self.moves, (max(start, self.end), end, gain)))

    def at(self, first: int, count: int) -> float | np.ndarray:
        """The gain at samples [first, first + count): one number where it is flat."""
        return self.over(np.arange(first, first + count, dtype=np.float64), flat=True)

    def over(self, t: np.ndarray, flat: bool = False) -> np.ndarray | float:
        """The gain at sorted sample positions ``t`` (a number if ``flat`` and it is one)."""
        before = self.first
        gain: np.ndarray | float = before
        for start, end, after in self.moves:
            if len(t) and end <= t[0]:
                before = gain = after
                continue
            if len(t) and start >= t[-1]:
                break
            x = np.clip((t - start) / max(1, end - start), 0.0, 1.0)
            gain = gain + (after - before) * _raised_cosine(x)
            before = after
        if isinstance(gain, float) and not flat:
            return np.full(len(t), gain)
        return gain


@lru_cache(maxsize=4)
def _tick(peak_db: float) -> np.ndarray:
    """A soft wooden tick: 60 ms of a low, quickly fading tone (mono, peak ``peak_db``)."""
    t = np.arange(round(0.06 * RATE)) / RATE
    tone = np.sin(2 * np.pi * 880.0 * t) * 0.6 + np.sin(2 * np.pi * 1320.0 * t) * 0.4
    shaped = tone * np.exp(-t / 0.012) * np.minimum(1.0, t / 0.002)
    return (shaped / np.max(np.abs(shaped)) * 10 ** (peak_db / 20)).astype(np.float32)


@dataclass(frozen=True)
class Placed:
    """A clip at a start sample; its samples stay on disk until a block needs them."""

    start: int
    clip: Stored

    @property
    def end(self) -> int:
        return self.start + self.clip.length

    @property
    def powers(self) -> np.ndarray:
        return self.clip.powers

    @property
    def peak(self) -> float:
        return self.clip.peak


def _raised_cosine(x: np.ndarray) -> np.ndarray:
    """0 → 1 smoothly over x in [0, 1] (amplitude ramps: sums to 1 with its mirror)."""
    return 0.5 - 0.5 * np.cos(np.pi * x)


def _sine(x: np.ndarray) -> np.ndarray:
    """0 → 1 over x in [0, 1] at equal power (its mirror's square sums with it to 1)."""
    return np.sin(0.5 * np.pi * x)


def _ramp(
    out: np.ndarray, t: np.ndarray, a: float, b: float, rising: bool, shape=_raised_cosine
) -> None:  # type: ignore[no-untyped-def]
    """Write a ramp over positions [a, b) of sorted ``t`` into ``out``, keeping the larger value."""
    lo, hi = np.searchsorted(t, [a, b])
    if hi <= lo:
        return
    x = (t[lo:hi] - a) / (b - a)
    values = shape(x if rising else 1.0 - x)
    np.maximum(out[lo:hi], values, out=out[lo:hi])


class Mixer:
    """Makes any span of a session's audio on demand (float32 stereo)."""

    def __init__(
        self,
        script: Script,
        clips: ClipBank,
        beds: Mapping[str, Bed],
        settings: MixSettings | None = None,
        *,
        levels: tuple[float, float] | None = None,
        gain: GainCurve | None = None,
    ) -> None:
        """``levels`` fixes the master gain and bed lift instead of working them
        out: a live session keeps one level while its script changes. ``gain``
        moves the master gain (``levels`` then gives the bed lift)."""
        self.script = script
        if levels is not None:
            self.__dict__["levels"] = levels
        self.curve = gain
        self.settings = settings or MixSettings()
        self.clips = clips
        self.beds = beds
        self.length = round(script.duration * RATE)
        self.placed = self._place_clips()
        self._starts = [p.start for p in self.placed]
        self._longest = max((p.clip.length for p in self.placed), default=0)
        self.duck_spans = self._duck_spans()
        self._duck_ends = [b for _, b in self.duck_spans]
        self.chimes = self._chime_starts() if self.settings.chime else []
        self._chime = load_chime() if self.chimes else np.zeros((0, 2), np.float32)
        self.ticks = sorted(round(t * RATE) for t in script.ticks)

    # -- plan

    def _place_clips(self) -> list[Placed]:
        placed = []
        missing = set()
        for cue in self.script.cues:
            if not self.clips.is_real(cue.text):  # asked first: a clip arriving meanwhile is
                missing.add(cue.text)  # then used but still counted missing, never the reverse
            placed.append(Placed(round(cue.at * RATE), self.clips.stored(cue.text)))
        placed.sort(key=lambda p: p.start)
        self.missing = frozenset(missing)
        return placed

    def _duck_spans(self) -> list[tuple[int, int]]:
        """Speech spans merged across short gaps, in samples."""
        hold = int(self.settings.hold * RATE)
        spans: list[list[int]] = []
        for p in self.placed:
            if spans and p.start - spans[-1][1] < hold:
                spans[-1][1] = max(spans[-1][1], p.end)
            else:
                spans.append([p.start, p.end])
        return [(a, b) for a, b in spans]

    def _chime_starts(self) -> list[int]:
        """A chime where each step begins (not for pauses: they are for quiet)."""
        starts = []
        for chapter in self.script.chapters:
            if chapter.step is None:
                continue
            info = (
                self.script.steps[chapter.step] if chapter.step < len(self.script.steps) else None
            )
            if info is not None and info.say == "":
                continue
            starts.append(round(chapter.start * RATE))
        return starts

    @cached_property
    def bed_gains(self) -> dict[str, float]:
        """Linear gain bringing each bed to its place relative to the speech."""
        wanted = self.settings.target_lufs + self.settings.bed_volume
        gains = {}
        for name in self.beds:
            level = loudness.gated_loudness(self.bed_powers[name])
            gains[name] = 0.0 if math.isinf(level) else 10 ** ((wanted - level) / 20)
        return gains

    def derive(self, script: Script) -> Mixer:
        """A mixer for a changed script, sharing clips, beds, levels and the master gain."""
        derived = Mixer(script, self.clips, self.beds, self.settings, levels=self.levels)
        for name in ("bed_gains", "bed_powers", "bed_peaks", "chime_peak", "chime_gain"):
            if name in self.__dict__:
                derived.__dict__[name] = self.__dict__[name]
        return derived

    @cached_property
    def bed_powers(self) -> dict[str, np.ndarray]:
        """Each loop's K-weighted hop powers: shipped with bundled beds, measured for others."""
        return {
            name: bed.powers if bed.powers is not None else loudness.hop_powers(bed.loop, RATE)
            for name, bed in self.beds.items()
        }

    @cached_property
    def bed_peaks(self) -> dict[str, float]:
        return {
            name: 10 ** (bed.peak_dbtp / 20) if bed.peak_dbtp is not None else _true_peak(bed.loop)
            for name, bed in self.beds.items()
        }

    @cached_property
    def chime_peak(self) -> float:
        info = bundled_info(CHIME)
        if info.peak_dbtp is None:
            return _true_peak(self._chime)
        return 10 ** (info.peak_dbtp / 20)

    @cached_property
    def chime_gain(self) -> float:
        if not len(self._chime):
            return 0.0
        info = bundled_info(CHIME)
        level = info.lufs
        if level is None:
            level = loudness.integrated_loudness(self._chime, RATE)
        wanted = self.settings.target_lufs + self.settings.chime_volume
        return 10 ** ((wanted - level) / 20)

    # -- envelopes (closed form, so any block can be made alone)

    def envelope_at(self, t: np.ndarray) -> np.ndarray:
        """Bed gain from ducking and the session fades at sample positions ``t``.

        ``t`` is sorted and evenly spaced (a block, or every hop's centre);
        cosines are evaluated only inside ramps, the rest is filled flat.
        """
        s = self.settings
        depth = 1.0 - 10 ** (s.duck / 20)
        attack, release = s.attack * RATE, s.release * RATE
        amount = np.zeros(len(t))
        first = bisect.bisect_left(self._duck_ends, t[0] - release) if len(t) else 0
        for a, b in self.duck_spans[first:]:
            if a - attack > t[-1]:
                break
            _ramp(amount, t, a - attack, a, rising=True)
            _ramp(amount, t, b, b + release, rising=False)
            lo, hi = np.searchsorted(t, [a, b])
            amount[lo:hi] = 1.0
        envelope = 1.0 - depth * amount
        fade = np.zeros(len(t))
        _ramp(fade, t, 0.0, s.fade_in * RATE, rising=True)
        _ramp(fade, t, self.length - s.fade_out * RATE, self.length, rising=False)
        lo, hi = np.searchsorted(t, [s.fade_in * RATE, self.length - s.fade_out * RATE])
        fade[lo:hi] = 1.0
        return envelope * fade

    def bed_weights_at(self, t: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """Each bed's equal-power weight at sample positions ``t``; cross-fades at changes."""
        half = self.settings.bed_crossfade / 2 * RATE
        spans = self.script.beds
        weights = []
        for i, span in enumerate(spans):
            start, end = span.start * RATE, span.end * RATE
            if span.bed is None or t[-1] < start - half or t[0] > end + half:
                continue
            w = np.zeros(len(t))
            fade_in, fade_out = (start - half, start + half), (end - half, end + half)
            if i == 0:
                fade_in = (-2.0, -1.0)
            if i + 1 == len(spans):
                fade_out = (np.inf, np.inf)
            _ramp(w, t, *fade_in, rising=True, shape=_sine)
            _ramp(w, t, *fade_out, rising=False, shape=_sine)
            lo, hi = np.searchsorted(t, [fade_in[1], fade_out[0]])
            w[lo:hi] = 1.0
            weights.append((span.bed, w))
        return weights

    # -- audio

    def premaster(
        self,
        start: int,
        count: int,
        parts: tuple[str, ...] = ("bed", "speech", "chime"),
        bound: np.ndarray | None = None,
    ) -> np.ndarray:
        """Samples [start, start + count) before the master gain and limiter.

        Outside the session (negative or past the end) is silence, so callers
        may ask for margins freely. ``bound``, if given, receives an upper
        bound of the true peak at each sample: the parts' own true peaks
        times their gains (oversampling is linear, so peaks add at worst).
        """
        out = np.zeros((count, 2), dtype=np.float32)
        lo, hi = max(start, 0), min(start + count, self.length)
        if hi <= lo:
            return out
        view = out[lo - start : hi - start]
        peaks = bound[lo - start : hi - start] if bound is not None else None
        if "bed" in parts:
            self._add_beds(view, lo, hi - lo, peaks)
        if "chime" in parts:
            self._add_chimes(view, lo, hi - lo, peaks)
            self._add_ticks(view, lo, hi - lo, peaks)
        if "speech" in parts:
            self._add_speech(view, lo, hi - lo, peaks)
        return out

    def _add_beds(self, out: np.ndarray, start: int, count: int, peaks: np.ndarray | None) -> None:
        t = np.arange(start, start + count)
        envelope = self.envelope_at(t)
        for name, weight in self.bed_weights_at(t):
            gain = envelope * weight * (self.bed_gains[name] * self.bed_lift)
            out += self.beds[name].read(start, count) * gain.astype(np.float32)[:, None]
            if peaks is not None:
                peaks += gain * self.bed_peaks[name]

    def _add_chimes(
        self, out: np.ndarray, start: int, count: int, peaks: np.ndarray | None
    ) -> None:
        length = len(self._chime)
        for at in self.chimes:
            a, b = max(at, start), min(at + length, start + count)
            if a < b:
                out[a - start : b - start] += self._chime[a - at : b - at] * self.chime_gain
                if peaks is not None:
                    peaks[a - start : b - start] += self.chime_peak * self.chime_gain

    def _add_ticks(self, out: np.ndarray, start: int, count: int, peaks: np.ndarray | None) -> None:
        """--tempo: a soft tick at each planned stroke. Too brief and quiet to move
        the loudness, so the level planning leaves it out."""
        if not self.ticks:
            return
        tick = _tick(self.settings.tick_peak_db)
        first = bisect.bisect_left(self.ticks, start - len(tick))
        for at in self.ticks[first:]:
            if at >= start + count:
                break
            a, b = max(at, start), min(at + len(tick), start + count)
            out[a - start : b - start] += tick[a - at : b - at, None]
            if peaks is not None:
                peaks[a - start : b - start] += 10 ** (self.settings.tick_peak_db / 20)

    def _add_speech(
        self, out: np.ndarray, start: int, count: int, peaks: np.ndarray | None
    ) -> None:
        scale = np.float32(1 / 32767.0)  # the voice's volume is in its clips already
        first = bisect.bisect_left(self._starts, start - self._longest)
        for p in self.placed[first:]:
            if p.start >= start + count:
                break
            a, b = max(p.start, start), min(p.end, start + count)
            if a < b:
                clip = p.clip.read(a - p.start, b - p.start) * scale
                out[a - start : b - start] += clip[:, None]
                if peaks is not None:
                    peaks[a - start : b - start] += p.peak

    # -- loudness

    @cached_property
    def _hop_powers(self) -> tuple[np.ndarray, np.ndarray]:
        """The premaster's K-weighted hop powers, split: (speech + chime, beds).

        Speech, chime and bed are independent, so their powers add; the bed's
        envelope is taken at each hop's centre. Kept apart so the bed can be
        re-weighed without redoing the rest.
        """
        hops = self.length // HOP + 1
        voice = np.zeros(hops)
        for p in self.placed:
            _add_at(voice, p.start // HOP, p.powers * 2)  # a mono clip on both channels
        if self.chimes:
            chime = self._chime_powers() * self.chime_gain**2
            for at in self.chimes:
                _add_at(voice, at // HOP, chime)
        centres = np.arange(hops) * HOP + HOP // 2
        envelope = self.envelope_at(centres)
        bed = np.zeros(hops)
        for name, weight in self.bed_weights_at(centres):
            loop = self.bed_powers[name]
            if len(loop):
                span = self.beds[name].powers_period  # the samples the powers describe
                index = (centres % span) // HOP % len(loop)  # loop position
                bed += loop[index] * (envelope * weight * self.bed_gains[name]) ** 2
        return voice, bed

    def predicted_lufs(self, bed_lift: float = 1.0, voice: np.ndarray | None = None) -> float:
        """The premaster's integrated loudness (BS.1770 gating), the bed lifted by ``bed_lift``
        (``voice``: the voice's hop powers as the limiter leaves them, if it works)."""
        plain, bed = self._hop_powers
        return loudness.gated_loudness((plain if voice is None else voice) + bed * bed_lift**2)

    def _limited_voice(self, gain: float) -> np.ndarray:
        """The voice's hop powers (premaster scale) after the limiter, at master gain ``gain``.

        Only for ``limit_db`` > 0, where the limiter is meant to take a few dB off
        many voice peaks: that takes loudness too, and lowers BS.1770's relative
        gate, so bed-only passages start to count. Each clip loud enough to reach
        the ceiling goes through the limiter alone (the ducked bed under it adds
        little), and its powers replace the plain ones.
        """
        ceiling = 10 ** (self.settings.ceiling_db / 20)
        voice = self._hop_powers[0].copy()
        losses: dict[int, np.ndarray] = {}
        for p in self.placed:
            if p.peak * gain <= ceiling or not len(p.powers):
                continue
            key = id(p.clip)
            if key not in losses:
                x = (p.clip.read(0, p.clip.length) * np.float32(gain / 32767.0))[:, None]
                limited = limit(x, ceiling)
                before = loudness.hop_powers(x, RATE)[: len(p.powers)]
                after = loudness.hop_powers(limited, RATE)[: len(p.powers)]
                losses[key] = np.where(before > 0, after / np.maximum(before, 1e-30), 1.0)
            loss = losses[key]
            _add_at(voice, p.start // HOP, p.powers[: len(loss)] * 2 * (loss - 1.0))
        return np.maximum(voice, 0.0)

    @cached_property
    def levels(self) -> tuple[float, float]:
        """(master gain, bed lift): how the session reaches its target loudness.

        Gain alone would do, but in a sparse session (long working steps, few
        words) the bed is most of what BS.1770 measures, and the gain it needs
        would push speech far past the ceiling, where the limiter would flatten
        the voice. So the gain stops once the loudest clip would lose more than
        LIMIT_ALLOWANCE to the limiter, and the rest is made up by lifting the
        bed, by the least that reaches the target. The lift is searched step by
        step, not bisected: lifting a bed a little can *lower* the measure (its
        blocks start to pass the relative gate) before lifting it more raises it.
        When even MAX_BED_LIFT would not do, the session stays below the target
        rather than flatten the voice or drown it (see ``achieved_lufs``).
        """
        gain, lift = self._plain_levels()
        if self.settings.limit_db > 0 and gain != 1.0:
            gain = self._gain_through_limiter(gain, lift)
        return gain, lift

    def _gain_through_limiter(self, gain: float, lift: float) -> float:
        """The gain that reaches the target once the limiter has taken its share, found by
        a few steps (the loss grows with the gain), never past the planned allowance."""
        target = self.settings.target_lufs
        most = gain
        for _ in range(4):
            voice = self._limited_voice(gain)
            level = self.predicted_lufs(lift, voice) + 20 * math.log10(gain)
            self.__dict__["_limited"] = (gain, voice)
            if abs(level - target) < 0.02:
                break
            gain = min(most * 10 ** (MAX_LIMITER_MAKEUP / 20), gain * 10 ** ((target - level) / 20))
        return self.__dict__["_limited"][0]

    def _plain_levels(self) -> tuple[float, float]:
        target = self.settings.target_lufs
        level = self.predicted_lufs()
        if math.isinf(level):
            return 1.0, 1.0
        loudest = max((p.peak for p in self.placed), default=0.0)
        if loudest == 0.0:
            return 10 ** ((target - level) / 20), 1.0
        allowance = LIMIT_ALLOWANCE + self.settings.limit_db
        headroom_db = self.settings.ceiling_db + allowance - 20 * math.log10(loudest)
        if target - level <= headroom_db:
            return 10 ** ((target - level) / 20), 1.0
        for lift_db in np.arange(0.25, MAX_BED_LIFT + 1e-9, 0.25):
            lift = 10 ** (lift_db / 20)
            lifted = self.predicted_lufs(lift)
            if target - lifted <= headroom_db:
                return 10 ** ((target - lifted) / 20), lift
        # Out of reach: keep the listener's balance and a clean voice, and fall short.
        return 10 ** (headroom_db / 20), 1.0

    def hop_gains(self, curve: GainCurve) -> np.ndarray:
        """``curve`` at the centre of each of the session's 100 ms hops."""
        hops = len(self._hop_powers[0])
        return np.asarray(curve.over(np.arange(hops) * HOP + HOP // 2.0), dtype=np.float64)

    def lufs_with(self, gains: np.ndarray, lift: float = 1.0) -> float:
        """The session's loudness with each hop at its own master gain (the planned
        powers; the limiter's share left out, as in planning)."""
        plain, bed = self._hop_powers
        return loudness.gated_loudness((plain + bed * lift**2) * gains**2)

    @property
    def achieved_lufs(self) -> float:
        """The loudness the session comes out at (the target, unless it was out of reach)."""
        gain, lift = self.levels
        limited = self.__dict__.get("_limited")
        voice = limited[1] if limited is not None and limited[0] == gain else None
        return self.predicted_lufs(lift, voice) + 20 * math.log10(gain)

    @property
    def bed_lift(self) -> float:
        return self.levels[1]

    def _chime_powers(self) -> np.ndarray:
        """The chime as steady power at its known level: it is brief and barely moves the total."""
        info = bundled_info(CHIME)
        if info.lufs is None:
            return loudness.hop_powers(self._chime, RATE)
        return np.full(max(1, len(self._chime) // HOP), loudness.lufs_to_power(info.lufs))

    @property
    def master_gain(self) -> float:
        return self.levels[0]

    # -- finished output

    def render(self, start: int, count: int) -> np.ndarray:
        """Finished samples: master gain applied and true peaks held under the ceiling."""
        margin = LIMITER_MARGIN
        bound = np.zeros(count + 2 * margin)
        x = self.premaster(start - margin, count + 2 * margin, bound=bound)
        gain = self.gain_at(start - margin, count + 2 * margin)
        if isinstance(gain, np.ndarray):
            x *= gain.astype(np.float32)[:, None]
        else:
            x *= np.float32(gain)
        ceiling = 10 ** (self.settings.ceiling_db / 20)
        y = limit(x, ceiling, bound * gain)[margin : margin + count]
        return np.clip(y, -1.0, 1.0)

    def gain_at(self, start: int, count: int) -> float | np.ndarray:
        """The master gain over samples [start, start + count)."""
        return self.master_gain if self.curve is None else self.curve.at(start, count)

    def blocks(self, size: int = RATE * 2, start: int = 0) -> Iterator[np.ndarray]:
        """The session from ``start`` to the end, ``size`` samples at a time."""
        for at in range(start, self.length, size):
            yield self.render(at, min(size, self.length - at))


def _add_at(target: np.ndarray, index: int, values: np.ndarray) -> None:
    end = min(len(target), index + len(values))
    if end > index:
        target[index:end] += values[: end - index]


# ---------------------------------------------------------------- limiter

LIMIT_RADIUS = int(0.004 * RATE)  # the gain moves over about 4 ms
LIMITER_MARGIN = 2 * LIMIT_RADIUS + 64  # covers the limiter's reach and the interpolation's


def limit(x: np.ndarray, ceiling: float, bound: np.ndarray | None = None) -> np.ndarray:
    """Hold true peaks under ``ceiling`` with a smooth look-ahead gain.

    Where ``bound`` (an upper bound of the true peak) is under the ceiling
    nothing needs measuring, which is almost everywhere.
    """
    if bound is not None and bound.max(initial=0.0) <= ceiling:
        return x
    gain = loudness.limiter_gain(sample_true_peaks(x, ceiling), ceiling, LIMIT_RADIUS)
    return (x * gain[:, None]).astype(np.float32)


def _true_peak(x: np.ndarray) -> float:
    return 10 ** (loudness.true_peak_db(x) / 20) if len(x) and np.any(x) else 0.0


def sample_true_peaks(x: np.ndarray, ceiling: float = 0.0) -> np.ndarray:
    """Per-sample true peak where it could reach ``ceiling``; sample magnitude elsewhere.

    Interpolation cannot more than double a peak, so only stretches from the
    first to the last sample at or above half the ceiling are oversampled, and
    within them only samples whose neighbours could interpolate over it. The
    rule depends on the ceiling, not on the block's loudest sample, so however
    a session is cut into blocks, every sample gets the same gain.
    """
    magnitude = loudness.row_peaks(x)
    loud = np.flatnonzero(magnitude >= ceiling / 2)
    if not len(loud):
        return magnitude
    a, b = max(0, int(loud[0]) - 16), min(len(x), int(loud[-1]) + 17)
    np.maximum(magnitude[a:b], loudness.interpolated_peaks(x[a:b], ceiling), out=magnitude[a:b])
    return magnitude
