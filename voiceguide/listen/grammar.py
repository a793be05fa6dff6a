"""The spoken commands: what may be said, and what each one does to the player.

Every command starts with the wake word "guide", so a bare "stop" or "back"
in the narration or in conversation is never an order.

Measured on this machine (see docs/benchmarks.md): a grammar that also holds
the narration's words or common room words, so that other speech has
somewhere to go, made pocketsphinx explain real commands as strings of short
filler words ("the oil a will") far more often than it rejected narration.
So the grammar is only the commands (with an optional hesitation either
side), and the session's own voice is kept out before decoding instead: the
echo canceller and the gate (listener.py).
"""

from __future__ import annotations

WAKE = "guide"

#: Spoken words after "guide" -> the player action (see Player.command).
COMMANDS: dict[str, str] = {
    "pause": "pause",
    "continue": "resume",
    "next": "next",
    "back": "back",
    "repeat": "repeat",
    "more time": "more",
    "less time": "less",
    "louder": "louder",
    "softer": "softer",
    "stop": "stop",
}


#: Pronunciations added to the model's dictionary, which is American: its "back" is
#: B AE K, and an open /a/ (British English, and the voices the bench speaks in) fit
#: "pause", "louder" or "next" better. Tried alone in the sixth pass, it made near
#: ties of those wrong commands and added a wrong one in each family; with the
#: giver's warp (talker.py) and the later checks, replayed over eight placements of
#: one talker each (tenth pass): espeak 138 -> 144 of 160 commands, wrong 5 -> 4,
#: natural 157 either way; with the four voices in turn espeak 139 -> 146, wrong
#: 9 -> 5; no false trigger with no one talking or with room talk.
PRONUNCIATIONS: dict[str, str] = {"back(2)": "B AA K"}


def jsgf(trailing: bool = True, without: str | None = None, alone: bool = False) -> str:
    """The JSGF grammar the recognizer decodes every speech segment against.

    ``trailing=False`` leaves out the hesitation after the command: the
    recognizer's second look at a "stop" (see recognizer.py, confirming a stop).
    ``without`` leaves out one command: how well the best of the others fits
    the same audio says whether the one decoded was a near tie (recognizer.CLEAR).
    ``alone`` is the wake word with no command: "guide" before a pause (recognizer.LONE).
    """
    commands = " | ".join(sorted(c for c in COMMANDS if c != without))
    after = " [ uh ]" if trailing else ""
    command = WAKE if alone else f"{WAKE} ( {commands} )"
    return (
        "#JSGF V1.0;\ngrammar voiceguide;\n"
        f"<command> = {command};\n"
        f"public <utterance> = [ uh ] <command>{after} ;\n"
    )


def commands_in(words: list[str]) -> list[tuple[int, str]]:
    """(index of "guide", command words) for each command in a decoded word sequence."""
    found = []
    for i, word in enumerate(words):
        if word != WAKE:
            continue
        for n in (2, 1):
            spoken = " ".join(words[i + 1 : i + 1 + n])
            if spoken in COMMANDS:
                found.append((i, spoken))
                break
    return found
