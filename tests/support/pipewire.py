"""A private PipeWire (with WirePlumber) whose only sink writes what it plays into a FIFO.

Started by the test (or the benchmark) itself, like ``support.pulse``: its own
runtime folder, HOME and config, nothing of the machine's sound setup touched,
no systemd and no D-Bus. ALSA clients (PortAudio, simpleaudio, aplay) reach it
through ``pipewire-alsa`` (``pcm.!default { type pipewire }``), as on a Debian 12
desktop (Debian's pipewire-alsa conflicts with pulseaudio, so unless it is
installed, ``scripts/setup.sh --dev`` unpacks its plugin into the venv and the
private ``.asoundrc`` names it).

What runs, and why (measured here, Debian 12, PipeWire 0.3.65, WirePlumber 0.4.13):

- ``pipewire`` with Debian's own ``pipewire.conf`` (graph at 48 kHz, quantum
  1024, the timer-driven Dummy-Driver as the clock: no sound card here) plus a
  drop-in that loads ``module-pipe-tunnel`` with ``tunnel.mode = sink``: an
  ``Audio/Sink`` that writes every sample it plays, 16-bit stereo 44.1 kHz,
  into a FIFO. That is the recording: exactly what the sink played, converted
  back to 44.1 kHz by PipeWire's own resampler (44.1 -> 48 -> 44.1 kHz, so the
  comparison is by level, not by bit). A monitor source is not needed.
- A session manager is needed: without one a client stream gets neither ports
  nor links (``pw-link -io`` lists nothing; aplay blocks). WirePlumber's stock
  config needs a D-Bus session bus (it disconnects right after "Error acquiring
  bus address"), so it runs on a private config (``WIREPLUMBER_CONFIG_DIR``):
  Debian's policy scripts (they link every new stream to the default sink)
  and stream/device defaults, without the ALSA/V4L2/libcamera monitors,
  Bluetooth (logind) and the Flatpak portal, the parts that want D-Bus or
  hardware. It links a new ALSA stream to the sink in well under a second.
- The recorder reads the FIFO with the pipe enlarged to 1 MiB (six seconds):
  the module writes without blocking and drops what does not fit, so a reader
  held up by a loaded machine must not cost samples the sink did play.

Streams are counted as ``Stream/Output/Audio`` nodes by their ``object.serial``
(ids are reused, serials are not): the counterpart of PulseAudio's sink inputs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .pulse import compare, levels_db, streams_seen

RATE = 44100
TOOLS = ("pipewire", "wireplumber", "pw-cli", "pw-link")
WIREPLUMBER_SHARE = Path("/usr/share/wireplumber")

SINK_CONF = """context.modules = [
    {{ name = libpipewire-module-pipe-tunnel
      args = {{ tunnel.mode = sink pipe.filename = "{fifo}"
               audio.format = S16LE audio.rate = {rate} audio.channels = 2
               audio.position = [ FL FR ]
               stream.props = {{ node.name = out node.description = "recorded sink" }} }} }}
]
"""

WIREPLUMBER_CONF = """context.properties = { log.level = 2 }
context.spa-libs = {
  audio.convert.* = audioconvert/libspa-audioconvert
  support.*       = support/libspa-support
}
context.modules = [
  { name = libpipewire-module-protocol-native }
  { name = libpipewire-module-client-node }
  { name = libpipewire-module-client-device }
  { name = libpipewire-module-adapter }
  { name = libpipewire-module-metadata }
  { name = libpipewire-module-session-manager }
]
wireplumber.components = [
  { name = libwireplumber-module-lua-scripting, type = module }
  { name = main.lua, type = config/lua }
  { name = policy.lua, type = config/lua }
]
"""

# Debian's main.lua.d/90-enable-all.lua without the device monitors and the portal.
WIREPLUMBER_ENABLE = """load_module("metadata")
load_access("default")
device_defaults.enable()
stream_defaults.enable()
"""

# Reads the FIFO into a file; the pipe made big enough to ride out a loaded machine,
# and whatever an earlier recording left in it thrown away first.
RECORDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ
try:
    while os.read(fd, 1 << 16):
        pass
except BlockingIOError:
    pass
os.set_blocking(fd, True)
with open(sys.argv[2], "wb", buffering=0) as out:
    print("ready", flush=True)
    while data := os.read(fd, 1 << 16):
        out.write(data)
"""


# The old player's block chain (voiceguide/player.py before the one-stream sink):
# block k covers BLOCK + OVERLAP samples from k * BLOCK, sin² in and cos² out over
# OVERLAP, and is handed to simpleaudio at its own deadline, k * BLOCK after the start.
BLOCK_CHAIN = """
import sys, time
import numpy as np
import simpleaudio
BLOCK, OVERLAP = 8820, 2205
stream = np.load(sys.argv[1]).astype(np.float32) / 32767
x = (np.arange(OVERLAP) + 0.5) / OVERLAP
fade_in, fade_out = np.sin(0.5 * np.pi * x) ** 2, np.cos(0.5 * np.pi * x) ** 2
meant, live = np.zeros((len(stream) + BLOCK + OVERLAP, 2), np.float32), []
start = time.monotonic() + 0.1
for k, at in enumerate(range(0, len(stream) - OVERLAP, BLOCK)):
    block = np.zeros((BLOCK + OVERLAP, 2), np.float32)
    part = stream[at : at + BLOCK + OVERLAP]
    block[: len(part)] = part
    block[:OVERLAP] *= fade_in[:, None]
    block[-OVERLAP:] *= fade_out[:, None]
    meant[at : at + len(block)] += block
    time.sleep(max(0.0, start + k * BLOCK / 44100 - time.monotonic()))
    pcm = np.round(block * 32767).astype(np.int16)
    live.append(simpleaudio.play_buffer(np.ascontiguousarray(pcm), 2, 2, 44100))
    live = [obj for obj in live if obj.is_playing()]
for obj in live:
    obj.wait_done()
np.save(sys.argv[2], meant)
"""


def alsa_plugins() -> Path | None:
    """Where ALSA's pipewire plugin is: installed (pipewire-alsa), or unpacked by setup.sh.

    Debian 12's pipewire-alsa conflicts with pulseaudio (both claim ALSA's default
    device), so beside the PulseAudio tests setup.sh unpacks the plugin into the venv.
    """
    unpacked = Path(sys.prefix) / "lib" / "alsa-pipewire"
    for folder in [*Path("/usr/lib").glob("*/alsa-lib"), unpacked]:
        if (folder / "libasound_module_pcm_pipewire.so").exists():
            return folder
    return None


def available() -> str | None:
    """Why a private PipeWire cannot run here, or None."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return "missing " + ", ".join(missing) + " (bash scripts/setup.sh --dev installs them)"
    if alsa_plugins() is None:
        return "ALSA's pipewire plugin is missing (bash scripts/setup.sh --dev unpacks it)"
    if not list(Path("/usr/lib").glob("*/pipewire-0.3/libpipewire-module-pipe-tunnel.so")):
        return "PipeWire's pipe-tunnel module is missing (libpipewire-0.3-modules)"
    if not (WIREPLUMBER_SHARE / "policy.lua.d").is_dir():
        return "WirePlumber's policy scripts are missing (wireplumber)"
    return None


class PrivatePipeWire:
    """``with PrivatePipeWire(folder) as pw:`` a sound server only this process tree uses."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.home = folder / "home"
        self.run = folder / "run"
        self.fifo = folder / "sink.fifo"
        self.procs: list[subprocess.Popen] = []
        self.env: dict[str, str] = {}

    def __enter__(self) -> PrivatePipeWire:
        config = self.folder / "config"
        dropins = config / "pipewire" / "pipewire.conf.d"
        for folder in (self.home, dropins, self.folder / "state"):
            folder.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        self.run.chmod(0o700)
        if not self.fifo.exists():
            os.mkfifo(self.fifo)
        (dropins / "voiceguide-sink.conf").write_text(SINK_CONF.format(fifo=self.fifo, rate=RATE))
        wireplumber = self._wireplumber_config(self.folder / "wireplumber")
        plugins = alsa_plugins()
        (self.home / ".asoundrc").write_text(
            f'pcm_type.pipewire {{ lib "{plugins}/libasound_module_pcm_pipewire.so" }}\n'
            f'ctl_type.pipewire {{ lib "{plugins}/libasound_module_ctl_pipewire.so" }}\n'
            "pcm.!default { type pipewire }\nctl.!default { type pipewire }\n"
        )
        # Clients: only the runtime folder (the socket) and HOME (.asoundrc) are theirs.
        self.env = {**os.environ, "HOME": str(self.home), "XDG_RUNTIME_DIR": str(self.run)}
        for name in ("PIPEWIRE_REMOTE", "PIPEWIRE_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS"):
            self.env.pop(name, None)
        server = {**self.env, "XDG_CONFIG_HOME": str(config),
                  "XDG_STATE_HOME": str(self.folder / "state")}  # fmt: skip
        try:
            self._start(["pipewire"], server, "pipewire.log")
            self._wait(lambda: (self.run / "pipewire-0").is_socket(), "pipewire's socket")
            self._start(["wireplumber"], {**server, "WIREPLUMBER_CONFIG_DIR": str(wireplumber)},
                        "wireplumber.log")  # fmt: skip
            self._wait(lambda: "playback_FL" in self._ports(), "the sink's ports (wireplumber)")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs = []

    @staticmethod
    def _wireplumber_config(folder: Path) -> Path:
        main, policy = folder / "main.lua.d", folder / "policy.lua.d"
        main.mkdir(parents=True, exist_ok=True)
        policy.mkdir(parents=True, exist_ok=True)
        (folder / "wireplumber.conf").write_text(WIREPLUMBER_CONF)
        for name in ("00-functions.lua", "40-device-defaults.lua", "40-stream-defaults.lua"):
            shutil.copy(WIREPLUMBER_SHARE / "main.lua.d" / name, main / name)
        (main / "90-enable.lua").write_text(WIREPLUMBER_ENABLE)
        for script in (WIREPLUMBER_SHARE / "policy.lua.d").glob("*.lua"):
            shutil.copy(script, policy / script.name)
        return folder

    def _start(self, cmd: list[str], env: dict[str, str], log: str) -> None:
        with (self.folder / log).open("w") as out:
            self.procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=out))

    def _wait(self, ready, what: str, timeout: float = 15) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    logs = " | ".join(p.read_text()[-400:] for p in self.folder.glob("*.log"))
                    raise RuntimeError(f"{proc.args[0]} exited: {logs}")
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"no {what} within {timeout:.0f} s")

    def _ports(self) -> str:
        out = subprocess.run(["pw-link", "-i"], env=self.env, capture_output=True, text=True)
        return out.stdout

    def record(self, path: Path) -> subprocess.Popen:
        """Start recording what the sink plays, raw 16-bit stereo (stop with terminate)."""
        proc = subprocess.Popen([sys.executable, "-c", RECORDER, str(self.fifo), str(path)],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    @contextmanager
    def recording(self, path: Path) -> Iterator[set[str]]:
        """Record the sink into ``path``; collect the playback streams seen meanwhile."""
        recorder = self.record(path)
        try:
            with streams_seen(self.streams) as seen:
                yield seen
                time.sleep(0.5)  # the server's last cycles reach the FIFO, and the recorder
        finally:
            recorder.terminate()
            recorder.wait()

    def streams(self) -> set[str]:
        """The serials of the playback streams the server has now."""
        out = subprocess.run(["pw-cli", "ls", "Node"], env=self.env, capture_output=True,
                             text=True).stdout  # fmt: skip
        found = set()
        for node in re.split(r"\n\s*id \d+, ", out):
            serial = re.search(r'object\.serial = "(\d+)"', node)
            if serial and 'media.class = "Stream/Output/Audio"' in node:
                found.add(serial.group(1))
        return found


def join_dips(recording: np.ndarray, meant: np.ndarray, lag: int, block: int = 8820) -> np.ndarray:
    """The lowest 10 ms level against the meant one (dB) in every ``block`` of samples.

    For the old chain of one-shot buffers each block holds one join; aligned by
    ``lag`` (from ``pulse.compare``). Blocks where nothing was meant are left out.
    """
    rec = recording[:, 0].astype(np.float64) / 32767
    got = rec[max(lag, 0) : max(lag, 0) + len(meant)]
    got = np.concatenate([got, np.zeros(max(0, len(meant) - len(got)))])
    a, b = levels_db(got), levels_db(meant[:, 0].astype(np.float64))
    hops = block // (RATE // 100)
    n = len(b) // hops * hops
    diff = np.where(b[:n] > -60, a[:n] - b[:n], np.inf).reshape(-1, hops).min(axis=1)
    return diff[np.isfinite(diff)]


def judge(path: Path, meant: np.ndarray, seen: set[str], joins: bool = False) -> dict:
    """A recording of the sink against what was meant (``pulse.compare``), and the streams.

    ``joins``: also how deep the level dips at each 0.2 s block's join.
    """
    recording = np.fromfile(path, dtype="<i2").reshape(-1, 2)
    report: dict = {**compare(recording, meant), "streams": len(seen)}
    if joins:
        dips = join_dips(recording, meant, report["lag_samples"])
        report.update(joins=len(dips), join_dip_median_db=round(float(np.median(dips)), 2),
                      joins_below_3db=round(float(np.mean(dips < -3)), 3),
                      joins_below_6db=round(float(np.mean(dips < -6)), 3))  # fmt: skip
    return report


def write_wav(path: Path, samples: np.ndarray) -> None:
    """Float stereo samples as a 16-bit WAV (for aplay, the C control)."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.round(samples * 32767).astype("<i2").tobytes())
