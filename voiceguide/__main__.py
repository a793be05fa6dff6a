"""``python -m voiceguide`` is the same as the ``voiceguide`` command."""

from voiceguide.entry import run

run()
