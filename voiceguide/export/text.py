"""The words of a session as text: subtitles (WebVTT/SRT), lyrics and timed LRC."""

from __future__ import annotations

from pathlib import Path

from voiceguide.export.containers import timestamp
from voiceguide.export.files import write_text
from voiceguide.script import Script


def subtitles(script: Script, srt: bool) -> str:
    """WebVTT (or SRT) with every cue's text at its real time."""
    sep = "," if srt else "."
    lines = [] if srt else ["WEBVTT", ""]
    for n, cue in enumerate(script.cues, start=1):
        if srt:
            lines.append(str(n))
        lines.append(f"{timestamp(cue.at, sep)} --> {timestamp(cue.end, sep)}")
        lines.append(cue.text)
        lines.append("")
    return "\n".join(lines)


def write_subtitles(script: Script, target: Path) -> None:
    write_text(target, subtitles(script, srt=target.suffix.lower() == ".srt"))


def lyrics(script: Script) -> str:
    """Everything said, one cue a line, with a blank line where a new step starts.

    This is what phone players show as unsynchronised lyrics (USLT, LYRICS, ©lyr).
    """
    lines: list[str] = []
    step: int | None = None
    for cue in script.cues:
        if lines and cue.step is not None and cue.step != step:
            lines.append("")
        step = cue.step if cue.step is not None else step
        lines.append(" ".join(cue.text.split()))
    return "\n".join(lines)


def _lrc_time(seconds: float) -> str:
    centis = round(seconds * 100)
    minutes, centis = divmod(centis, 6000)
    return f"{minutes:02d}:{centis // 100:02d}.{centis % 100:02d}"


def lrc(script: Script) -> str:
    """Timed lyrics (LRC): ``[mm:ss.xx]`` before each cue, minutes growing past 59."""
    head = [f"[ti:{_one_line(script.title)}]", "[ar:voiceguide]",
            f"[length:{_lrc_time(script.duration)[:5]}]", "[re:voiceguide]"]  # fmt: skip
    body = [f"[{_lrc_time(cue.at)}]{_one_line(cue.text)}" for cue in script.cues]
    return "\n".join(head + body) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())
