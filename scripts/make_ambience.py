#!/usr/bin/env python3
"""Generate the bundled ambience beds into ``ambience/`` from code alone.

Why generate instead of recording: the beds ship inside the package, so their
licence must be ours beyond doubt, and a script with fixed seeds lets anyone
rebuild exactly the same files (``python scripts/make_ambience.py``).

Why everything is periodic by construction: a bed is looped for as long as a
session lasts, and any seam would be heard every minute or so. Noise is
synthesised in the FFT domain over exactly the loop length (so it is periodic),
slow modulations use whole numbers of cycles per loop, events (bubbles, drops,
notes) that run past the end wrap around to the start, and reverberation is a
circular convolution. The last sample therefore flows into the first one.

Output: Ogg Vorbis, 44.1 kHz stereo, plus ``manifest.json`` and ``LICENSE.md``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from voiceguide.ambience import decode
from voiceguide.loudness import hop_powers, integrated_loudness, true_peak_db

RATE = 44100
OUT_DIR = Path(__file__).resolve().parent.parent / "ambience"
BED_LUFS = -30.0  # beds sit at the same loudness; the mixer sets the final level
CHIME_LUFS = -24.0  # a cue meant to be heard over the bed, still soft
VORBIS_QUALITY = "3"  # ~110 kbit/s: transparent enough for noise beds, keeps files small
LICENCE = "CC0-1.0"

Shape = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- building blocks


def band(lo: float, hi: float, tilt: float = -0.5, order: int = 2) -> Shape:
    """Magnitude response of a soft band-pass with a spectral tilt (−0.5 = pink)."""

    def shape(f: np.ndarray) -> np.ndarray:
        f = np.maximum(f, 1.0)
        edges = (
            1.0 / np.sqrt(1.0 + (lo / f) ** (2 * order)) / np.sqrt(1.0 + (f / hi) ** (2 * order))
        )
        return edges * (f / 1000.0) ** tilt

    return shape


def periodic_noise(rng: np.random.Generator, n: int, shape: Shape) -> np.ndarray:
    """Noise with the given spectrum that repeats exactly every ``n`` samples (unit RMS)."""
    freqs = np.fft.rfftfreq(n, 1.0 / RATE)
    spec = rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)
    spec *= shape(freqs)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / np.sqrt(np.mean(x**2))


def stereo_noise(rng: np.random.Generator, n: int, shape: Shape, width: float) -> np.ndarray:
    """Two channels of periodic noise sharing a common part; ``width`` 0 = mono, 1 = wide."""
    mid = periodic_noise(rng, n, shape)
    side = periodic_noise(rng, n, shape)
    out = np.stack([mid + width * side, mid - width * side], axis=1)
    return out / np.sqrt(1.0 + width**2)


def slow_curve(
    rng: np.random.Generator, n: int, min_period: float, max_period: float
) -> np.ndarray:
    """A smooth random curve (unit std) made only of whole cycles per loop, so it is periodic."""
    seconds = n / RATE
    spec = np.zeros(n // 2 + 1, dtype=complex)
    lo = max(1, round(seconds / max_period))
    hi = max(lo, round(seconds / min_period))
    k = np.arange(lo, hi + 1)
    spec[k] = (rng.standard_normal(k.size) + 1j * rng.standard_normal(k.size)) / np.sqrt(k)
    x = np.fft.irfft(spec, n)
    return x / np.std(x)


def fft_filter(x: np.ndarray, shape: Shape) -> np.ndarray:
    """Filter a loop circularly (zero phase), so filtering keeps it periodic."""
    freqs = np.fft.rfftfreq(x.shape[0], 1.0 / RATE)
    spec = np.fft.rfft(x, axis=0) * shape(freqs)[:, None]
    return np.fft.irfft(spec, x.shape[0], axis=0)


def circular_reverb(rng: np.random.Generator, x: np.ndarray, rt60: float, wet: float) -> np.ndarray:
    """A soft room: circular convolution with decaying, darkened stereo noise."""
    n = x.shape[0]
    length = int(rt60 * RATE)
    t = np.arange(length) / RATE
    decay = np.exp(-6.91 * t / rt60) * (1.0 - np.exp(-t / 0.01))
    ir = np.zeros((n, 2))
    for ch in range(2):
        ir[:length, ch] = rng.standard_normal(length) * decay
    ir = fft_filter(ir, band(100.0, 3500.0, tilt=0.0))
    ir /= np.sqrt(np.sum(ir**2, axis=0))
    spec = np.fft.rfft(x, axis=0) * np.fft.rfft(ir, axis=0)
    return (1.0 - wet) * x + wet * np.fft.irfft(spec, n, axis=0)


def add_wrapped(buf: np.ndarray, event: np.ndarray, start: int) -> None:
    """Add ``event`` into the loop ``buf`` at ``start``; what runs past the end wraps around."""
    n = buf.shape[0]
    start %= n
    first = min(event.shape[0], n - start)
    buf[start : start + first] += event[:first]
    rest = event.shape[0] - first
    if rest:
        buf[:rest] += event[first:]


def pan(mono: np.ndarray, position: float) -> np.ndarray:
    """Constant-power pan: −1 left … +1 right."""
    angle = (position + 1.0) * np.pi / 4.0
    return np.stack([mono * np.cos(angle), mono * np.sin(angle)], axis=1)


def db(value: float | np.ndarray) -> float | np.ndarray:
    return 10.0 ** (np.asarray(value) / 20.0)


def midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


# --------------------------------------------------------------------------- loudness


def k_weighting() -> list[tuple[np.ndarray, np.ndarray]]:
    """BS.1770 K-weighting as two RBJ biquads (high shelf +4 dB at 1.5 kHz, high pass 38 Hz)."""
    w_shelf, w_hp = 2 * np.pi * 1500.0 / RATE, 2 * np.pi * 38.0 / RATE
    a = 10 ** (4.0 / 40)
    alpha, cos = np.sin(w_shelf) / (2 / np.sqrt(2)), np.cos(w_shelf)
    root = 2 * np.sqrt(a) * alpha
    shelf_b = a * np.array(
        [
            (a + 1) + (a - 1) * cos + root,
            -2 * ((a - 1) + (a + 1) * cos),
            (a + 1) + (a - 1) * cos - root,
        ]
    )
    shelf_a = np.array(
        [
            (a + 1) - (a - 1) * cos + root,
            2 * ((a - 1) - (a + 1) * cos),
            (a + 1) - (a - 1) * cos - root,
        ]
    )
    alpha, cos = np.sin(w_hp) / (2 * 0.5), np.cos(w_hp)
    hp_b = np.array([(1 + cos) / 2, -(1 + cos), (1 + cos) / 2])
    hp_a = np.array([1 + alpha, -2 * cos, 1 - alpha])
    return [(shelf_b, shelf_a), (hp_b, hp_a)]


def loudness(x: np.ndarray) -> float:
    """Ungated K-weighted loudness (LUFS-ish): good enough to line steady beds up."""
    from scipy.signal import lfilter

    y = x
    for b, a in k_weighting():
        y = lfilter(b, a, y, axis=0)
    return float(-0.691 + 10 * np.log10(np.sum(np.mean(y**2, axis=0)) + 1e-20))


def set_loudness(x: np.ndarray, target: float) -> np.ndarray:
    return x * db(target - loudness(x))


# --------------------------------------------------------------------------- river


def bubble(rng: np.random.Generator) -> np.ndarray:
    """One bubble/droplet: a resonant blip whose pitch rises as it decays (Minnaert-like)."""
    f0 = float(np.exp(rng.uniform(np.log(220.0), np.log(2400.0))))
    tau = rng.uniform(6.0, 25.0) / f0 + 0.004
    dur = 5.0 * tau
    t = np.arange(int(dur * RATE)) / RATE
    rise = rng.uniform(0.3, 1.6)
    freq = f0 * (1.0 + rise * t / dur)
    phase = 2 * np.pi * np.cumsum(freq) / RATE
    env = (1.0 - np.exp(-t / 0.0012)) * np.exp(-t / tau)
    env *= np.cos(0.5 * np.pi * t / dur) ** 2  # end at exactly zero
    return np.sin(phase) * env


def river_events(rng: np.random.Generator, n: int) -> np.ndarray:
    """Bubbling: many blips, clustered in time by a slow periodic rate curve."""
    out = np.zeros((n, 2))
    rate_curve = np.exp(0.9 * slow_curve(rng, n, 1.5, 8.0))
    max_rate, base = float(rate_curve.max()), 18.0
    candidates = rng.uniform(0, n, size=int(base * max_rate * n / RATE))
    for start in candidates.astype(int):
        if rng.uniform() * max_rate > rate_curve[start]:
            continue
        blip = bubble(rng) * np.exp(rng.normal(0.0, 0.7))
        add_wrapped(out, pan(blip, rng.uniform(-0.8, 0.8)), int(start))
    return out


def make_river(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Band-limited water noise whose level and colour wander, plus bubbling events."""
    n = int(seconds * RATE)
    low = stereo_noise(rng, n, band(150.0, 900.0), 0.5)
    mid = stereo_noise(rng, n, band(400.0, 3500.0), 0.6)
    high = stereo_noise(rng, n, band(2500.0, 7000.0, tilt=-1.0), 0.7)
    level = db(3.5 * slow_curve(rng, n, 2.0, 12.0))[:, None]
    bright = (0.5 + 0.5 * np.tanh(slow_curve(rng, n, 3.0, 15.0)))[:, None]
    wash = 0.7 * low + mid * (0.45 + 0.5 * bright) + high * 0.08 * bright
    body = wash * level
    events = river_events(rng, n)
    events *= 1.1 * np.std(body) / np.std(events)
    return body + events


# --------------------------------------------------------------------------- rain


def droplet(rng: np.random.Generator) -> np.ndarray:
    """A tiny click of a raindrop: a very short, bright, decaying resonance."""
    f = rng.uniform(1800.0, 6000.0)
    tau = rng.uniform(0.0004, 0.0022)
    t = np.arange(int(6 * tau * RATE) + 2) / RATE
    env = np.exp(-t / tau) * np.cos(0.5 * np.pi * t / t[-1]) ** 2
    return np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * env


def make_rain(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Steady soft rain: broadband hiss, a low patter, dense droplet clicks, a few near drops."""
    n = int(seconds * RATE)
    hiss = stereo_noise(rng, n, band(400.0, 6000.0, tilt=-0.5), 0.8)
    patter = stereo_noise(rng, n, band(90.0, 500.0), 0.5) * 0.5
    sway = db(1.0 * slow_curve(rng, n, 4.0, 20.0))[:, None]
    clicks = np.zeros((n, 2))
    for start in rng.uniform(0, n, size=int(350 * seconds)).astype(int):
        drop = droplet(rng) * np.exp(rng.normal(0.0, 0.8))
        add_wrapped(clicks, pan(drop, rng.uniform(-1, 1)), int(start))
    near = np.zeros((n, 2))
    for start in rng.uniform(0, n, size=int(2.5 * seconds)).astype(int):
        drop = bubble(rng) * np.exp(rng.normal(0.0, 0.5))
        add_wrapped(near, pan(drop, rng.uniform(-0.9, 0.9)), int(start))
    base = (hiss + patter) * sway
    clicks *= 0.9 * np.std(base) / np.std(clicks)
    near *= 0.25 * np.std(base) / np.std(near)
    return base + clicks + near


# --------------------------------------------------------------------------- ocean


def swell_envelope(
    n: int,
    starts: list[int],
    periods: list[int],
    rng: np.random.Generator,
    attack: float,
    tau: float,
) -> np.ndarray:
    """Stereo envelope of waves: a slow rise to the break, then a long wash (wraps around)."""
    env = np.zeros((n, 2))
    for start, period in zip(starts, periods, strict=True):
        rise, fall = int(attack * period), int(3.0 * tau * period)
        shape = np.concatenate(
            [
                np.sin(0.5 * np.pi * np.arange(rise) / rise) ** 2,
                np.exp(-np.arange(fall) / (tau * period))
                * np.cos(0.5 * np.pi * np.arange(fall) / fall),
            ]
        )
        gain = rng.uniform(0.7, 1.0)
        add_wrapped(env, pan(shape * gain, rng.uniform(-0.5, 0.5)) * np.sqrt(2), start)
    return env


def make_ocean(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Slow swells (8–12 s apart) whose wash brightens as each wave breaks."""
    n = int(seconds * RATE)
    periods_s = [10, 9, 11, 8, 12, 10, 9, 11]
    assert sum(periods_s) == seconds, "wave periods must tile the loop exactly"
    periods = [p * RATE for p in periods_s]
    starts = list(np.cumsum([0, *periods[:-1]]))
    surf_env = swell_envelope(n, starts, periods, rng, attack=0.55, tau=0.22)
    foam_env = swell_envelope(
        n,
        [s + int(0.45 * p) for s, p in zip(starts, periods, strict=True)],
        periods,
        rng,
        attack=0.12,
        tau=0.12,
    )
    rumble = stereo_noise(rng, n, band(40.0, 350.0, tilt=-1.0), 0.4)
    surf = stereo_noise(rng, n, band(200.0, 2500.0), 0.6)
    foam = stereo_noise(rng, n, band(1500.0, 10000.0, tilt=-0.3), 0.8)
    return rumble * (0.35 + 0.4 * surf_env) + surf * (0.1 + surf_env) + 0.5 * foam * foam_env


# --------------------------------------------------------------------------- music


def wavetable(f0: float, cutoff: float, size: int = 4096) -> np.ndarray:
    """One cycle of a soft, band-limited saw whose partials roll off above ``cutoff``."""
    k = np.arange(1, max(2, int(min(5000.0, RATE / 2.5) / f0)) + 1)
    amps = (1.0 / k) / (1.0 + (k * f0 / cutoff) ** 2)
    phase = np.arange(size) / size
    return np.sin(2 * np.pi * np.outer(phase, k)) @ amps


def oscillator(f0: float, length: int, cutoff: float, rng: np.random.Generator) -> np.ndarray:
    table = wavetable(f0, cutoff)
    cycles = (f0 * np.arange(length) / RATE + rng.uniform()) % 1.0
    pos = cycles * table.size
    i = pos.astype(int)
    frac = pos - i
    return table[i] * (1 - frac) + table[(i + 1) % table.size] * frac


def pad_note(
    midi: float, length: int, attack: int, release: int, cutoff: float, rng: np.random.Generator
) -> np.ndarray:
    """A warm note: three detuned voices spread left/centre/right, soft attack and release."""
    t = np.arange(length)
    env = np.ones(length)
    env[:attack] = np.sin(0.5 * np.pi * t[:attack] / attack) ** 2
    env[length - release :] = np.cos(0.5 * np.pi * np.arange(release) / release) ** 2
    out = np.zeros((length, 2))
    for cents, where in ((-7.0, -0.6), (0.0, 0.0), (7.0, 0.6)):
        voice = oscillator(midi_hz(midi + cents / 100), length, cutoff, rng)
        out += pan(voice * env, where)
    return out / 3.0


def pad_layer(
    rng: np.random.Generator, n: int, chords: list[list[int]], cutoff: float
) -> np.ndarray:
    """Chords of equal length tiling the loop; each release overlaps the next attack."""
    step = n // len(chords)
    attack, release = int(4.0 * RATE), int(6.0 * RATE)
    out = np.zeros((n, 2))
    for index, chord in enumerate(chords):
        for note in chord:
            voice = pad_note(note, step + release, attack, release, cutoff, rng)
            add_wrapped(out, voice / np.sqrt(len(chord)), index * step)
    return out


PAD_CHORDS = [
    [50, 57, 61, 64, 66],  # Dmaj9
    [47, 54, 57, 61, 62],  # Bm9
    [43, 50, 54, 57, 59],  # Gmaj9 (add 6)
    [45, 52, 57, 59, 64],  # Asus2
]


def make_pad(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Four slow, warm chords (16 s each), low-passed, with a slow breathing swell."""
    n = int(seconds * RATE)
    pad = pad_layer(rng, n, PAD_CHORDS, cutoff=700.0)
    pad = fft_filter(pad, band(60.0, 2200.0, tilt=0.0, order=3))
    breath = db(1.5 * slow_curve(rng, n, 6.0, 16.0))[:, None]
    return circular_reverb(rng, pad * breath, rt60=3.0, wet=0.35)


def bell(
    midi: float, velocity: float, rng: np.random.Generator, seconds: float = 7.0
) -> np.ndarray:
    """A soft bell/celesta-like note: pitched partials, the higher ones dying faster."""
    f0 = midi_hz(midi)
    t = np.arange(int(seconds * RATE)) / RATE
    partials = [
        (1.0, 1.0, 2.6),
        (2.0, 0.35, 1.2),
        (3.0, 0.12, 0.6),
        (4.16, 0.06, 0.4),
        (2.76, 0.05, 0.7),
    ]
    tone = np.zeros_like(t)
    for ratio, amp, tau in partials:
        if ratio * f0 < RATE / 2.5:
            tone += (
                amp * np.exp(-t / tau) * np.sin(2 * np.pi * ratio * f0 * t + rng.uniform(0, 6.3))
            )
    tone *= (1.0 - np.exp(-t / 0.006)) * np.cos(0.5 * np.pi * t / t[-1]) ** 0.5
    return tone * velocity


PENTATONIC = [62, 64, 66, 69, 71]  # D major pentatonic


def bell_melody(rng: np.random.Generator, seconds: float) -> list[tuple[float, int]]:
    """Sparse notes on a half-second grid: a gentle random walk over the pentatonic scale."""
    scale = [p + 12 * octave for octave in (0, 1) for p in PENTATONIC] + [86]
    notes, time, degree = [], 0.5, 4
    while time < seconds - 0.5:
        degree = int(np.clip(degree + rng.choice([-2, -1, -1, 1, 1, 2]), 0, len(scale) - 1))
        notes.append((time, scale[degree]))
        if rng.uniform() < 0.15:
            notes.append((time + 0.25, scale[max(0, degree - 2)]))
        time += float(rng.choice([1.5, 2.0, 2.5, 3.0, 4.0]))
    return notes


def make_bells(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Sparse pentatonic bell notes over a quiet pad, in a soft room."""
    n = int(seconds * RATE)
    out = np.zeros((n, 2))
    for time, note in bell_melody(rng, seconds):
        tone = bell(note, rng.uniform(0.55, 1.0), rng)
        add_wrapped(out, pan(tone, rng.uniform(-0.5, 0.5)), int(time * RATE))
    under = pad_layer(rng, n, [[50, 57, 62, 66], [43, 50, 57, 59]], cutoff=500.0)
    under *= 0.3 * np.std(out) / np.std(under)
    return circular_reverb(rng, out + under, rt60=2.5, wet=0.3)


def make_chime(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """One soft chime (not looped): gentle attack, long decay, two close partials that shimmer."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = midi_hz(81)  # A5
    partials = [
        (1.0, 1.0, 0.9),
        (1.004, 0.6, 0.9),
        (2.0, 0.3, 0.45),
        (3.01, 0.1, 0.25),
        (4.2, 0.05, 0.18),
    ]
    tone = sum(
        amp * np.exp(-t / tau) * np.sin(2 * np.pi * ratio * f0 * t) for ratio, amp, tau in partials
    )
    attack = np.clip(t / 0.02, 0.0, 1.0)
    tail = np.clip((seconds - t) / 0.4, 0.0, 1.0)
    tone = tone * np.sin(0.5 * np.pi * attack) ** 2 * np.sin(0.5 * np.pi * tail) ** 2
    return pan(tone, -0.15) + pan(tone, 0.15) * 0.9


# --------------------------------------------------------------------------- output


@dataclass(frozen=True)
class Recipe:
    name: str
    seconds: float
    seed: int
    make: Callable[[np.random.Generator, float], np.ndarray]
    description: str
    loop: bool = True


RECIPES = [
    Recipe(
        "river",
        75.0,
        1101,
        make_river,
        "A small river: moving water with bubbling and gurgling, slightly wide.",
    ),
    Recipe("rain", 60.0, 1202, make_rain, "Steady soft rain: fine droplets and a gentle hiss."),
    Recipe(
        "ocean",
        80.0,
        1303,
        make_ocean,
        "Slow ocean swells, one every 8–12 seconds, washing in and out.",
    ),
    Recipe("music-pad", 64.0, 1404, make_pad, "A slow, warm pad: four soft chords, no percussion."),
    Recipe(
        "music-bells",
        64.0,
        1505,
        make_bells,
        "Sparse soft bell notes (pentatonic) over a quiet pad.",
    ),
    Recipe(
        "chime",
        2.5,
        1606,
        make_chime,
        "One soft chime marking a change of step (not looped).",
        loop=False,
    ),
]


def encode_ogg(samples: np.ndarray, path: Path) -> None:
    """Encode float stereo to Ogg Vorbis with the bundled ffmpeg, reproducibly (bitexact)."""
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-nostdin",
        "-y",
        "-v",
        "error",
        "-f",
        "f32le",
        "-ar",
        str(RATE),
        "-ac",
        "2",
        "-i",
        "-",
        "-map_metadata",
        "-1",
        "-fflags",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        "-c:a",
        "libvorbis",
        "-q:a",
        VORBIS_QUALITY,
        str(path),
    ]
    data = np.ascontiguousarray(samples, dtype="<f4").tobytes()
    subprocess.run(cmd, input=data, check=True)


def render(recipe: Recipe) -> dict[str, object]:
    rng = np.random.default_rng(recipe.seed)
    audio = recipe.make(rng, recipe.seconds)
    audio = set_loudness(audio, BED_LUFS if recipe.loop else CHIME_LUFS)
    peak = float(np.max(np.abs(audio)))
    assert peak < 0.9, f"{recipe.name}: peak {peak:.2f} too close to clipping"
    path = OUT_DIR / f"{recipe.name}.ogg"
    encode_ogg(audio, path)
    print(
        f"{recipe.name:12s} {recipe.seconds:5.1f} s  peak {20 * np.log10(peak):6.1f} dBFS"
        f"  {path.stat().st_size / 1e6:5.2f} MB"
    )
    decoded = decode(path)  # measured as players (and the mixer) will hear it
    if recipe.loop:  # the mixer predicts a session's loudness from these, without scipy
        np.save(OUT_DIR / f"{recipe.name}.powers.npy", hop_powers(decoded, RATE))
    return {
        "name": recipe.name,
        "file": path.name,
        "description": recipe.description,
        "seconds": recipe.seconds,
        "licence": LICENCE,
        "loop": recipe.loop,
        "lufs": round(integrated_loudness(decoded, RATE), 2),
        "peak_dbtp": round(true_peak_db(decoded), 2),
    }


LICENSE_TEXT = """# Licence of the bundled ambience

Every file in this folder (`*.ogg`, `manifest.json`) was generated by
`scripts/make_ambience.py` in this repository, from code and fixed random seeds
only: no recordings, samples or third-party sounds were used.

The audio files are dedicated to the public domain under
**CC0 1.0 Universal** (https://creativecommons.org/publicdomain/zero/1.0/):
you may copy, modify and use them for any purpose without asking and without
attribution. The script that makes them is part of voiceguide and is under the
project's MIT licence (see `LICENSE` at the top of the repository).

To rebuild them bit for bit: `python scripts/make_ambience.py`.
"""


def main() -> None:
    OUT_DIR.mkdir(exist_ok=True)
    manifest = [render(recipe) for recipe in RECIPES]
    (OUT_DIR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (OUT_DIR / "LICENSE.md").write_text(LICENSE_TEXT)


if __name__ == "__main__":
    main()
