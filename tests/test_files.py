"""Files every player reads: each format written from one routine with long titles in
three scripts, then read back by ffmpeg, by mutagen and by a strict AntennaPod-like
ID3v2.3 reader (tests/support/id3strict.py)."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from support.id3strict import lang_text, read_tag

from voiceguide.ambience import decode, ffmpeg_exe
from voiceguide.cli import main
from voiceguide.compiler import Options, compile
from voiceguide.errors import AudioError
from voiceguide.export import FORMATS, Tags, encode, id3_tag, lyrics
from voiceguide.render import NEXT_FALLBACK, FileOptions, render
from voiceguide.routine import loads
from voiceguide.script import Chapter, Script

RATE = 44100
LATIN = (
    "Effleurage très lente le long de la colonne vertébrale, côté gauche puis côté droit, "
    "avec beaucoup d'huile chaude"
)
CJK = (
    "腰から肩まで背骨に沿ってゆっくりと円を描くように優しくマッサージします。"
    "呼吸に合わせて、手のひら全体で温めながら進めてください"
)
CYRILLIC = (
    "Медленные круговые движения вдоль позвоночника от поясницы до самых плеч и обратно очень мягко"
)
ROUTINE = f"""
voiceguide: 1
title: Café crème
intro: Settle your partner face down.
steps:
  - title: "{LATIN}"
    say: Spread the oil over the whole back.
    duration: 40s
  - title: "{CJK}"
    say: Make slow circles over the lower back.
    duration: 12s
  - title: "{CYRILLIC}"
    say: Glide up beside the spine.
    duration: 12s
outro: Rest your hands.
"""
TITLES = ["Introduction", LATIN, CJK, CYRILLIC, "Closing"]
AUDIO_FORMATS = ["mp3", "m4b", "opus", "ogg", "flac", "wav"]
#: One codec frame, in seconds: AAC 1024 samples at 44.1 kHz, Opus 20 ms.
FRAME = {"m4b": 1024 / RATE, "opus": 0.020}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("files")
    script = compile(loads(ROUTINE), Options())
    results = {}
    for fmt in AUDIO_FORMATS:
        lrc = out / f"s.{fmt}.lrc" if fmt == "mp3" else None
        results[fmt] = render(script, out / f"s.{fmt}", files=FileOptions(lyrics=lrc))
    return {"dir": out, "results": results}


def ffmetadata(path: Path) -> tuple[dict[str, str], list[tuple[float, str]]]:
    """Global tags and (start, title) chapters as ffmpeg exports them (it has no ffprobe)."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    text = re.sub(r"\\(.)", lambda m: "\x00" + m.group(1) if m.group(1) == "\n" else m.group(1),
                  proc.stdout.decode("utf-8"))  # fmt: skip
    sections = text.split("\n[")
    tags = dict(line.split("=", 1) for line in sections[0].splitlines()[1:] if "=" in line)
    chapters = []
    for section in sections[1:]:
        fields = dict(line.split("=", 1) for line in section.splitlines()[1:] if "=" in line)
        num, den = (int(x) for x in fields["TIMEBASE"].split("/"))
        chapters.append((int(fields["START"]) * num / den, fields.get("title", "")))
    return tags, chapters


@pytest.mark.parametrize("fmt", ["mp3", "m4b", "opus", "ogg", "flac"])
def test_ffmpeg_reads_every_chapter_title_exactly(files: dict, fmt: str) -> None:
    _, chapters = ffmetadata(files["dir"] / f"s.{fmt}")
    assert [title for _, title in chapters] == TITLES
    script: Script = files["results"][fmt].script
    # ffmpeg shows MP3 chapters shifted by the encoder delay it reports (25 ms), the first
    # one clamped at 0
    offset = script.chapters[1].start - chapters[1][0]
    assert 0 <= offset <= 0.03
    for (start, _), chapter in zip(chapters[1:], script.chapters[1:], strict=True):
        assert start + offset == pytest.approx(chapter.start, abs=0.002)
    # Ogg tags belong to the stream, which -f ffmetadata leaves out: read `ffmpeg -i`'s listing
    path = str(files["dir"] / f"s.{fmt}")
    listing = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", path],
                             capture_output=True, text=True)  # fmt: skip
    shown = re.findall(r"^\s+title\s+: (.+)$", listing.stderr, re.MULTILINE | re.IGNORECASE)
    assert f"Café crème · {round(script.duration)} s" in shown
    assert re.search(r"\(attached pic\)", listing.stderr) or fmt == "m4b"


def test_mp3_passes_the_strict_v23_reader(files: dict) -> None:
    """Plain 32-bit frame sizes, element ids under 100 bytes, exact UTF-16 titles, no NULs."""
    tag = read_tag((files["dir"] / "s.mp3").read_bytes())
    script: Script = files["results"]["mp3"].script
    assert [c.title for c in tag.chapters] == TITLES
    assert all(len(c.element_id) <= 16 and c.element_id.isascii() for c in tag.chapters)
    assert [c.start for c in tag.chapters] == [round(c.start * 1000) for c in script.chapters]
    (toc,) = tag.tocs
    assert toc.flags & 0x03 == 0x03 and toc.children == [c.element_id for c in tag.chapters]
    assert tag.text("TIT2").startswith("Café crème · ")
    assert tag.text("TALB") == "Café crème"
    for name in ("TPE1", "TPE2", "TCON", "TYER", "TLEN"):
        assert tag.text(name)
    assert "voice" in lang_text(tag.first("COMM")) and "LUFS" not in lang_text(tag.first("COMM"))
    assert lang_text(tag.first("USLT")) == lyrics(script)
    apic = tag.first("APIC").data
    assert apic.startswith(b"\x00image/png\x00\x03\x00\x89PNG")


def test_mutagen_reads_tags_cover_lyrics_and_chapters_in_each_format(files: dict) -> None:
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3
    from mutagen.mp4 import MP4
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    d = files["dir"]
    words = lyrics(files["results"]["mp3"].script)
    id3 = ID3(d / "s.mp3")
    assert id3.version == (2, 3, 0)
    toc = id3.getall("CTOC")[0]
    assert [id3[f"CHAP:{e}"].sub_frames["TIT2"].text[0] for e in toc.child_element_ids] == TITLES
    assert id3.getall("USLT")[0].text == words and id3.getall("APIC")[0].data[:4] == b"\x89PNG"
    mp4 = MP4(d / "s.m4b")
    assert [c.title for c in mp4.chapters] == TITLES
    assert mp4["\xa9lyr"] == [words] and bytes(mp4["covr"][0])[:4] == b"\x89PNG"
    assert mp4["\xa9alb"] == ["Café crème"] and mp4["aART"] and mp4["\xa9gen"] and mp4["\xa9day"]
    for kind, name in [(OggOpus, "s.opus"), (OggVorbis, "s.ogg"), (FLAC, "s.flac")]:
        audio = kind(d / name)
        names = [audio[f"CHAPTER{i:03d}NAME"][0] for i in range(1, 6)]
        assert names == TITLES, name
        assert audio["LYRICS"] == [words] and audio["ALBUM"] == ["Café crème"]
        assert audio["GENRE"] and audio["DATE"] and audio["ALBUMARTIST"]
        if kind is FLAC:
            assert audio.pictures[0].type == 3 and audio.pictures[0].width == 600
        else:
            from mutagen.flac import Picture

            picture = Picture(base64.b64decode(audio["METADATA_BLOCK_PICTURE"][0]))
            assert picture.mime == "image/png" and picture.data[:4] == b"\x89PNG"


@pytest.mark.parametrize("fmt", ["m4b", "opus"])
def test_chapter_starts_match_the_mp3_within_one_codec_frame(files: dict, fmt: str) -> None:
    _, mp3 = ffmetadata(files["dir"] / "s.mp3")
    _, other = ffmetadata(files["dir"] / f"s.{fmt}")
    mp3_starts = np.array([s for s, _ in mp3])
    other_starts = np.array([s for s, _ in other])
    assert np.abs(mp3_starts - other_starts).max() <= FRAME[fmt] + 0.026  # + ffmpeg's MP3 shift


def test_unspeakable_title_is_kept_in_the_chapter_and_only_the_spoken_line_falls_back(
    files: dict,
) -> None:
    result = files["results"]["mp3"]
    nexts = [c for c in result.script.cues if c.kind == "next"]
    assert [c.text for c in nexts] == [NEXT_FALLBACK]
    assert any(CJK in w for w in result.warnings)
    lrc = (files["dir"] / "s.mp3.lrc").read_text(encoding="utf-8").splitlines()
    assert lrc[0] == "[ti:Café crème]"
    timed = [line for line in lrc if re.match(r"\[\d\d:\d\d\.\d\d\]", line)]
    assert len(timed) == len(result.script.cues)
    assert timed[0] == f"[00:{result.script.cues[0].at:05.2f}]{result.script.cues[0].text}"


def test_every_format_is_a_known_suffix() -> None:
    assert set(FORMATS.values()) == set(AUDIO_FORMATS)


@pytest.mark.parametrize("fmt", ["ogg", "opus"])
def test_ogg_and_opus_sizes_follow_the_bitrate(files: dict, fmt: str, tmp_path: Path) -> None:
    audio = decode(files["dir"] / "s.flac")
    seconds = len(audio) / RATE
    sizes = {}
    for kbps in (64, 128):
        target = tmp_path / f"b{kbps}.{fmt}"
        encode([audio], target, rate=RATE, bitrate=kbps)
        sizes[kbps] = target.stat().st_size * 8 / 1000 / seconds
    for kbps, real in sizes.items():
        assert 0.8 * kbps <= real <= 1.15 * kbps, sizes


def test_id3_v24_on_request(files: dict, tmp_path: Path) -> None:
    from mutagen.id3 import ID3

    script: Script = files["results"]["mp3"].script
    tag = id3_tag(Tags(title="t", album="a"), script.chapters, version=4)
    assert tag[3] == 4
    target = tmp_path / "v4.mp3"
    target.write_bytes(tag + (files["dir"] / "s.mp3").read_bytes()[len(tag) :][:0])
    encode([np.zeros((RATE, 2))], target, rate=RATE, tags=Tags(title="t", album="a"),
           chapters=script.chapters, id3_version=4)  # fmt: skip
    id3 = ID3(target)
    assert id3.version == (2, 4, 0)
    assert [id3[f"CHAP:chp{i}"].sub_frames["TIT2"].text[0] for i in range(5)] == TITLES


def test_300_chapters_get_nested_tables_every_reader_accepts(tmp_path: Path) -> None:
    from mutagen.id3 import ID3

    chapters = tuple(Chapter(f"Step {n} " + "é" * (n % 40), n * 0.05, (n + 1) * 0.05)
                     for n in range(300))  # fmt: skip
    target = tmp_path / "many.mp3"
    encode([np.zeros((int(15 * RATE), 2))], target, rate=RATE,
           tags=Tags(title="Many", album="Many"), chapters=chapters)  # fmt: skip
    tag = read_tag(target.read_bytes())
    assert [c.title for c in tag.chapters] == [c.title for c in chapters]
    top, *subs = tag.tocs
    assert top.flags & 0x02 and top.children == [s.element_id for s in subs]
    assert [len(s.children) for s in subs] == [255, 45]
    listed = [child for s in subs for child in s.children]
    assert listed == [c.element_id for c in tag.chapters]
    id3 = ID3(target)
    assert len(id3.getall("CHAP")) == 300
    _, listed = ffmetadata(target)
    assert [t for _, t in listed] == [c.title for c in chapters]


def test_too_many_chapters_for_an_mp3_fail_before_any_work(tmp_path: Path) -> None:
    many = tuple(Chapter(f"s{n}", n, n + 1.0) for n in range(255 * 255 + 1))
    script = Script(title="x", duration=len(many), cues=(), chapters=many, beds=())
    with pytest.raises(AudioError, match="more than an MP3 can list"):
        render(script, tmp_path / "x.mp3")
    assert list(tmp_path.iterdir()) == []


def test_cover_lyrics_and_bitrate_options(runner, tmp_path: Path) -> None:
    jpeg = tmp_path / "me.jpg"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=red:s=64x48",
                    "-frames:v", "1", str(jpeg)], check=True)  # fmt: skip
    from support.routines import SHORT

    routine = tmp_path / "r.yaml"
    routine.write_text(SHORT)
    out = tmp_path / "r.flac"
    args = ["render", str(routine), "-o", str(out), "--cover", str(jpeg), "--bitrate", "96",
            "-v", "--lyrics", str(tmp_path / "r.lrc")]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "--bitrate does not apply to FLAC" in result.output
    assert re.search(r"-1\d\.\d LUFS integrated", result.output)
    from mutagen.flac import FLAC

    picture = FLAC(out).pictures[0]
    assert picture.mime == "image/jpeg" and (picture.width, picture.height) == (64, 48)
    assert (tmp_path / "r.lrc").read_text().startswith("[ti:Short test session]")
    bad = runner.invoke(main, ["render", str(routine), "-o", str(tmp_path / "x.mp3"),
                               "--cover", str(routine)])  # fmt: skip
    assert bad.exit_code != 0 and "must be a PNG or JPEG" in bad.output
    assert "Traceback" not in bad.output
    low = runner.invoke(main, ["render", str(routine), "-o", str(tmp_path / "x.ogg"),
                               "--bitrate", "40"])  # fmt: skip
    assert low.exit_code != 0 and "OGG Vorbis stereo takes --bitrate 45 to 320" in low.output
    assert not list(tmp_path.glob("x.*"))
