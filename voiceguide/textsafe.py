"""Text from files and names made safe to print on a terminal.

Routines refuse control characters when loaded, but text also reaches the
terminal from elsewhere (file names, config values, a routine loaded by a
library caller). Whatever is printed goes through :func:`printable`, so an
escape sequence is shown, never obeyed.
"""

from __future__ import annotations

import unicodedata

#: Format characters that reorder or hide text (bidi overrides and isolates).
_HIDDEN = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str, keep_newlines: bool = False) -> str:
    """``text`` with every control character shown as a visible escape.

    C0 controls become their Unicode "control pictures" (ESC shows as ␛);
    others (DEL, C1 controls such as the one-byte CSI, bidi overrides) show
    as ``\\x9b``-style escapes. Tab becomes a space; newlines stay only when
    asked for.
    """
    out = []
    for char in text:
        if char == "\n" and keep_newlines:
            out.append(char)
        elif char == "\t":
            out.append(" ")
        elif char < " ":
            out.append(chr(0x2400 + ord(char)))
        elif char in _HIDDEN or unicodedata.category(char) == "Cc":
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)
