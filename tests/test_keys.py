"""Single-key input: bytes to key names, and a real pseudo-terminal left as it was found."""

from __future__ import annotations

import os
import termios
import time
from collections.abc import Iterator

import pytest

from voiceguide.keys import KEY_HELP, KeyParser, KeyReader, parse_keys


@pytest.mark.parametrize(
    ("data", "keys"),
    [
        (b" ", ["space"]),
        (b"nbrq", ["n", "b", "r", "q"]),
        (b"NBRQ", ["N", "B", "R", "Q"]),  # capitals are their own keys: N/B whole steps
        (b"+=-_", ["+", "+", "-", "-"]),
        (b"\x1b[A\x1b[B", ["up", "down"]),
        (b"\x1bOA\x1bOB", ["up", "down"]),
        (b"\x1b[1;5A", ["up"]),  # Ctrl+Up is still up
        (b"\x03", ["q"]),
        (b" n\x1b[A", ["space", "n", "up"]),
        (b"\x1b[C\x1b[D\x1bOP", ["right", "left"]),  # F1 is not ours
        (b"\x1b[6~\x1b[5~\r.b", ["pagedown", "pageup", "enter", ".", "b"]),  # a clicker
        (b"\x1b[6;2~\x1b[15~", ["pagedown"]),  # Shift+PageDown still pages; F5 is not ours
        (b"\x00\x7f\xc3\xa9", []),  # control bytes, UTF-8 "é"
        (b"\x1bn", ["n"]),  # Esc (or Alt) then a key: the key still counts
        (b"\x1b\x1b[B", ["down"]),
        (b"\x1b[\x01n", ["n"]),  # a broken sequence does not swallow the next key
    ],
)
def test_parse_keys(data: bytes, keys: list[str]) -> None:
    assert parse_keys(data) == keys


def test_escape_sequence_split_across_reads() -> None:
    parser = KeyParser()
    assert parser.feed(b"n\x1b") == ["n"]
    assert parser.pending
    assert parser.feed(b"[") == []
    assert parser.feed(b"A ") == ["up", "space"]
    assert parser.feed(b"\x1bO") == []
    assert parser.feed(b"B") == ["down"]
    assert not parser.pending


def test_garbage_escape_does_not_grow_forever() -> None:
    parser = KeyParser()
    assert parser.feed(b"\x1b[" + b"1;" * 20) == []
    assert parser.feed(b"q") == ["q"]


def test_every_action_has_a_default_key_and_help() -> None:
    from voiceguide.keys import ACTIONS, DEFAULT_BINDINGS

    assert set(DEFAULT_BINDINGS.values()) == set(ACTIONS) - {"pause", "resume"}
    assert all(KEY_HELP.values())


def test_a_keys_table_remaps_and_unbinds_and_says_what_is_wrong() -> None:
    from voiceguide.errors import VoiceguideError
    from voiceguide.keys import bindings

    keys = bindings({"x": "next", "b": "back", "enter": "none"})
    assert keys["x"] == "next" and keys["b"] == "back" and "enter" not in keys
    assert keys["pagedown"] == "next"
    with pytest.raises(VoiceguideError, match=r"\[keys\] x: 'jump' is not an action"):
        bindings({"x": "jump"}, "config.toml")
    with pytest.raises(VoiceguideError, match=r"\[keys\] ctrl-x: not a key"):
        bindings({"ctrl-x": "next"}, "config.toml")


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def wait_for_keys(reader: KeyReader, count: int, timeout: float = 2.0) -> list[str]:
    keys: list[str] = []
    deadline = time.monotonic() + timeout
    while len(keys) < count and time.monotonic() < deadline:
        keys += reader.poll()
        time.sleep(0.005)
    return keys


def test_reader_on_a_real_terminal_and_restores_it(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    before = termios.tcgetattr(slave)
    assert before[3] & termios.ECHO and before[3] & termios.ICANON
    with KeyReader(slave) as reader:
        assert reader.active
        mode = termios.tcgetattr(slave)[3]
        assert not mode & termios.ECHO and not mode & termios.ICANON
        assert mode & termios.ISIG  # Ctrl-C still interrupts
        os.write(master, b" n\x1b[A")
        assert wait_for_keys(reader, 3) == ["space", "n", "up"]
        assert reader.poll() == []
    assert not reader.active
    assert termios.tcgetattr(slave) == before


def test_reader_restores_the_terminal_when_an_exception_escapes(
    pty_pair: tuple[int, int],
) -> None:
    _, slave = pty_pair
    before = termios.tcgetattr(slave)
    with pytest.raises(KeyboardInterrupt), KeyReader(slave):
        raise KeyboardInterrupt
    assert termios.tcgetattr(slave) == before


def test_reader_stops_when_the_terminal_goes_away() -> None:
    master, slave = os.openpty()
    try:
        with KeyReader(slave) as reader:
            os.close(master)
            time.sleep(0.05)
            assert reader.poll() == []
    finally:
        os.close(slave)


def test_reader_on_a_pipe_is_inert() -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"n q")
        with KeyReader(read_end) as reader:
            assert not reader.active
            time.sleep(0.02)
            assert reader.poll() == []
        assert os.read(read_end, 10) == b"n q"  # nothing was consumed
    finally:
        os.close(read_end)
        os.close(write_end)


def test_reader_on_a_closed_fd_is_inert() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with KeyReader(read_end) as reader:
        assert reader.poll() == []


def test_reader_without_stdin_is_inert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", None)
    with KeyReader() as reader:
        assert reader.poll() == []
