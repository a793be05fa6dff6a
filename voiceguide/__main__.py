"""``python -m voiceguide`` is the same as the ``voiceguide`` command."""

from voiceguide.cli import main

main()
