"""Long sentences cut into clauses for a neural voice, and the clauses joined again.

Why: a Piper model run holds the decoder's activations for its whole output at the
output rate, so a worker's memory follows the longest sentence it reads (about 20 MB
per second of speech over the loaded model: a 10-second sentence took a worker from
150 to 350 MB). A sentence over a length cap is made in pieces cut where a reader
pauses anyway, at clause punctuation (``,`` ``;`` ``:``; espeak turns a dash into
``;``), and the pieces are joined with the pause the voice makes there unsplit.

Pure functions on phoneme lists and sample arrays: no model, no I/O.
"""

from __future__ import annotations

import numpy as np

#: Phonemes after which a reader pauses inside a sentence (Piper keeps them as phonemes).
CLAUSE_MARKS = frozenset(",;:")
WORD_GAP = " "
#: A frame's peak below this fraction of the clip's peak is silence (-40 dB).
SILENCE = 0.01
FRAME_SECONDS = 0.005
#: Fade at a cut into a piece's own leftover silence, so no click remains.
FADE_SECONDS = 0.004


def split(phonemes: list[str], cap: int) -> list[list[str]]:
    """``phonemes`` (one sentence) in pieces of at most ``cap`` phonemes where possible.

    Cut at the clause mark nearest to the middle, the mark staying at the end of
    the first piece (so it keeps a clause's intonation), then each piece again
    while it is too long; a piece without a mark is cut at the word gap nearest to
    its middle. A piece without either stays whole, however long. A sentence of at
    most ``cap`` phonemes comes back as itself, untouched.
    """
    if len(phonemes) <= cap:
        return [phonemes]
    cut = _nearest_middle(phonemes, CLAUSE_MARKS)
    if cut is not None:
        first, rest = phonemes[: cut + 1], phonemes[cut + 1 :]
    else:
        cut = _word_cut(phonemes)
        if cut is None:
            return [phonemes]
        first, rest = phonemes[:cut], phonemes[cut + 1 :]
    while rest and rest[0] == WORD_GAP:
        rest = rest[1:]
    if not first or not rest:
        return [phonemes]
    return split(first, cap) + split(rest, cap)


def _nearest_middle(phonemes: list[str], marks: set[str] | frozenset[str]) -> int | None:
    """Index of the mark nearest to the middle, not the last phoneme (the sentence's end)."""
    middle = (len(phonemes) - 1) / 2
    places = [i for i, p in enumerate(phonemes[:-1]) if p in marks]
    return min(places, key=lambda i: (abs(i - middle), i)) if places else None


def _word_cut(phonemes: list[str]) -> int | None:
    """The word gap to cut a sentence without clause marks at: in its middle half, before
    a word that starts a phrase ("and", "until", "between"...) if there is one, else
    not after a word that leans on the next ("the", "of", "your"...), nearest the middle."""
    gaps = [i for i, p in enumerate(phonemes) if p == WORD_GAP]
    if not gaps:
        return None
    words = _words(phonemes)  # the word before each gap and after it
    n = len(phonemes)
    inner = [i for i in gaps if n / 4 <= i <= 3 * n / 4] or gaps
    middle = (n - 1) / 2
    for fits in (
        lambda i: words[i][1] in PHRASE_STARTS,
        lambda i: words[i][0] not in LEANING,
        lambda i: True,
    ):
        chosen = [i for i in inner if fits(i)]
        if chosen:
            return min(chosen, key=lambda i: (abs(i - middle), i))
    return None


def _words(phonemes: list[str]) -> dict[int, tuple[str, str]]:
    """For each word gap, the words on its two sides without stress marks."""
    text = "".join(phonemes)
    out: dict[int, tuple[str, str]] = {}
    for i, p in enumerate(phonemes):
        if p == WORD_GAP:
            before = text[:i].rsplit(" ", 1)[-1]
            after = text[i + 1 :].split(" ", 1)[0]
            out[i] = (_bare(before), _bare(after))
    return out


def _bare(word: str) -> str:
    return "".join(c for c in word if c not in "ˈˌʲ")


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


#: Words (espeak's English phonemes, stress marks dropped) a phrase starts with: a cut
#: before them falls where a reader may breathe. Conjunctions, "to", prepositions.
PHRASE_STARTS = _set(
    "ænd ɔːɹ ðɛn soʊ bʌt ʌntɪl wɪð wɪðaʊt bᵻfɔːɹ ɹæðɚ waɪl wɛn ɪf æz ɐz tə tʊ tuː "
    "ɪntʊ ɑːntʊ oʊvɚ fɹʌm fɹʌmðə bᵻtwiːn ɚɹaʊnd ɐlɔŋ əkɹɑːs æt ɪn ɪnðə ɔn ɔnðə "
    "bᵻsaɪd ʌndɚ ðæt wɪtʃ fɔːɹ θɹuː"
)
#: Words that lean on the next one: a cut after them splits a phrase.
LEANING = _set(
    "ðə ðɪ ɐ ə æn ʌv ʌvðə jʊɹ maɪ hɪz hɜː ðɛɹ ɪts ænd ɔːɹ tə tʊ wɪð ɪnðə ɔnðə fɹʌmðə "
    "ðɪs ðiːz ðoʊz iːtʃ wʌn sʌm æt ɪn ɔn fɔːɹ"
)


def words_from(phonemes: list[str], count: int) -> list[str]:
    """The whole words at the start of ``phonemes`` up to about ``count`` phonemes (at
    least one word), without a sentence's final mark."""
    out: list[str] = []
    for i, p in enumerate(phonemes):
        if p == WORD_GAP and i >= count:
            break
        out.append(p)
    while out and out[-1] in ".!?":
        out.pop()
    return out


def last_pause(audio: np.ndarray, rate: int, tail: float) -> tuple[int, int] | None:
    """(start, end) samples of the longest quiet of 60 ms or more that ends within the
    last ``tail`` seconds of the sound: the pause at a clause mark before the words that
    were added after it. None if there is none."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak <= 0.0:
        return None
    frame = max(1, round(FRAME_SECONDS * rate))
    n = len(audio) // frame * frame
    loud = np.abs(audio[:n]).reshape(-1, frame).max(axis=1) >= SILENCE * peak
    found = np.flatnonzero(loud)
    if not len(found):
        return None
    first, last = int(found[0]), int(found[-1])
    best: tuple[int, int] | None = None
    start = None
    for k in range(first, last + 1):
        if not loud[k] and start is None:
            start = k
        elif loud[k] and start is not None:
            long_enough = (k - start) * frame >= 0.06 * rate
            in_tail = (last - k) * frame <= tail * rate
            if long_enough and in_tail and (best is None or k - start > best[1] - best[0]):
                best = (start, k)
            start = None
    return None if best is None else (best[0] * frame, best[1] * frame)


def ends(pieces_audio: np.ndarray, rate: int, peak: float) -> tuple[int, int]:
    """First and last sample (exclusive) of sound in ``pieces_audio``: where a frame's
    peak reaches ``SILENCE`` of ``peak`` (the whole sentence's, so every piece is
    judged alike)."""
    frame = max(1, round(FRAME_SECONDS * rate))
    n = len(pieces_audio) // frame * frame
    loud = np.abs(pieces_audio[:n]).reshape(-1, frame).max(axis=1) >= SILENCE * peak
    if n < len(pieces_audio):
        loud = np.append(loud, np.abs(pieces_audio[n:]).max() >= SILENCE * peak)
    found = np.flatnonzero(loud)
    if not len(found):
        return 0, 0
    return int(found[0]) * frame, min(len(pieces_audio), (int(found[-1]) + 1) * frame)


def join(pieces: list[np.ndarray], gaps: list[int], rate: int) -> np.ndarray:
    """The pieces of one sentence joined so that the quiet between piece ``i`` and
    ``i + 1`` lasts ``gaps[i]`` samples.

    Each side keeps up to half the gap of its own quiet (the breath out of the
    last sound, the breath in of the next), the rest is made of zeros; where a
    piece's own quiet is longer it is cut with a short fade. Silence is judged
    against the loudest piece, so the sentence's own level decides.
    """
    peak = max(float(np.max(np.abs(p))) if len(p) else 0.0 for p in pieces)
    if peak <= 0.0:
        return np.concatenate(pieces)
    fade = max(1, round(FADE_SECONDS * rate))
    bounds = [ends(p, rate, peak) for p in pieces]
    out: list[np.ndarray] = []
    tail = 0  # quiet kept at the end of the previous piece
    for i, piece in enumerate(pieces):
        first_sound, last_sound = bounds[i]
        head = min(first_sound, gaps[i - 1] // 2) if i > 0 else first_sound
        part = piece[first_sound - head :]
        if i < len(pieces) - 1:
            keep = min(len(piece) - last_sound, gaps[i] - gaps[i] // 2)
            part = piece[first_sound - head : last_sound + keep].copy()
            if last_sound + keep < len(piece):
                _fade(part[len(part) - min(fade, keep) :], rising=False)
        if i > 0:
            if head < first_sound:
                part = part.copy()
                _fade(part[: min(fade, head)], rising=True)
            out.append(np.zeros(max(0, gaps[i - 1] - tail - head), dtype=piece.dtype))
        out.append(part)
        tail = min(len(piece) - last_sound, gaps[i] - gaps[i] // 2) if i < len(gaps) else 0
    return np.concatenate(out)


def _fade(part: np.ndarray, *, rising: bool) -> None:
    """Fade ``part`` (a view) in place, from or to nothing."""
    if len(part):
        ramp = np.linspace(0.0, 1.0, len(part) + 1, dtype=part.dtype)[1:]
        part *= ramp if rising else ramp[::-1]
