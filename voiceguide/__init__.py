"""voiceguide: spoken, timed guidance for a back massage."""

__version__ = "0.1.0"
