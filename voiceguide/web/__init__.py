"""The ``serve`` sink: a local web page that renders a session and plays it on a phone.

The server renders with the same pipeline as ``voiceguide render`` (one MP3
with ID3 chapters, the bed mixed in) and hands the page that file plus the
script ``show --json`` prints. The page plays, seeks and maps the phone's
media keys to steps; it never mixes or times cues itself.
"""
