"""The live display: fits any terminal, reads from a metre away, redraws without flicker."""

from __future__ import annotations

import io
import re

import pytest

from voiceguide.screen import GLYPHS, PlainLog, Screen, View, big_text, render_lines

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

LONG = (
    "Grasp the top of the shoulders between thumb and fingers and knead slowly, "
    "like bread dough, working from the neck out to the tip of the shoulder and back. "
    "Ask how the pressure feels and adjust."
)


def view(**changes: object) -> View:
    base = {
        "title": "Knead the shoulders",
        "step_number": 3,
        "step_count": 9,
        "instruction": LONG,
        "detail": "petrissage · medium pressure · left side",
        "step_left": 150.0,
        "elapsed": 205.0,
        "duration": 1800.0,
        "next_title": "Circles",
    }
    base.update(changes)
    return View(**base)  # type: ignore[arg-type]


def plain(lines: list[str]) -> list[str]:
    return [ANSI.sub("", line) for line in lines]


def decode_big(rows: list[str]) -> str:
    """Read big half-block text back into characters, using the font itself."""
    top = {" ": (0, 0), "▀": (1, 0), "▄": (0, 1), "█": (1, 1)}
    width = max(len(r) for r in rows)
    pixels: list[str] = []
    for row in rows:
        halves = [top[c] for c in row.ljust(width)]
        pixels.append("".join("#" if t else "." for t, _ in halves))
        pixels.append("".join("#" if b else "." for _, b in halves))
    pixels = pixels[:5]
    by_bitmap = {glyph: char for char, glyph in GLYPHS.items() if char != " "}
    text, column, blanks = "", 0, 0
    while column < width:
        if all(p[column] == "." for p in pixels):
            blanks += 1
            column += 1
            continue
        if blanks > 1:
            text += " "
        blanks, end = 0, column
        while end < width and any(p[end] == "#" for p in pixels):
            end += 1
        text += by_bitmap[tuple(p[column:end] for p in pixels)]
        column = end
    return text


SIZES = [(w, h) for w in (30, 50, 80, 132) for h in (8, 15, 40)]


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("paused", [False, True])
def test_every_size_fits_and_keeps_the_essentials(width: int, height: int, paused: bool) -> None:
    for color in (True, False):
        v = view(paused=paused, volume_db=-6.0, message="+30 s on this step")
        lines = render_lines(v, width, height, color=color)
        text = plain(lines)
        assert len(lines) <= height
        assert all(len(line) <= width for line in text), text
        joined = "\n".join(text)
        big = [line for line in text if set(line) & set("▀▄█") and "░" not in line]
        assert "Knead the shoulders" in joined or decode_big(big[:3]).startswith("KNEAD")
        assert "02:30 left" in joined or "left" in joined  # big digits + "left"
        assert ("PAUSED" in joined) == paused


def test_time_left_is_formatted_as_minutes_and_seconds() -> None:
    text = plain(render_lines(view(step_left=75.2), 50, 8, color=False))
    assert "01:16 left" in text  # rounds up: a countdown never shows 0 too early


def test_big_digits_for_time_left_when_there_is_room() -> None:
    lines = plain(render_lines(view(instruction="Glide.", step_left=150), 80, 15, color=False))
    last = next(i for i, line in enumerate(lines) if line.endswith("left"))
    rows = lines[last - 2 : last + 1]
    assert decode_big([r.removesuffix("  left") for r in rows]) == "02:30"


def test_time_left_is_twice_as_large_on_a_big_terminal() -> None:
    """At 100x30 the digits are drawn at double size: full blocks, two cells per pixel."""
    lines = plain(render_lines(view(instruction="Glide.", step_left=150), 100, 30, color=False))
    last = next(i for i, line in enumerate(lines) if line.endswith("left"))
    rows = [r.removesuffix("  left") for r in lines[last - 4 : last + 1]]
    halved = [r[::2] for r in rows]  # one cell per pixel, one text row per pixel row
    pixels = ["".join("#" if c == "█" else "." for c in r) for r in halved]
    as_half_blocks = []
    for top, bottom in zip(pixels[0::2], [*pixels[1::2], ""], strict=True):
        bottom = bottom.ljust(len(top), ".")
        as_half_blocks.append("".join(
            {("#", "#"): "█", ("#", "."): "▀", (".", "#"): "▄"}.get((a, b), " ")
            for a, b in zip(top.ljust(len(bottom), "."), bottom, strict=True)
        ))  # fmt: skip
    assert decode_big(as_half_blocks) == "02:30"


def test_big_title_reads_back() -> None:
    lines = plain(render_lines(view(title="Knead the shoulders"), 80, 40, color=False))
    assert decode_big(lines[:3]) == "KNEAD THE SHOULDERS"


def test_long_title_wraps_into_two_big_lines_then_falls_back_to_small() -> None:
    lines = plain(render_lines(view(title="Knead the shoulders"), 50, 40, color=False))
    assert decode_big(lines[:3]) == "KNEAD THE"
    assert decode_big(lines[3:6]) == "SHOULDERS"
    small = plain(render_lines(view(title="Thumb circles along the spine muscles"), 30, 40))
    assert small[0] == "Thumb circles along the spine…"


def test_no_color_means_no_escape_codes() -> None:
    lines = render_lines(view(paused=True, message="skipped"), 80, 40, color=False)
    assert not any("\x1b" in line for line in lines)


def test_tiny_height_drops_help_detail_next_but_keeps_step_and_time() -> None:
    lines = plain(render_lines(view(), 80, 8))[:-1]  # the status line says it all
    text = "\n".join(lines)
    assert "q quit" not in text and "petrissage" not in text and "next:" not in text
    assert decode_big(lines[:3]) == "KNEAD THE SHOULDERS"  # the title stays large
    assert "Step 3 of 9" in text and "02:30 left" in text


def test_at_40x12_both_the_title_and_the_time_left_stay_large() -> None:
    lines = plain(render_lines(view(title="Kneading", step_left=83), 40, 12, color=False))
    assert decode_big(lines[:3]) == "KNEADING"
    last = next(i for i, line in enumerate(lines) if line.endswith("left"))
    assert decode_big([r.removesuffix("  left") for r in lines[last - 2 : last + 1]]) == "01:23"


def test_font_glyphs_are_five_rows_and_all_different() -> None:
    for char, glyph in GLYPHS.items():
        assert len(glyph) == 5, char
        assert len({len(row) for row in glyph}) == 1, char
        assert set("".join(glyph)) <= {"#", "."}
    bitmaps = [glyph for char, glyph in GLYPHS.items() if char != " "]
    assert len(set(bitmaps)) == len(bitmaps)
    for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -',.&:?!":
        assert char in GLYPHS


def test_big_text_maps_lower_case_and_refuses_unknown_characters() -> None:
    rows = big_text("Hello, 3 & 4?")
    assert rows is not None and len(rows) == 3
    assert decode_big(rows) == "HELLO, 3 & 4?"
    assert big_text("a/b") == big_text("A/B")
    assert big_text("Cœur ♥") is None


def test_screen_enters_skips_identical_frames_and_restores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setenv("LINES", "20")
    out = io.StringIO()
    with Screen(out, color=True) as screen:
        screen.draw(view())
        first = out.getvalue()
        assert first.startswith("\x1b[?1049h")
        assert "\x1b[?25l" in first and "\x1b[H" in first and "\x1b[K" in first
        assert first.count("\x1b[2J") == 1  # once on entering, never per frame
        screen.draw(view())
        assert out.getvalue() == first
        screen.draw(view(step_left=149))
        assert out.getvalue() != first
        assert "\x1b[2J" not in out.getvalue()[len(first) :]
    assert out.getvalue().endswith("\x1b[?25h\x1b[?1049l")


def test_screen_restores_the_terminal_when_an_exception_escapes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("LINES", "10")
    out = io.StringIO()
    with pytest.raises(RuntimeError), Screen(out) as screen:
        screen.draw(view())
        raise RuntimeError("boom")
    assert out.getvalue().endswith("\x1b[?25h\x1b[?1049l")


def test_plain_log_prints_one_line_per_step_and_pauses() -> None:
    out = io.StringIO()
    log = PlainLog(out)
    intro = view(title="Introduction", step_number=None, step_left=30, elapsed=0)
    log.draw(intro)
    log.draw(view(title="Introduction", step_number=None, step_left=20, elapsed=10))
    for second in range(5):
        log.draw(view(step_left=150 - second, elapsed=205 + second))
    log.draw(view(step_left=140, elapsed=215, paused=True))
    log.draw(view(step_left=140, elapsed=215, paused=True))
    log.draw(view(step_left=140, elapsed=215))
    log.note("quit")
    assert out.getvalue().splitlines() == [
        "[00:00] Introduction. 30s left. next: Circles.",
        "[03:25] Step 3 of 9: Knead the shoulders. 2m30s left. next: Circles.",
        "[03:35] PAUSED, space to resume. Step 3 of 9: Knead the shoulders. next: Circles.",
        "[03:35] Step 3 of 9: Knead the shoulders. 2m20s left. next: Circles.",
        "[03:35] quit",
    ]


def test_status_line_names_side_repetition_and_what_was_said() -> None:
    v = view(side="left", repetition=(2, 5), said="Keep your wrists soft.", step_left=65)
    from voiceguide.screen import status_text

    lines = plain(render_lines(v, 100, 30, color=False))
    assert status_text(v) == (
        "Step 3 of 9, LEFT SIDE, 2 of 5: Knead the shoulders. 1m5s left. "
        "said: Keep your wrists soft. next: Circles."
    )
    assert lines[-1] == status_text(v)[:99] + "…"
    joined = "\n".join(lines)
    assert "Step 3 of 9 · LEFT SIDE · 2 of 5" in joined and "“Keep your wrists soft.”" in joined


def test_paused_fills_the_screen_and_night_dims_every_colour() -> None:
    lines = plain(render_lines(view(paused=True), 100, 30, color=False))
    big = [line for line in lines if "█" in line]
    assert len(big) >= 5 and max(len(line.strip()) for line in big) > 40  # PAUSED, large
    from voiceguide.screen import night

    dimmed = night("\x1b[1m\x1b[36mTitle\x1b[0m")
    assert set(re.findall(r"\x1b\[[0-9;]*m", dimmed)) == {"\x1b[0;2;31m", "\x1b[0m"}
