"""Routine files as untrusted input: each hostile file is refused in one located line,
quickly and in little memory (the bounds are measured around the real loader)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from voiceguide.cli import main
from voiceguide.errors import RoutineError
from voiceguide.routine import load_file, loads
from voiceguide.textsafe import printable
from voiceguide.yamlnodes import ALIAS_BUDGET

GOOD_STEP = "steps:\n  - title: Warm up\n    say: Rub your palms.\n    duration: 20s\n"


def _bomb(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs": each anchor is ``width`` aliases of the one before."""
    lines = ["voiceguide: 1", "title: bomb", f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def _bounded_load(text: str) -> RoutineError:
    """Load ``text``, expecting a RoutineError, within 1 s and 100 MB of Python memory.

    Time and memory are measured on separate runs: tracing allocations slows
    Python down several times.
    """
    started = time.perf_counter()
    with pytest.raises(RoutineError) as caught:
        loads(text, file="hostile.yaml")
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        with pytest.raises(RoutineError):
            loads(text, file="hostile.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds < 1.0, seconds
    assert peak < 100 * 2**20, peak
    message = str(caught.value)
    assert "\n" not in message
    return caught.value


def test_alias_bomb_refused_fast_with_a_located_line() -> None:
    err = _bounded_load(_bomb())
    assert err.file == "hostile.yaml" and err.line is not None and err.col is not None
    assert "aliases expand" in err.message


def test_a_few_honest_aliases_still_load() -> None:
    text = (
        "voiceguide: 1\ntitle: shared\nsteps:\n"
        "  - &warm {title: Warm up, say: Rub your palms., duration: 20s}\n"
        "  - *warm\n  - *warm\n"
    )
    assert len(loads(text).steps) == 3
    assert ALIAS_BUDGET >= 10_000  # generous for real use


def test_alias_referring_to_itself_is_refused() -> None:
    err = _bounded_load("voiceguide: 1\ntitle: &t [a, *t]\n" + GOOD_STEP)
    assert "contains it" in err.message and err.line == 2


@pytest.mark.parametrize("kind", ["[", "{a: "])
def test_deep_nesting_is_one_clean_line(kind: str) -> None:
    close = "]" if kind == "[" else "}"
    err = _bounded_load(f"voiceguide: 1\ntitle: x\nsteps: {kind * 5000}{close * 5000}\n")
    assert "nested too deeply" in err.message and err.line == 3


def test_huge_integer_is_one_line() -> None:
    err = _bounded_load("voiceguide: 1\ntitle: " + "9" * 5000 + "\n" + GOOD_STEP)
    assert err.line == 2 and "set_int_max_str_digits" not in err.message


@pytest.mark.parametrize(
    "title",
    ['"Evil \\e[31m red"', '"bell \\a"', '"csi \\x9b2J"', '"nul \\0"'],
    ids=["esc", "bell", "c1-csi", "nul"],
)
def test_escaped_control_characters_in_text_are_refused(title: str) -> None:
    err = _bounded_load(f"voiceguide: 1\ntitle: {title}\n" + GOOD_STEP)
    assert "control character" in err.message and err.path == "title"


def test_raw_control_character_is_located() -> None:
    err = _bounded_load("voiceguide: 1\ntitle: ok\n" + GOOD_STEP.replace("Rub", "R\x1b[2Jub"))
    assert (err.line, err.col) == (5, 11) and "U+001B" in err.message


def test_tab_and_newline_in_say_are_fine() -> None:
    text = 'voiceguide: 1\ntitle: t\nsteps:\n  - title: A\n    say: "one\\ttwo\\nthree"\n'
    routine = loads(text + "    duration: 20s\n")
    assert routine.steps[0].say == "one two three"


def test_control_characters_in_a_lexicon_word_are_refused() -> None:
    err = _bounded_load('voiceguide: 1\ntitle: t\nlexicon: {"a\\eb": ay}\n' + GOOD_STEP)
    assert "control character" in err.message


@pytest.mark.parametrize(
    ("field", "value"),
    [("sides", "[left, 3]"), ("title", "1984"), ("say", "3.5")],
)
def test_number_where_text_is_expected(field: str, value: str) -> None:
    step = {"title": "A", "say": "hi", "sides": "[left, right]"} | {field: value}
    body = "".join(f"    {k}: {v}\n" for k, v in step.items())
    text = f"voiceguide: 1\ntitle: t\nsteps:\n  - duration: 20s\n{body}"
    err = _bounded_load(text)
    assert "expected text, got a number" in err.message


def test_screen_helper_shows_escapes_instead_of_obeying_them() -> None:
    shown = printable("a\x1b[31mb\x9bc\u202ed\x7f\te")
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in shown)
    assert "\u202e" not in shown
    assert shown.startswith("a␛[31mb") and shown.endswith(" e")


def test_error_lines_escape_file_names(runner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["show", str(tmp_path / "a\x1b[2Jb.yaml")])
    assert result.exit_code == 2 and "\x1b" not in result.output and "␛[2J" in result.output


def test_files_over_a_megabyte_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"voiceguide: 1\n# " + b"x" * (1 << 20) + b"\n")
    with pytest.raises(RoutineError, match="over 1 MB"):
        load_file(big)


def test_folder_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(RoutineError, match="is a folder"):
        load_file(folder)


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/null"])
def test_fifos_and_devices_are_one_line_without_hanging(special: str, tmp_path: Path) -> None:
    path = special
    if special == "fifo":
        path = str(tmp_path / "pipe.yaml")
        os.mkfifo(path)
    result = subprocess.run(
        [sys.executable, "-m", "voiceguide", "validate", path],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"{path}: is {'a pipe (FIFO)' if special == 'fifo' else 'a device'}, not a routine file"
    ]
