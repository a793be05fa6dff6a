"""Single-key commands for live mode.

The person has oily hands on a partner's back: they tap one key (or a foot
pedal that types one) and never press Enter. So the terminal goes into
cbreak/no-echo mode for the session, a background thread turns bytes into key
names, and the player polls them between audio blocks without ever blocking.
The terminal settings are restored exactly on exit, whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import sys
import termios
import threading
from types import TracebackType
from typing import Any

__all__ = [
    "ACTIONS",
    "DEFAULT_BINDINGS",
    "KEY_HELP",
    "KeyParser",
    "KeyReader",
    "bindings",
    "parse_keys",
]

#: What a key (or, later, a spoken command) can ask the player to do.
ACTIONS: dict[str, str] = {
    "toggle": "pause / resume",
    "pause": "pause",
    "resume": "resume",
    "next": "next side, then next step",
    "back": "back to the start of this side (twice: the one before)",
    "next-step": "next step (whole step)",
    "back-step": "back a whole step",
    "repeat": "repeat the current instruction",
    "more": "add 30 s to this step",
    "less": "take 30 s off this step",
    "louder": "volume up",
    "softer": "volume down",
    "stop": "quit (the spot is saved for --resume)",
}

#: Keys out of the box: letters, arrows, and what presenter clickers, page
#: turners and foot pedals send (PageDown/Right/Enter, PageUp/Left, and the
#: "blank screen" key, which types ``b`` or ``.``).
DEFAULT_BINDINGS: dict[str, str] = {
    "space": "toggle",
    "b": "toggle",
    ".": "toggle",
    "p": "toggle",
    "n": "next",
    "pagedown": "next",
    "right": "next",
    "enter": "next",
    "left": "back",
    "pageup": "back",
    "N": "next-step",
    "B": "back-step",
    "r": "repeat",
    "R": "repeat",
    "+": "more",
    "-": "less",
    "up": "louder",
    "down": "softer",
    "q": "stop",
    "Q": "stop",
}

#: Named keys a ``[keys]`` table may use, besides any single character.
NAMED_KEYS = ("space", "enter", "pageup", "pagedown", "left", "right", "up", "down", "home", "end")

#: The help the command prints: one line per key group.
KEY_HELP: dict[str, str] = {
    "space b .": "pause / resume (b and . are a clicker's blank-screen key)",
    "→ PgDn Enter n": "next: the other side first, then the next step",
    "← PgUp": "back to the start of this side; twice: the one before",
    "N / B": "next / back a whole step",
    "r": "repeat the current instruction",
    "+ / -": "30 s more / less on this step",
    "↑ / ↓": "volume up / down",
    "q": "quit (the spot is saved for --resume)",
}

_SINGLE = {b" ": "space", b"=": "+", b"_": "-", b"\x03": "q", b"\r": "enter", b"\n": "enter"}
_ARROWS = {b"A": "up", b"B": "down", b"C": "right", b"D": "left", b"H": "home", b"F": "end"}
_TILDE = {b"1": "home", b"7": "home", b"4": "end", b"8": "end", b"5": "pageup", b"6": "pagedown"}
_ESC = 0x1B
_MAX_SEQUENCE = 16  # longer than any key's escape sequence: garbage, drop it


class KeyParser:
    """Turns terminal bytes into key names, keeping a partial escape sequence between reads.

    A read can hold several keys, or end in the middle of ``ESC [ A``; both
    happen with fast typing, pedals and slow ssh links.
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[str]:
        """Key names completed by ``data``; an unfinished escape sequence waits for more."""
        self._buffer += data
        keys: list[str] = []
        while self._buffer:
            used, key = _next_key(self._buffer)
            if used == 0:
                break
            self._buffer = self._buffer[used:]
            if key:
                keys.append(key)
        return keys

    def reset(self) -> None:
        """Forget a pending partial sequence (e.g. a lone Esc press followed by silence)."""
        self._buffer = b""

    @property
    def pending(self) -> bool:
        return bool(self._buffer)


def parse_keys(data: bytes) -> list[str]:
    """Key names in one complete chunk of terminal input."""
    return KeyParser().feed(data)


def _next_key(buffer: bytes) -> tuple[int, str | None]:
    """(bytes consumed, key name or None) for the start of ``buffer``; 0 bytes = need more."""
    if buffer[0] != _ESC:
        return 1, _single(buffer[:1])
    if len(buffer) == 1:
        return 0, None
    if buffer[1:2] == b"O":  # SS3: application cursor mode, one final byte
        return (0, None) if len(buffer) < 3 else (3, _ARROWS.get(buffer[2:3]))
    if buffer[1:2] == b"[":
        return _csi(buffer)
    return 1, None  # Esc then an ordinary key (Alt+key, or Esc pressed alone): keep the key


def _csi(buffer: bytes) -> tuple[int, str | None]:
    """A control sequence ``ESC [ params final``; arrows are final bytes A and B."""
    for end in range(2, min(len(buffer), _MAX_SEQUENCE)):
        byte = buffer[end]
        if 0x40 <= byte <= 0x7E:
            final = buffer[end : end + 1]
            if final == b"~":  # ESC [ 6 ~ (PageDown) and friends; modifiers after a ';'
                return end + 1, _TILDE.get(buffer[2:end].split(b";")[0])
            return end + 1, _ARROWS.get(final)
        if not 0x20 <= byte <= 0x3F:
            return end, None  # malformed: drop what we have, re-read this byte
    return (0, None) if len(buffer) < _MAX_SEQUENCE else (_MAX_SEQUENCE, None)


def _single(byte: bytes) -> str | None:
    """Letters and punctuation are their own names (case kept: N and B are whole steps).

    Digits, ``;`` and ``[`` are not keys: they are what the tail of a broken
    escape sequence looks like.
    """
    if byte in _SINGLE:
        return _SINGLE[byte]
    char = byte.decode("latin-1")
    return char if _is_key_char(char) else None


def _is_key_char(char: str) -> bool:
    return len(char) == 1 and 0x21 <= ord(char) <= 0x7E and not char.isdigit() and char not in ";["


def bindings(table: dict[str, object] | None = None, where: str = "config") -> dict[str, str]:
    """The key map: the defaults, changed by a ``[keys]`` table of ``key = "action"``.

    ``"none"`` unbinds a key. A mistake names the key and what is allowed,
    in one line, like any other config error.
    """
    from voiceguide.errors import VoiceguideError

    merged = dict(DEFAULT_BINDINGS)
    for key, action in (table or {}).items():
        if not (key in NAMED_KEYS or _is_key_char(key)):
            raise VoiceguideError(
                f"{where}: [keys] {key}: not a key; use a letter or punctuation mark, "
                f"or one of {', '.join(NAMED_KEYS)}"
            )
        if action == "none":
            merged.pop(key, None)
            continue
        if not isinstance(action, str) or action not in ACTIONS:
            raise VoiceguideError(
                f"{where}: [keys] {key}: {action!r} is not an action; use one of "
                f"{', '.join(ACTIONS)} or none"
            )
        merged[key] = action
    return merged


class KeyReader:
    """Reads single keys from a terminal in the background; inert when there is no terminal.

    Use as a context manager; ``poll()`` never blocks. When the fd is not a
    TTY (piped input, cron, tests) nothing is changed and ``poll()`` returns [].
    Ctrl-C still raises KeyboardInterrupt (signals stay on); a Ctrl-C byte that
    does arrive as input (a pedal, a raw terminal) reads as ``q``.
    """

    _FLUSH_AFTER = 0.1  # seconds of silence after which a lone Esc is forgotten

    def __init__(self, fd: int | None = None) -> None:
        self.fd: int | None = _stdin_fd() if fd is None else fd
        self._saved: list[Any] | None = None
        self._keys: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._wake: tuple[int, int] | None = None

    @property
    def active(self) -> bool:
        """True while the terminal is in key mode and the reader thread runs."""
        return self._thread is not None

    def __enter__(self) -> KeyReader:
        if self.fd is None or not os.isatty(self.fd):
            return self
        try:
            self._saved = termios.tcgetattr(self.fd)
        except termios.error:
            return self
        try:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, _cbreak(self._saved))
            self._start()
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._stop()
        finally:
            self._restore()

    def poll(self) -> list[str]:
        """The keys pressed since the last poll, oldest first."""
        keys = []
        while True:
            try:
                keys.append(self._keys.get_nowait())
            except queue.Empty:
                return keys

    def _start(self) -> None:
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._run, name="voiceguide-keys", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        """Wake the thread through its pipe, so exit does not wait for a timeout."""
        if self._thread is None or self._wake is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._wake[1], b"x")
        self._thread.join(timeout=1.0)
        self._thread = None
        for fd in self._wake:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake = None

    def _restore(self) -> None:
        if self._saved is None:
            return
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(self.fd, termios.TCSAFLUSH, self._saved)
        self._saved = None

    def _run(self) -> None:
        """Thread body: read until woken or the terminal goes away."""
        assert self.fd is not None and self._wake is not None
        parser, fd, wake = KeyParser(), self.fd, self._wake[0]
        while True:
            try:
                ready, _, _ = select.select([fd, wake], [], [], self._FLUSH_AFTER)
                if wake in ready:
                    return
                if not ready:
                    parser.reset()
                    continue
                data = os.read(fd, 64)
            except (OSError, ValueError):
                return
            if not data:
                return
            for key in parser.feed(data):
                self._keys.put(key)


def _cbreak(attrs: list[Any]) -> list[Any]:
    """A copy of ``attrs`` with line buffering and echo off, one byte per read."""
    new = [*attrs[:6], list(attrs[6])]
    new[3] &= ~(termios.ECHO | termios.ICANON)
    new[6][termios.VMIN] = 1
    new[6][termios.VTIME] = 0
    return new


def _stdin_fd() -> int | None:
    """stdin's fd, or None when there is none (daemons, some test runners)."""
    try:
        return sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return None
