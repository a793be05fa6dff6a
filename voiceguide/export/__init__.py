"""File sinks: the session as MP3, M4B, Opus, OGG, FLAC or WAV, tagged, plus side files.

* :mod:`.files` — atomic writes and which format a file name asks for;
* :mod:`.encoders` — ffmpeg per format, codec loudness trims, measuring the result;
* :mod:`.id3` — the MP3's ID3v2.3/2.4 tag with chapters every reader accepts;
* :mod:`.containers` — Vorbis comments, FLAC pictures and MP4 atoms;
* :mod:`.tags` — what a file says about itself (tags, cover) independent of format;
* :mod:`.text` — subtitles, lyrics and LRC.
"""

from voiceguide.export.encoders import (
    DEFAULT_BITRATE,
    Measured,
    Rejected,
    Trim,
    check_bitrate,
    codec_trim,
    encode,
    encode_into,
    measure,
    to_pcm16,
    write_audio,
    write_blocks,
)
from voiceguide.export.files import (
    FORMATS,
    LOSSY,
    atomic_path,
    atomic_paths,
    format_of,
    real_target,
    refuse_overlaps,
    sweep_stale_temps,
    unused_name,
    write_into,
    write_text,
)
from voiceguide.export.id3 import chapter_ids, check_chapters, id3_tag
from voiceguide.export.tags import Cover, Tags, default_cover, duration_label, load_cover
from voiceguide.export.text import lrc, lyrics, subtitles, write_subtitles

__all__ = [
    "DEFAULT_BITRATE",
    "FORMATS",
    "LOSSY",
    "Cover",
    "Measured",
    "Rejected",
    "Tags",
    "Trim",
    "atomic_path",
    "atomic_paths",
    "chapter_ids",
    "check_bitrate",
    "check_chapters",
    "codec_trim",
    "default_cover",
    "duration_label",
    "encode",
    "encode_into",
    "format_of",
    "id3_tag",
    "load_cover",
    "lrc",
    "lyrics",
    "measure",
    "real_target",
    "refuse_overlaps",
    "subtitles",
    "sweep_stale_temps",
    "to_pcm16",
    "unused_name",
    "write_audio",
    "write_blocks",
    "write_into",
    "write_subtitles",
    "write_text",
]
