"""Errors a user can cause.

Every one of them is printed by the CLI as a single line and turns into a
non-zero exit; anything else escaping is a bug and shows a traceback.
"""

from __future__ import annotations


class VoiceguideError(Exception):
    """A problem the user can fix: bad input, a missing file, no audio device."""

    exit_code = 1


class RoutineError(VoiceguideError):
    """A routine file that cannot be used, located as precisely as we can.

    Formatted like a compiler message (``file:line:col: path: message``) so
    editors and terminals can jump to the spot.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.col is not None:
                    where += f":{self.col}"
            where += ": "
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"


class CompileError(VoiceguideError):
    """A valid routine that cannot become a session with the options given."""

    exit_code = 2


class SpeechError(VoiceguideError):
    """The speech engine is missing, refused a voice, or failed to speak."""


class AudioError(VoiceguideError):
    """Decoding, encoding or playback failed for a reason the user can act on."""
