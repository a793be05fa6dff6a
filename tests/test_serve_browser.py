"""The serve page in a real browser: Debian's chromium driven by Playwright, MPRIS on a private bus.

Headless Chromium plays ``<audio>`` on a fake sink in real time and publishes the page's media
session as an MPRIS player on the D-Bus session bus; ``gdbus`` calls on that player are what a
headset button or media key becomes on Linux.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
playwright = pytest.importorskip("playwright.sync_api")

from support.served import Served  # noqa: E402

CHROMIUM = Path("/usr/lib/chromium/chromium")
REPO = Path(__file__).resolve().parent.parent
ARTEFACTS = REPO / "tmp" / "pytest"
HOST_NAME = "voiceguide.test"  # mapped to 127.0.0.1 by the browser: a plain-http, non-secure origin
PHONE = {"width": 390, "height": 844}

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (bash scripts/setup.sh --dev)",
                allow_module_level=True)  # fmt: skip

#: Records what the page registers with the Media Session, and every seek it asks for (the time
#: it sets, before playback moves on from it).
PROBE = """
window.__handlers = {};
if (window.MediaSession) {
  const original = MediaSession.prototype.setActionHandler;
  MediaSession.prototype.setActionHandler = function (action, handler) {
    window.__handlers[action] = handler ? "set" : "null";
    return original.call(this, action, handler);
  };
}
window.__seeks = [];
const time = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, "currentTime");
Object.defineProperty(HTMLMediaElement.prototype, "currentTime", {
  configurable: true,
  get() { return time.get.call(this); },
  set(value) { window.__seeks.push(value); time.set.call(this, value); },
});
"""

#: Tries to start playback without a tap, as a page would that autoplays.
AUTOPLAY = """
document.addEventListener("loadedmetadata", (event) => {
  if (event.target.id !== "audio") return;
  event.target.play().then(() => console.log("autoplay: played"),
                           (error) => console.log(`autoplay: ${error.name}`));
}, true);
"""


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private D-Bus session bus (the machine's own is never touched)."""
    folder = tmp_path_factory.mktemp("dbus")
    out = subprocess.run(
        ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1",
         f"--address=unix:path={folder}/bus"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    address, pid = out.stdout.split()[:2]
    yield address
    os.kill(int(pid), signal.SIGTERM)


@pytest.fixture(scope="module")
def pw() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(pw: Any, bus: str) -> Iterator[Any]:
    """Autoplay allowed (tests need no taps), voiceguide.test -> 127.0.0.1, MPRIS on our bus."""
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus}
    browser = pw.chromium.launch(
        executable_path=str(CHROMIUM), env=env,
        args=["--autoplay-policy=no-user-gesture-required",
              f"--host-resolver-rules=MAP {HOST_NAME} 127.0.0.1"],
    )  # fmt: skip
    yield browser
    browser.close()


@pytest.fixture
def strict_browser(pw: Any) -> Iterator[Any]:
    """Chromium's default autoplay policy: playback needs a tap.

    A fresh browser for each test: a tap on the origin in one context can let media on
    the same origin autoplay in another.

    Playwright's default headless mode (the old headless shell) lets media autoplay;
    the new headless mode is the real browser and keeps the real default policy.
    """
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--headless=new"])
    yield browser
    browser.close()


def open_page(browser: Any, served: Served, path: str, host: str = "127.0.0.1",
              probes: tuple[str, ...] = (PROBE,), throttle: int | None = None) -> Any:  # fmt: skip
    """``throttle``: the page's download speed in bytes a second (Chromium's own emulation)."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    page = context.new_page()
    if throttle is not None:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": throttle,
            "uploadThroughput": -1,
        })  # fmt: skip
    for probe in probes:
        page.add_init_script(probe)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.errors = errors
    sep = "&" if "?" in path else "?"
    page.goto(f"http://{host}:{served.port}{path}{sep}token={served.token}")
    return page


def open_player(
    browser: Any, served: Served, session_id: str, host: str = "127.0.0.1",
    probes: tuple[str, ...] = (PROBE,), throttle: int | None = None,
) -> Any:  # fmt: skip
    page = open_page(browser, served, f"/session/{session_id}", host, probes, throttle)
    page.wait_for_function("typeof chapters !== 'undefined' && chapters.length > 0")
    page.wait_for_function("audio.readyState >= 1")
    return page


def state(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => ({
        t: audio.currentTime, paused: audio.paused, starts: chapters.map(c => c.start),
        title: navigator.mediaSession.metadata && navigator.mediaSession.metadata.title,
        album: navigator.mediaSession.metadata && navigator.mediaSession.metadata.album,
        artist: navigator.mediaSession.metadata && navigator.mediaSession.metadata.artist,
        handlers: window.__handlers, step: document.getElementById('step-title').textContent,
        seek: window.__seeks[window.__seeks.length - 1],
    })""")


def wait_playing(page: Any, beyond: float = 0.3) -> None:
    start = page.evaluate("audio.currentTime")
    page.wait_for_function(f"!audio.paused && audio.currentTime > {start + beyond}", timeout=10_000)


# ---------------------------------------------------------------- the whole path, as a user


def test_a_session_renders_and_plays_from_the_page(strict_browser: Any, served: Served) -> None:
    page = open_page(strict_browser, served, "/?routine=serve-test.yaml", probes=())
    page.wait_for_selector("#steps li")
    assert page.evaluate("document.cookie") == ""  # HttpOnly: the page's scripts never see it
    page.select_option("#pace", "1.3")  # a session not rendered yet
    page.wait_for_timeout(400)  # the plan refreshes
    planned = page.locator("#steps li").all_inner_texts()
    assert planned[0].startswith("0:00") and "Spread the oil" in planned[1]
    page.get_by_role("button", name="Render").click()
    page.wait_for_selector("#progress:not([hidden])")
    page.wait_for_url(re.compile(r"/session/\w+$"), timeout=60_000)
    page.wait_for_function("typeof chapters !== 'undefined' && chapters.length > 0")
    page.get_by_role("button", name="Play").click()
    wait_playing(page)
    assert page.get_by_role("button", name="Pause").is_visible()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "serve-player-390x844.png"))
    assert not page.errors
    page.context.close()


def test_playback_needs_a_tap_under_the_default_policy(
    strict_browser: Any, served: Served, rendered: str
) -> None:
    """The page cannot start itself, and Play works. Nothing is evaluated in the page before
    the autoplay attempt: Playwright's evaluate and wait_for_function count as a user gesture."""
    context = strict_browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.add_init_script(AUTOPLAY)
    with page.expect_console_message(lambda m: m.text.startswith("autoplay:")) as message:
        page.goto(f"{served.base}/session/{rendered}?token={served.token}")
    assert message.value.text == "autoplay: NotAllowedError"
    assert page.evaluate("audio.paused && audio.currentTime === 0")
    assert page.locator("#hint").inner_text() == "Tap Play to start"
    page.get_by_role("button", name="Play").click()  # a real tap (mouse event), not a script
    wait_playing(page)
    context.close()


# ---------------------------------------------------------------- steps and the media session


def test_next_and_previous_land_on_step_starts(browser: Any, served: Served, rendered: str) -> None:
    page = open_player(browser, served, rendered)
    page.get_by_role("button", name="Play").click()
    wait_playing(page)
    s = state(page)
    starts = s["starts"]
    assert s["title"] == "Introduction" and s["album"] == "Serve test session"
    assert s["artist"] == "voiceguide"
    assert s["handlers"].get("seekforward") in (None, "null")
    assert s["handlers"].get("seekbackward") in (None, "null")
    page.get_by_role("button", name="Next step").click()
    s = state(page)
    assert abs(s["seek"] - starts[1]) < 0.05 and s["title"] == "Spread the oil"
    wait_playing(page)
    page.get_by_role("button", name="Previous step").click()  # under 5 s in: the step before
    assert abs(state(page)["seek"] - starts[0]) < 0.05
    page.evaluate(f"seek({starts[2] + 6})")
    s = state(page)
    assert s["title"] == "Strokes beside the spine (left side)"
    page.get_by_role("button", name="Previous step").click()  # over 5 s in: restart the step
    s = state(page)
    assert abs(s["seek"] - starts[2]) < 0.05
    side_cue = page.evaluate("script.cues.find(c => c.kind === 'side').at")
    page.evaluate(f"seek({side_cue + 0.5})")
    assert state(page)["title"] == "Strokes beside the spine (right side)"
    assert page.locator("#side").inner_text() == "Right side"
    assert state(page)["handlers"]["nexttrack"] == "set"
    page.locator("#steps li").last.click()  # the list of steps: tap the last one
    s = state(page)
    assert abs(s["seek"] - starts[-1]) < 0.05 and s["title"] == "Closing"
    assert s["handlers"]["nexttrack"] == "null"
    assert page.locator("#next").inner_text() == "Last step"
    assert not page.errors
    page.context.close()


def test_controls_are_big_and_named(browser: Any, served: Served, rendered: str) -> None:
    page = open_player(browser, served, rendered)
    for name in ("Play", "Next step", "Previous step"):
        box = page.get_by_role("button", name=name, exact=True).bounding_box()
        assert box["width"] >= 48 and box["height"] >= 48, name
    assert page.locator(".controls svg").count() >= 3  # inline SVG icons, no symbol glyphs
    left = page.locator("#left")
    assert float(left.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 48
    links = page.locator("nav.downloads a")
    assert links.count() == 3
    for href in links.evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        assert page.evaluate(f"fetch('{href}', {{method: 'HEAD'}}).then(r => r.status)") == 200
    page.get_by_text("Settings").click()
    assert page.get_by_label("Keep the screen awake while playing").is_visible()  # secure context
    assert page.get_by_label("Headset “next” skips 30 seconds", exact=False).is_visible()
    page.context.close()


def test_page_steps_equal_the_mp3_chapters(browser: Any, served: Served, rendered: str) -> None:
    from mutagen.id3 import ID3

    page = open_player(browser, served, rendered)
    starts = state(page)["starts"]
    tag = ID3(served.store / rendered / "session.mp3")
    chapters = sorted(tag.getall("CHAP"), key=lambda c: c.start_time)
    assert len(chapters) == len(starts)
    for chap, start in zip(chapters, starts, strict=True):
        assert abs(chap.start_time - start * 1000) <= 1
    page.context.close()


def test_seeking_to_the_last_step_makes_a_range_request(
    browser: Any, served: Served, rendered: str
) -> None:
    # On loopback the browser could have the whole short file before the click, and then
    # it needs no range request: the download is held to a phone's slow 64 KB a second.
    ranges: list[str] = []
    page = open_player(browser, served, rendered, throttle=64_000)
    page.on("request", lambda r: ranges.append(r.headers.get("range", ""))
            if r.url.endswith("/audio") else None)  # fmt: skip
    page.locator("#steps li").last.click()
    page.wait_for_function("!audio.seeking")
    page.get_by_role("button", name="Play").click()
    wait_playing(page, 0.2)
    offsets = [int(m.group(1)) for r in ranges if (m := re.match(r"bytes=(\d+)-", r))]
    assert any(offset > 0 for offset in offsets), ranges
    page.context.close()


def test_plays_from_a_non_secure_origin(browser: Any, served: Served, rendered: str) -> None:
    page = open_player(browser, served, rendered, host=HOST_NAME)
    assert page.evaluate("location.hostname") == HOST_NAME
    assert page.evaluate("window.isSecureContext") is False
    page.get_by_text("Settings").click()
    assert not page.locator("#wake-row").is_visible()  # no Wake Lock over plain http
    page.get_by_role("button", name="Play").click()
    wait_playing(page)
    assert state(page)["title"] == "Introduction"
    page.context.close()


# ---------------------------------------------------------------- the headset, through MPRIS


def _gdbus(bus: str, *args: str) -> str:
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus}
    return subprocess.run(["gdbus", "call", "--session", *args], env=env, check=True,
                          capture_output=True, text=True, timeout=10).stdout  # fmt: skip


def _player(bus: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        names = _gdbus(
            bus,
            "--dest",
            "org.freedesktop.DBus",
            "--object-path",
            "/org/freedesktop/DBus",
            "--method",
            "org.freedesktop.DBus.ListNames",
        )
        found = re.findall(r"'(org\.mpris\.MediaPlayer2\.[^']+)'", names)
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError("no MPRIS player appeared on the private bus")


def _mpris(bus: str, name: str, method: str) -> None:
    _gdbus(bus, "--dest", name, "--object-path", "/org/mpris/MediaPlayer2", "--method",
           f"org.mpris.MediaPlayer2.Player.{method}")  # fmt: skip


def _property(bus: str, name: str, prop: str) -> str:
    return _gdbus(
        bus,
        "--dest",
        name,
        "--object-path",
        "/org/mpris/MediaPlayer2",
        "--method",
        "org.freedesktop.DBus.Properties.Get",
        "org.mpris.MediaPlayer2.Player",
        prop,
    )


def _position(bus: str, name: str) -> float:
    return int(re.search(r"int64 (\d+)", _property(bus, name, "Position")).group(1)) / 1e6


@pytest.mark.skipif(not shutil.which("gdbus"), reason="gdbus (libglib2.0-bin) is not installed")
def test_headset_buttons_through_mpris(browser: Any, bus: str, served: Served,
                                       rendered: str) -> None:  # fmt: skip
    page = open_player(browser, served, rendered)
    starts = state(page)["starts"]
    page.get_by_role("button", name="Play").click()
    wait_playing(page)
    name = _player(bus)
    _mpris(bus, name, "Next")
    page.wait_for_function(f"Math.abs(audio.currentTime - {starts[1]}) < 0.3")
    assert abs(state(page)["seek"] - starts[1]) < 0.05
    page.wait_for_function("navigator.mediaSession.metadata.title === 'Spread the oil'")
    deadline = time.monotonic() + 5
    while "Spread the oil" not in _property(bus, name, "Metadata") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Spread the oil" in _property(bus, name, "Metadata")
    _mpris(bus, name, "Previous")  # under 5 s into the step: the step before
    page.wait_for_function(f"audio.currentTime < {starts[1]}")
    assert abs(state(page)["seek"] - starts[0]) < 0.05
    _mpris(bus, name, "PlayPause")
    page.wait_for_function("audio.paused")
    _mpris(bus, name, "PlayPause")
    page.wait_for_function("!audio.paused")
    page.evaluate(f"seek({starts[2] + 6})")
    _mpris(bus, name, "Previous")  # over 5 s into the step: back to its start
    page.wait_for_function(f"audio.currentTime < {starts[2] + 3}")
    assert abs(state(page)["seek"] - starts[2]) < 0.05
    deadline = time.monotonic() + 5
    while abs(_position(bus, name) - page.evaluate("audio.currentTime")) > 0.5:
        assert time.monotonic() < deadline, "MPRIS Position does not follow the page"
        time.sleep(0.1)
    assert "mpris:artUrl" in _property(bus, name, "Metadata")  # the artwork reached the OS
    page.get_by_text("Settings").click()
    page.get_by_label("Headset “next” skips 30 seconds", exact=False).check()
    before = page.evaluate("audio.currentTime")
    _mpris(bus, name, "Next")  # now 30 s on, not the next step
    page.wait_for_function(f"audio.currentTime > {before + 20}")
    # 30 s on; the browser keeps times to the microsecond, so 30 can read 29.999999
    assert 29.999 <= state(page)["seek"] - before < 30.5
    page.locator("#steps li").last.click()
    deadline = time.monotonic() + 5
    while "true" in _property(bus, name, "CanGoNext") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "false" in _property(bus, name, "CanGoNext")  # nexttrack is null on the last step
    page.context.close()
