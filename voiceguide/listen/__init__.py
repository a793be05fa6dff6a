"""Voice control: "guide pause" and the other spoken commands, offline.

``Listener`` turns microphone blocks (and, live, what the speakers were
playing) into :class:`Heard` commands; ``grammar.COMMANDS`` maps each
command's words onto a player action.
"""

from voiceguide.listen.grammar import COMMANDS, WAKE
from voiceguide.listen.listener import Listener
from voiceguide.listen.recognizer import Heard

__all__ = ["COMMANDS", "WAKE", "Heard", "Listener"]
