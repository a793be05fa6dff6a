"""Nothing overwritten that the user did not name, config values checked like options,
and the small faults a careless user meets: one clear line each."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from support.routines import SHORT

from voiceguide.cli import main
from voiceguide.export import unused_name


def _lines(result) -> list[str]:  # type: ignore[no-untyped-def]
    return result.output.strip().splitlines()


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VOICEGUIDE_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "r.yaml").write_text(SHORT)
    return tmp_path


# ---------------------------------------------------------------- outputs named as inputs


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-o", "x.mp3", "--subtitles", "r.yaml"], "subtitles file would overwrite the routine"),
        (["-o", "x.mp3", "--script", "r.yaml"], "script file would overwrite the routine"),
        (["-o", "bed.wav", "--ambience", "bed.wav"], "output would overwrite the bed"),
        (["-o", "x.mp3", "--subtitles", "x.mp3"], "subtitles file would overwrite the output"),
        (["-o", "x.wav", "--subtitles", "s.vtt", "--script", "./s.vtt"], "overwrite the subtitles"),
        (["-o", "link.mp3"], "output would overwrite the routine"),
        (["-o", "config.toml.wav", "--script", "config.toml"], "overwrite the config file"),
    ],
    ids=["subs-routine", "script-routine", "out-bed", "subs-out", "script-subs", "symlink",
         "config"],
)  # fmt: skip
def test_an_output_that_is_an_input_is_refused_before_any_work(
    work: Path, runner, args: list[str], said: str
) -> None:
    (work / "bed.wav").write_bytes(b"RIFF-not-really")
    (work / "config.toml").write_text("[voice]\nrate = 150\n")
    (work / "link.mp3").symlink_to(work / "r.yaml")
    before = {p.name: p.read_bytes() for p in work.iterdir() if p.is_file()}
    result = runner.invoke(main, ["render", "r.yaml", "-q", *args])
    assert result.exit_code != 0 and len(_lines(result)) == 1, result.output
    assert said in result.output
    assert {p.name: p.read_bytes() for p in work.iterdir() if p.is_file()} == before


def test_writing_through_a_symlink_writes_the_file_it_points_to(work: Path, runner) -> None:
    (work / "real").mkdir()
    (work / "real" / "s.wav").write_bytes(b"old")
    (work / "s.wav").symlink_to(work / "real" / "s.wav")
    result = runner.invoke(main, ["render", "r.yaml", "-q", "-o", "s.wav", "--ambience", "none"])
    assert result.exit_code == 0, result.output
    assert (work / "s.wav").is_symlink()
    assert (work / "real" / "s.wav").read_bytes()[:4] == b"RIFF"
    assert not [p for p in work.rglob("*") if ".part" in p.name]


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


def test_a_full_disk_leaves_every_previous_file_and_no_temps(work: Path, runner) -> None:
    disk = work / "disk"
    if not _mount_tmpfs(disk, "300k"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        old = {"s.wav": b"old audio", "s.vtt": b"old subs", "s.json": b"{}"}
        for name, data in old.items():
            (disk / name).write_bytes(data)
        result = runner.invoke(main, ["render", "r.yaml", "-q", "-o", str(disk / "s.wav"),
                                      "--subtitles", str(disk / "s.vtt"),
                                      "--script", str(disk / "s.json")])  # fmt: skip
        assert result.exit_code != 0
        assert len(_lines(result)) == 1 and "No space left" in result.output, result.output
        assert {p.name: p.read_bytes() for p in disk.iterdir()} == old
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_fallback_files_never_replace_anything(work: Path, runner, monkeypatch) -> None:
    (work / ".asoundrc").write_text("pcm.!default { type hw; card 99 }\n")  # no sound card
    monkeypatch.setenv("HOME", str(work))
    (work / "river-preview.wav").write_bytes(b"mine")
    result = runner.invoke(main, ["ambience", "preview", "river", "--seconds", "2"])
    assert result.exit_code == 0, result.output
    assert (work / "river-preview.wav").read_bytes() == b"mine"
    assert (work / "river-preview-2.wav").read_bytes()[:4] == b"RIFF"
    assert "river-preview-2.wav" in result.output
    (work / "say.wav").write_bytes(b"x")
    (work / "say-2.wav").write_bytes(b"x")
    assert unused_name(Path("say.wav")) == Path("say-3.wav")


# ---------------------------------------------------------------- config values


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ("[voice]\nvolume = 0\n", "[voice] volume: 0 is below 0.1"),
        ("[voice]\nrate = 500\n", "[voice] rate: 500 is above 300"),
        ("[voice]\nrate = 150.5\n", "[voice] rate: 150.5 is not a whole number"),
        ("[voice]\nrate = \"fast\"\n", "[voice] rate: expected a number, got text ('fast')"),
        ("[voice]\npitch = true\n", "[voice] pitch: expected a number, got a true/false"),
        ("[voice]\nrate = nan\n", "[voice] rate: expected a number, got nan"),
        ("[voice]\nvoice = 123\n", "[voice] voice: expected a voice name in quotes"),
        ("[voice]\nsystem_espeak = \"yes\"\n", "[voice] system_espeak: expected true or false"),
        ("[voice]\nspeed = 1\n", "[voice] speed: unknown key"),
        ("[lexicon]\nnerve = 3\n", "[lexicon] nerve: expected text, got a number"),
        ("[colour]\n", "unknown section [colour]"),
        ("[voice]\nrate = \n", "config.toml:2:"),
    ],
    ids=["volume-0", "rate-high", "rate-fraction", "rate-text", "pitch-bool", "nan", "voice-int",
         "bool-text", "unknown-key", "lexicon-number", "section", "syntax"],
)  # fmt: skip
def test_config_values_are_checked_like_options(work: Path, runner, toml: str, said: str) -> None:
    (work / "config.toml").write_text(toml)
    result = runner.invoke(main, ["show", "r.yaml"])
    assert result.exit_code == 2 and len(_lines(result)) == 1, result.output
    assert said in result.output and str(work / "config.toml") in result.output


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ("[render]\nbitrate = 500\n", "[render] bitrate: 500 is not in the range"),
        ("[render]\nbitrate = 96.5\n", "[render] bitrate: 96.5 is not a whole number"),
        ('[render]\nmono = "yes"\n', "[render] mono: expected true or false"),
        ('[render]\nlength = "2x"\n', "[render] length: expected a time"),
        ('[render]\noutput = "x.mp3"\n', "[render] output: unknown key"),
        ("[play]\nbed-volume = 5\n", "[play] bed-volume: 5.0 is not in the range"),
    ],
)
def test_render_and_play_sections_are_checked_like_options(
    work: Path, runner, toml: str, said: str
) -> None:
    (work / "config.toml").write_text(toml)
    command = "play" if toml.startswith("[play]") else "render"
    result = runner.invoke(main, [command, "r.yaml"])
    assert result.exit_code == 2 and len(_lines(result)) == 1, result.output
    assert said in result.output


def test_render_section_sets_option_defaults(work: Path, runner) -> None:
    (work / "config.toml").write_text('[render]\nbitrate = 96.0\nambience = "rain"\n')
    result = runner.invoke(main, ["render", "--help"])
    assert "[default: 96;" in result.output


def test_int_and_float_forms_and_a_bom_mean_the_same(work: Path, runner) -> None:
    shown = []
    for text in ("[voice]\nrate = 120\n", "[voice]\nrate = 120.0\n", "\ufeff[voice]\nrate = 120\n"):
        (work / "config.toml").write_text(text, encoding="utf-8")
        result = runner.invoke(main, ["show", "r.yaml", "--json"])
        assert result.exit_code == 0, result.output
        shown.append(json.loads(result.output))
    assert shown[0] == shown[1] == shown[2]
    (work / "config.toml").unlink()
    default = json.loads(runner.invoke(main, ["show", "r.yaml", "--json"]).output)
    assert default["duration"] != shown[0]["duration"]  # the rate was really read


# ---------------------------------------------------------------- small ones


def test_length_without_a_unit_suggests_minutes(runner) -> None:
    result = runner.invoke(main, ["show", "lower-back-relax", "--length", "20"])
    assert result.exit_code == 2 and "did you mean 20m?" in result.output


def test_validate_and_show_print_the_same_length(work: Path, runner) -> None:
    shown = _lines(runner.invoke(main, ["show", "r.yaml"]))[0].rsplit("— ", 1)[1]
    validated = _lines(runner.invoke(main, ["validate", "r.yaml"]))[0]
    assert f", {shown}" in validated


def test_routines_counts_steps_as_the_live_screen_does(runner) -> None:
    from voiceguide.compiler import compile
    from voiceguide.player import view_at
    from voiceguide.routine import load_builtin

    rows = json.loads(runner.invoke(main, ["routines", "--json"]).output)
    for row in rows:
        script = compile(load_builtin(row["id"]))
        view = view_at(script, script.steps[0].start + 0.1, False, 0.0, "")
        assert row["steps"] == view.step_count, row["id"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["new", ""], "give the routine a name"),
        (["new", "a" * 300], "File name too long"),
        (["render", "r.yaml", "--ambience", "a" * 300 + ".mp3"], "File name too long"),
        (["render", "r.yaml", "--ambience", "folder"], "is a folder, not an audio file"),
        (["render", "r.yaml", "--ambience", "silent.wav", "-o", "x.wav"], "digital silence"),
    ],
    ids=["new-empty", "new-long", "bed-long", "bed-folder", "bed-silent"],
)
def test_small_faults_are_one_line(work: Path, runner, args: list[str], said: str) -> None:
    (work / "folder").mkdir()
    with wave.open(str(work / "silent.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(b"\0\0" * 44100 * 5)
    result = runner.invoke(main, args)
    assert result.exit_code != 0 and len(_lines(result)) == 1, result.output
    assert said in result.output
    assert not (work / ".yaml").exists() and not (work / "x.wav").exists()


def test_stdout_on_a_full_device_is_one_line() -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "voiceguide", "show", "lower-back-relax"],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "voiceguide: cannot write the output: No space left on device"
    ]
