"""The glanceable display of live mode.

The person reading it has oily hands on a partner's back and looks at the
screen from a metre away for half a second, so the layout puts the step title
in a large block font, shows the time left in big digits when there is room,
and degrades line by line (key help, detail, next step, big title) rather than
ever overflowing a small terminal.

``render_lines`` is pure and testable; ``Screen`` paints it on a real terminal
without flicker; ``PlainLog`` is for output that is not a terminal (a log file,
a pipe), where a redrawn screen would be noise.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TextIO

from voiceguide.textsafe import printable
from voiceguide.times import format_clock, format_duration

__all__ = [
    "GLYPHS",
    "PlainLog",
    "Screen",
    "View",
    "big_text",
    "render_lines",
    "visible_width",
]


@dataclass(frozen=True)
class View:
    """Everything the display needs for one frame; the player builds one per tick."""

    title: str
    step_number: int | None
    step_count: int
    instruction: str
    detail: str = ""
    step_left: float = 0.0
    elapsed: float = 0.0
    duration: float = 0.0
    next_title: str | None = None
    paused: bool = False
    volume_db: float = 0.0
    message: str = ""
    side: str | None = None
    repetition: tuple[int, int] | None = None  # (this one, of how many)
    said: str = ""  # the reminder or caution said last: what to keep in mind
    waiting: str = ""  # set while the session holds for a key: what to press
    fault: str = ""  # what could not be said, if anything
    warnings: tuple[str, ...] = ()  # printed before the session: kept readable here


# --------------------------------------------------------------------------
# The block font: 5 pixel rows per glyph, drawn as 3 text rows of half blocks.
# Glyphs have no blank first or last column, so text can be decoded again.

GLYPHS: dict[str, tuple[str, ...]] = {
    "A": (".#.", "#.#", "###", "#.#", "#.#"),
    "B": ("##.", "#.#", "##.", "#.#", "##."),
    "C": (".##", "#..", "#..", "#..", ".##"),
    "D": ("##.", "#.#", "#.#", "#.#", "##."),
    "E": ("###", "#..", "##.", "#..", "###"),
    "F": ("###", "#..", "##.", "#..", "#.."),
    "G": (".##", "#..", "#.#", "#.#", ".##"),
    "H": ("#.#", "#.#", "###", "#.#", "#.#"),
    "I": ("###", ".#.", ".#.", ".#.", "###"),
    "J": ("..#", "..#", "..#", "#.#", ".#."),
    "K": ("#.#", "#.#", "##.", "#.#", "#.#"),
    "L": ("#..", "#..", "#..", "#..", "###"),
    "M": ("#...#", "##.##", "#.#.#", "#...#", "#...#"),
    "N": ("#..#", "##.#", "#.##", "#..#", "#..#"),
    "O": (".#.", "#.#", "#.#", "#.#", ".#."),
    "P": ("##.", "#.#", "##.", "#..", "#.."),
    "Q": (".#.", "#.#", "#.#", "##.", ".##"),
    "R": ("##.", "#.#", "##.", "#.#", "#.#"),
    "S": (".##", "#..", ".#.", "..#", "##."),
    "T": ("###", ".#.", ".#.", ".#.", ".#."),
    "U": ("#.#", "#.#", "#.#", "#.#", "###"),
    "V": ("#.#", "#.#", "#.#", "#.#", ".#."),
    "W": ("#...#", "#...#", "#.#.#", "##.##", "#...#"),
    "X": ("#.#", "#.#", ".#.", "#.#", "#.#"),
    "Y": ("#.#", "#.#", ".#.", ".#.", ".#."),
    "Z": ("###", "..#", ".#.", "#..", "###"),
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("##.", "..#", ".#.", "#..", "###"),
    "3": ("##.", "..#", ".#.", "..#", "##."),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "##.", "..#", "##."),
    "6": (".##", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "##."),
    " ": ("..", "..", "..", "..", ".."),
    "-": ("...", "...", "###", "...", "..."),
    "'": ("#", "#", ".", ".", "."),
    ",": ("..", "..", "..", ".#", "#."),
    ".": (".", ".", ".", ".", "#"),
    "&": (".#..", "#.#.", ".##.", "#..#", ".###"),
    ":": (".", "#", ".", "#", "."),
    "?": ("##.", "..#", ".#.", "...", ".#."),
    "!": ("#", "#", "#", ".", "#"),
    "/": ("..#", "..#", ".#.", "#..", "#.."),
    "(": (".#", "#.", "#.", "#.", ".#"),
    ")": ("#.", ".#", ".#", ".#", "#."),
}

# Typographic characters a routine author is likely to type, drawn with what we have.
_ALIASES = {"’": "'", "‘": "'", "`": "'", "–": "-", "—": "-", "…": "..."}

_HALF = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def _glyph_text(text: str) -> str | None:
    """Upper-case ``text`` and map look-alikes; None if a character has no glyph."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    mapped = "".join(_ALIASES.get(c, c) for c in plain).upper()
    return mapped if all(c in GLYPHS for c in mapped) else None


def _pixels(text: str) -> list[str]:
    """Five rows of '#'/'.' for ``text`` (already glyph-safe), one blank column between glyphs."""
    rows = ["", "", "", "", ""]
    for index, char in enumerate(text):
        for r, glyph_row in enumerate(GLYPHS[char]):
            rows[r] += ("." if index else "") + glyph_row
    return rows


def big_text(text: str, scale: int = 1) -> list[str] | None:
    """``text`` as half-block art (3 lines, or 5·scale//2+1 at ``scale``), None if undrawable."""
    safe = _glyph_text(text)
    if safe is None:
        return None
    pixels = ["".join(c * scale for c in row) for row in _pixels(safe) for _ in range(scale)]
    rows = pixels + ["." * len(pixels[0])] * (len(pixels) % 2)
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2], strict=True):
        lines.append("".join(_HALF[(t == "#", b == "#")] for t, b in zip(top, bottom, strict=True)))
    return [line.rstrip() for line in lines]


def _big_width(text: str, scale: int = 1) -> int:
    """Cells ``text`` takes in the big font (call only for drawable text)."""
    return len(_pixels(_glyph_text(text) or "")[0]) * scale


def _wrap_big(title: str, width: int, max_lines: int = 2, scale: int = 1) -> list[str] | None:
    """Split ``title`` by words into at most ``max_lines`` big lines that each fit ``width``."""
    if _glyph_text(title) is None:
        return None
    lines: list[str] = []
    for word in title.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and _big_width(candidate, scale) <= width:
            lines[-1] = candidate
        elif _big_width(word, scale) <= width:
            lines.append(word)
        else:
            return None
    if not lines or len(lines) > max_lines:
        return None
    return [row for line in lines for row in big_text(line, scale) or []]


# --------------------------------------------------------------------------
# Text measuring: what matters is terminal cells, not code points.

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def visible_width(line: str) -> int:
    """Terminal cells ``line`` occupies, ignoring ANSI styles (wide CJK characters count 2)."""
    return sum(_cells(c) for c in _ANSI.sub("", line))


def _clean(text: str) -> str:
    """One line of printable text: a stray escape in a routine must not reach the terminal."""
    return " ".join(printable(text).split())


def _cut(text: str, width: int) -> str:
    """The longest prefix of ``text`` within ``width`` cells (at least one character)."""
    out, used = "", 0
    for char in text:
        if out and used + _cells(char) > width:
            break
        out += char
        used += _cells(char)
    return out


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells, ending in … when cut."""
    if visible_width(text) <= width:
        return text
    head = _cut(text, width - 1)
    return head + "…" if visible_width(head) < width else "…"[:width]


def _wrap(text: str, width: int) -> list[str]:
    """Word-wrap by cells; a word longer than a line is cut into pieces."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        joined = f"{current} {word}" if current else word
        if visible_width(joined) <= width:
            current = joined
            continue
        if current:
            lines.append(current)
        while visible_width(word) > width:
            head = _cut(word, width)
            lines.append(head)
            word = word[len(head) :]
        current = word
    lines = [*lines, current] if current else lines
    return [_fit(line, width) for line in lines]  # a wide character in a 1-cell terminal


def _truncate_lines(lines: list[str], count: int, width: int) -> list[str]:
    """The first ``count`` lines, the last one marked with … if anything was left out."""
    if count >= len(lines):
        return lines
    if count <= 0:
        return []
    kept = lines[:count]
    kept[-1] = _fit(kept[-1] + " …", width)
    return kept


# --------------------------------------------------------------------------
# Styles

_BOLD, _DIM, _INVERSE, _RESET = "\x1b[1m", "\x1b[2m", "\x1b[7m", "\x1b[0m"
_CYAN, _GREEN, _YELLOW, _RED = "\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[31m"


def _style(text: str, codes: str, color: bool) -> str:
    return f"{codes}{text}{_RESET}" if color and text else text


# --------------------------------------------------------------------------
# Layout: a plan says which optional parts are shown; we degrade plan by plan.


@dataclass(frozen=True)
class _Plan:
    time_scale: int = 2
    title_scale: int = 2
    status: bool = True
    spacers: bool = True
    help: bool = True
    big_time: bool = True
    detail: bool = True
    next: bool = True
    big_title: bool = True
    min_instruction: int = 3
    progress: bool = True
    step: bool = True
    extras: bool = True  # volume and message
    time: bool = True


# In order: the first change is made first, i.e. what matters least goes first.
_DEGRADE: tuple[dict[str, object], ...] = (
    {"time_scale": 1},
    {"title_scale": 1},
    {"spacers": False},
    {"help": False},
    {"detail": False},
    {"next": False},
    {"progress": False},
    {"min_instruction": 1},
    {"big_time": False},  # the title and the time left stay large as long as possible
    {"big_title": False},
    {"step": False},
    {"extras": False},
    {"min_instruction": 0},
    {"status": False},
    {"time": False},
)


def _plans() -> Iterator[_Plan]:
    plan = _Plan()
    yield plan
    for change in _DEGRADE:
        plan = replace(plan, **change)  # type: ignore[arg-type]
        yield plan


_HELP_VARIANTS = (
    "space pause · → next · ← back · N/B step · r repeat · +/- 30s · ↑↓ volume · q quit",
    "space pause · → next · ← back · r repeat · +/- 30s · ↑↓ vol · q quit",
    "spc pause → next ← back r repeat +/- 30s ↑↓ vol q quit",
    "space pause · → next · ← back · q quit",
    "space pause · → next · q quit",
    "space pause · q quit",
)


def _help_line(width: int, color: bool) -> str:
    text = next((v for v in _HELP_VARIANTS if visible_width(v) <= width), _HELP_VARIANTS[-1])
    return _style(_fit(text, width), _DIM, color)


def _title_lines(view: View, width: int, plan: _Plan, color: bool) -> list[str]:
    title = _clean(view.title) or "…"
    big = None
    if plan.big_title and plan.title_scale > 1:  # one line at double size, when it fits
        big = _wrap_big(title, width, max_lines=1, scale=plan.title_scale)
    if plan.big_title and big is None:
        big = _wrap_big(title, width)
    if big:
        return [_style(line, _BOLD + _CYAN, color) for line in big]
    return [_style(_fit(title, width), _BOLD + _CYAN, color)]


def _where(view: View) -> str:
    """Step, side and repetition in one short phrase: "Step 2 of 5 · LEFT SIDE · 3 of 6"."""
    parts = [f"Step {view.step_number} of {view.step_count}"] if view.step_number else []
    if view.side:
        parts.append(f"{_clean(view.side).upper()} SIDE")
    if view.repetition:
        parts.append(f"{view.repetition[0]} of {view.repetition[1]}")
    return " · ".join(parts)


def _step_lines(view: View, width: int, plan: _Plan, color: bool) -> list[str]:
    step = _where(view)
    detail = _clean(view.detail) if plan.detail else ""
    step_s = _style(_fit(step, width), _BOLD, color)
    if step and detail and visible_width(f"{step}  ·  {detail}") <= width:
        return [f"{step_s}{_style('  ·  ' + detail, _DIM, color)}"]
    lines = [step_s] if step else []
    return [*lines, _style(_fit(detail, width), _DIM, color)] if detail else lines


def _time_lines(view: View, width: int, plan: _Plan, color: bool) -> list[str]:
    if view.waiting:  # holding for the giver: no clock runs down
        return [_style(_fit(view.waiting.upper(), width).center(width), _INVERSE + _BOLD, color)]
    clock = format_clock(math.ceil(max(0.0, view.step_left)))
    scale = plan.time_scale if plan.big_time else 0
    while scale and _big_width(clock, scale) + len("  left") > width:
        scale -= 1
    big = big_text(clock, scale) if scale else None
    if big:
        big[-1] = big[-1].ljust(_big_width(clock, scale)) + _style("  left", _DIM, color)
        return [_style(line, _BOLD, color) for line in big[:-1]] + [big[-1]]
    return [_style(_fit(f"{clock} left", width), _BOLD, color)]


def _progress_line(view: View, width: int, color: bool) -> str:
    label = f"{format_clock(view.elapsed)} / {format_clock(view.duration)}"
    bar_width = min(width - len(label) - 1, 60)
    if bar_width < 5:
        return _fit(label, width)
    fraction = min(1.0, max(0.0, view.elapsed / view.duration)) if view.duration > 0 else 0.0
    filled = round(fraction * bar_width)
    bar = _style("█" * filled, _GREEN, color) + _style("░" * (bar_width - filled), _DIM, color)
    return f"{bar} {label}"


def _paused_line(width: int, color: bool) -> str:
    text = "PAUSED · space to resume" if width >= 30 else "PAUSED"
    if color:
        return _style(_fit(text, width).center(width), _INVERSE + _BOLD, color)
    return _fit(f"** {text} **", width)


def _extra_lines(view: View, width: int, color: bool) -> list[str]:
    lines = []
    volume = round(view.volume_db, 1)
    if volume:
        lines.append(_fit(f"volume {volume:+g} dB", width))
    message = _clean(view.message)
    if message:
        lines.append(_style(_fit(message, width), _YELLOW, color))
    if view.fault:
        lines.append(_style(_fit(f"! {_clean(view.fault)}", width), _RED + _BOLD, color))
    for warning in view.warnings:
        lines.append(_style(_fit(f"warning: {_clean(warning)}", width), _YELLOW, color))
    return lines


def _head(view: View, width: int, plan: _Plan, color: bool) -> list[str]:
    """Everything above the instruction."""
    lines = _title_lines(view, width, plan, color)
    if plan.step:
        lines += _step_lines(view, width, plan, color)
    return lines


def _tail(view: View, width: int, plan: _Plan, color: bool) -> list[str]:
    """Everything below the instruction except the key help."""
    lines = _time_lines(view, width, plan, color) if plan.time else []
    if plan.progress:
        lines.append(_progress_line(view, width, color))
    if plan.next and view.said:
        lines.append(_style(_fit(f"“{_clean(view.said)}”", width), _YELLOW, color))
    if plan.next and view.next_title:
        lines.append(_fit(f"next: {_clean(view.next_title)}", width))
    if view.paused:
        lines.append(_paused_line(width, color))
    if plan.extras:
        lines += _extra_lines(view, width, color)
    return lines


def _compose(view: View, width: int, height: int, plan: _Plan, color: bool) -> list[str] | None:
    """The frame under ``plan``, or None if it cannot fit ``height``."""
    head, tail = _head(view, width, plan, color), _tail(view, width, plan, color)
    instruction = _wrap(_clean(view.instruction), width)
    gap = [""] if plan.spacers else []
    if instruction:
        head, tail = head + gap, gap + tail
    bottom = [_help_line(width, color)] if plan.help else []
    if plan.status:
        bottom.append(_style(_fit(status_text(view), width), _DIM, color))
    fixed = len(head) + len(tail) + len(bottom)
    if fixed + min(plan.min_instruction, len(instruction)) > height:
        return None
    shown = _truncate_lines(instruction, height - fixed, width)
    padding = [""] * (height - fixed - len(shown)) if bottom else []
    return head + shown + tail + padding + bottom


def render_lines(view: View, width: int, height: int, color: bool = True) -> list[str]:
    """The lines of one frame: at most ``height`` lines, none wider than ``width`` cells.

    Optional parts are dropped least-important first (spacing, key help, big
    digits, detail, next step, big title) so the title and time left survive
    on the smallest terminal.
    """
    width = max(width, 1)
    if height <= 0:
        return []
    if view.paused:
        return _paused_frame(view, width, height, color)
    for plan in _plans():
        lines = _compose(view, width, height, plan, color)
        if lines is not None:
            return lines
    return (_title_lines(view, width, replace(plan, big_title=False), color))[:height]


def _paused_frame(view: View, width: int, height: int, color: bool) -> list[str]:
    """PAUSED as large as the terminal allows, centred, with where we are and how to go on."""
    left = format_clock(math.ceil(max(0.0, view.step_left)))
    under = [
        _style(_fit(_clean(view.title), width).center(width), _BOLD, color),
        _fit(f"{left} left · space to resume", width).center(width),
    ]
    status = [_style(_fit(status_text(view), width), _DIM, color)]
    room = height - len(under) - len(status)
    scale = 3
    while scale and (_big_width("PAUSED", scale) > width or 5 * scale // 2 + 1 > room - 1):
        scale -= 1
    big = [line.center(width) for line in big_text("PAUSED", scale) or []] if scale else []
    body = [_style(line, _BOLD + (_YELLOW if color else ""), color) for line in big]
    body = body or [_paused_line(width, color)]
    body += ["", *under] if len(body) + 1 + len(under) + len(status) <= height else under
    top = max(0, (height - len(body) - len(status)) // 2)
    lines = [""] * top + body
    lines = lines[: height - len(status)]
    return lines + [""] * (height - len(lines) - len(status)) + status


def status_text(view: View) -> str:
    """Every fact on the screen in plain words, for screen readers, logs and tests."""
    parts = ["PAUSED, space to resume"] if view.paused else []
    where = _where(view).replace(" · ", ", ")
    title = _clean(view.title)
    parts.append(f"{where}: {title}" if where else title)
    if view.paused:
        pass
    elif view.waiting:
        if view.step_number is None and view.instruction:  # the checklist before the start
            parts.append(_clean(view.instruction))
        parts.append(f"waiting: {view.waiting}")
    else:
        parts.append(f"{format_duration(math.ceil(max(0.0, view.step_left)))} left")
    if view.said:
        parts.append(f"said: {_clean(view.said)}")
    if view.next_title:
        parts.append(f"next: {_clean(view.next_title)}")
    if view.fault:
        parts.append(_clean(view.fault))
    if view.message and not view.paused:
        parts.append(_clean(view.message))
    return ". ".join(p.rstrip(".") for p in parts) + "."


_SGR = re.compile(r"\x1b\[[0-9;]*m")
_NIGHT = "\x1b[0;2;31m"  # dim red: readable in a dark room, does not light it up


def night(line: str) -> str:
    """One palette for a dark room: every style becomes dim red, no inverse, no bright."""
    if not line:
        return line
    return _NIGHT + _SGR.sub(_NIGHT, line) + _RESET


# --------------------------------------------------------------------------
# Sinks


_ENTER = "\x1b[?1049h\x1b[?25l\x1b[2J"
_EXIT = "\x1b[0m\x1b[?25h\x1b[?1049l"
_HOME, _ERASE_LINE, _ERASE_BELOW, _CLEAR = "\x1b[H", "\x1b[K", "\x1b[J", "\x1b[2J"


class Screen:
    """A full-screen display on a real terminal, redrawn in place.

    Uses the alternate screen so the user's shell scroll-back is untouched,
    and overwrites lines in place (no clear per frame) so nothing flickers.
    """

    def __init__(
        self, stream: TextIO | None = None, color: bool | None = None, night: bool = False
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.color = not os.environ.get("NO_COLOR") if color is None else color
        self.night = night
        self._last: tuple[os.terminal_size, str] | None = None
        self._title = ""

    def __enter__(self) -> Screen:
        self._write(_ENTER)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._write(_EXIT)

    def draw(self, view: View) -> None:
        """Paint ``view``; writes nothing if the frame is what is already on screen."""
        size = shutil.get_terminal_size()
        lines = render_lines(view, size.columns, size.lines, self.color or self.night)
        if self.night:
            lines = [night(line) for line in lines]
        frame = _frame(lines, size.columns, size.lines)
        title = status_text(view)
        if self._last is not None and self._last == (size, frame) and title == self._title:
            return
        resized = self._last is not None and self._last[0] != size
        self._last = (size, frame)
        if title != self._title:  # the whole status, uncut, in the title: screen readers, tmux
            self._title = title
            frame = f"\x1b]2;voiceguide: {_clean(title)}\x07" + frame
        self._write((_CLEAR if resized else "") + frame)

    def _write(self, text: str) -> None:
        """Write now; a terminal that was closed (EIO after a hang-up) is not an error."""
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass


def _frame(lines: list[str], width: int, height: int) -> str:
    """Cursor home, the lines, each line's rest erased, and everything below erased.

    A line exactly ``width`` wide leaves the cursor in the pending-wrap state on
    the last column, where erase-to-end would wipe the last character; such a
    line needs no erase anyway.
    """
    parts = [_HOME]
    for index, line in enumerate(lines):
        if index:
            parts.append("\r\n")
        parts.append(line if visible_width(line) >= width else line + _ERASE_LINE)
    if len(lines) < height:
        parts.append(("\r\n" if lines else "") + _ERASE_BELOW)
    return "".join(parts)


class PlainLog:
    """The display when output is not a terminal: one line per event, for logs and pipes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self._step: tuple[object, ...] | None = None
        self._elapsed = 0.0

    def __enter__(self) -> PlainLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def draw(self, view: View) -> None:
        """Print the status line whenever a fact changes (not for the clock ticking down)."""
        self._elapsed = view.elapsed
        facts = (view.step_number, view.title, view.side, view.repetition, view.said,
                 view.next_title, view.paused, view.waiting, view.fault, view.message)  # fmt: skip
        if facts != self._step:
            self._step = facts  # type: ignore[assignment]
            self.note(status_text(view))

    def note(self, text: str) -> None:
        """Print one time-stamped line now, e.g. ``note("quit")``."""
        try:
            self.stream.write(f"[{format_clock(self._elapsed)}] {_clean(text)}\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe or terminal: the session goes on, unlogged
