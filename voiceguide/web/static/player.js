// The player: one <audio> element plays the rendered session; steps are seeks within it.
// The phone's lock screen and headset reach it through the Media Session API.
"use strict";

const $ = (id) => document.getElementById(id);
const audio = $("audio");
const sessionId = location.pathname.split("/").pop();
const RESTART_AFTER = 5;   // previous: restart the step when more than this far into it
const SKIP = 30;           // headset next with the setting on
const EPSILON = 0.01;      // a seek to a step's start counts as inside that step
let script = null, chapters = [], current = -1, currentTitle = "", wakeLock = null;

// ------------------------------------------------------------ where we are

function chapterAt(t) {
  let index = 0;
  for (let i = 0; i < chapters.length; i++) if (chapters[i].start <= t + EPSILON) index = i;
  return index;
}

function sideAt(index, t) {
  const chapter = chapters[index];
  const step = chapter.step === null ? null : script.steps[chapter.step];
  if (!step || !step.sides || !step.sides.length) return "";
  let side = step.sides[0];
  for (const cue of script.cues) {
    if (cue.kind === "side" && cue.side && cue.at >= chapter.start && cue.at <= t + EPSILON && cue.at < chapter.end) side = cue.side;
  }
  return side;
}

function mediaTitle(index, side) {
  return chapters[index].title + (side ? ` (${side} side)` : "");
}

// ------------------------------------------------------------ screen

function show() {
  if (!chapters.length) return;
  const t = audio.currentTime;
  const index = chapterAt(t);
  const chapter = chapters[index];
  const side = sideAt(index, t);
  $("step-title").textContent = chapter.title;
  $("step-count").textContent = `Step ${index + 1} of ${chapters.length}`;
  $("side").textContent = side ? `${side[0].toUpperCase()}${side.slice(1)} side` : "";
  $("left").textContent = clock(Math.ceil(chapter.end - t - 0.001));
  const after = chapters[index + 1];
  $("next").textContent = after ? `Next: ${after.title}` : "Last step";
  $("elapsed").textContent = clock(t);
  if (document.activeElement !== $("seek")) $("seek").value = Math.floor(t);
  if (index !== current) {
    Array.from($("steps").children).forEach((li, i) => {
      li.classList.toggle("current", i === index);
      const button = li.querySelector("button");
      if (i === index) button.setAttribute("aria-current", "step"); else button.removeAttribute("aria-current");
    });
  }
  const title = mediaTitle(index, side);
  if (index !== current || title !== currentTitle) {
    current = index;
    currentTitle = title;
    publish();
  }
}

function showPlaying() {
  const playing = !audio.paused;
  $("play").setAttribute("aria-label", playing ? "Pause" : "Play");
  $("icon-play").toggleAttribute("hidden", playing);  // SVG elements have no .hidden property
  $("icon-pause").toggleAttribute("hidden", !playing);
  if (playing) $("hint").textContent = "";
}

// ------------------------------------------------------------ moving

function seek(t) {
  audio.currentTime = Math.max(0, Math.min(t, audio.duration || script.duration));
  show();
  positionState();
}

function goTo(index) {
  seek(chapters[Math.max(0, Math.min(index, chapters.length - 1))].start);
}

function nextStep() {
  const index = chapterAt(audio.currentTime);
  if (index < chapters.length - 1) goTo(index + 1);
}

function previousStep() {
  const index = chapterAt(audio.currentTime);
  if (audio.currentTime - chapters[index].start > RESTART_AFTER || index === 0) goTo(index);
  else goTo(index - 1);
}

function headsetNext() {
  if ($("skip30").checked) seek(audio.currentTime + SKIP);
  else nextStep();
}

async function play() {
  try {
    await audio.play();
  } catch (error) {
    $("hint").textContent = "Tap Play to start";
  }
}

// ------------------------------------------------------------ the phone's media controls

function artwork() {
  const base = `${location.origin}/static`;
  return [
    { src: `${base}/artwork.png`, sizes: "512x512", type: "image/png" },
    { src: `${base}/artwork.svg`, sizes: "any", type: "image/svg+xml" },
  ];
}

/** Metadata and handlers for the lock screen and headset (again on every step change). */
function publish() {
  if (!("mediaSession" in navigator) || current < 0) return;
  const session = navigator.mediaSession;
  session.metadata = new MediaMetadata({
    title: currentTitle, album: script.title, artist: "voiceguide", artwork: artwork(),
  });
  session.setActionHandler("play", () => play());
  session.setActionHandler("pause", () => audio.pause());
  session.setActionHandler("previoustrack", () => previousStep());
  session.setActionHandler("nexttrack", current < chapters.length - 1 ? () => headsetNext() : null);
  // Not registered on purpose: on iOS they would take the lock screen's previous/next slots.
  for (const action of ["seekforward", "seekbackward"]) {
    try { session.setActionHandler(action, null); } catch (error) { /* unsupported */ }
  }
  positionState();
}

function positionState() {
  if (!("mediaSession" in navigator) || !navigator.mediaSession.setPositionState) return;
  const duration = audio.duration;
  if (!Number.isFinite(duration) || duration <= 0) return;
  navigator.mediaSession.setPositionState({
    duration, playbackRate: audio.playbackRate || 1, position: Math.min(audio.currentTime, duration),
  });
}

// ------------------------------------------------------------ screen awake (secure contexts only)

async function keepAwake() {
  if (!$("wake").checked || audio.paused || document.visibilityState !== "visible") return;
  try { wakeLock = await navigator.wakeLock.request("screen"); } catch (error) { wakeLock = null; }
}

function releaseAwake() {
  if (wakeLock) wakeLock.release().catch(() => {});
  wakeLock = null;
}

// ------------------------------------------------------------ start

function wire() {
  $("play").addEventListener("click", () => (audio.paused ? play() : audio.pause()));
  $("next-step").addEventListener("click", nextStep);
  $("prev").addEventListener("click", previousStep);
  $("seek").addEventListener("change", () => seek(Number($("seek").value)));
  audio.addEventListener("timeupdate", show);
  audio.addEventListener("seeked", () => { show(); positionState(); });
  audio.addEventListener("play", showPlaying);
  audio.addEventListener("pause", () => { showPlaying(); positionState(); releaseAwake(); });
  audio.addEventListener("playing", () => { publish(); showPlaying(); keepAwake(); });
  audio.addEventListener("ratechange", positionState);
  audio.addEventListener("loadedmetadata", () => {
    $("seek").max = Math.floor(audio.duration);
    $("total").textContent = clock(audio.duration);
    positionState();
  });
  audio.addEventListener("error", () => { $("error").textContent = "voiceguide: the audio could not be loaded"; });
  $("skip30").checked = localStorage.getItem("voiceguide.skip30") === "1";
  $("skip30").addEventListener("change", () => localStorage.setItem("voiceguide.skip30", $("skip30").checked ? "1" : "0"));
  if (window.isSecureContext && "wakeLock" in navigator) {
    $("wake-row").hidden = false;
    $("wake").addEventListener("change", () => ($("wake").checked ? keepAwake() : releaseAwake()));
    document.addEventListener("visibilitychange", keepAwake);
  }
}

async function load() {
  let data;
  try {
    data = await api(`/api/sessions/${sessionId}`);
  } catch (error) {
    if (error.status !== 409 || error.message.includes("failed")) throw error;
    $("rendering").hidden = false;
    $("step-title").textContent = "Rendering…";
    await followRender(sessionId, $("steps"), $("bar"), $("progress-text"));
    $("rendering").hidden = true;
    data = await api(`/api/sessions/${sessionId}`);
  }
  script = data;
  chapters = script.chapters;
  document.title = `${script.title} – voiceguide`;
  $("routine-title").textContent = script.title;
  fillSteps($("steps"), chapters, (index) => goTo(index));
  const base = `/api/sessions/${sessionId}`;
  const stem = script.routine_id || "session";
  $("dl-audio").href = `${base}/audio`; $("dl-audio").download = `${stem}.mp3`;
  $("dl-subtitles").href = `${base}/subtitles.vtt`; $("dl-subtitles").download = `${stem}.vtt`;
  $("dl-script").href = `${base}/script.json`; $("dl-script").download = `${stem}.json`;
  audio.src = `${base}/audio`;
  for (const id of ["play", "prev", "next-step"]) $(id).disabled = false;
  $("hint").textContent = "Tap Play to start";
  $("total").textContent = clock(script.duration);
  show();
}

wire();
load().catch((error) => { $("error").textContent = error.message; $("step-title").textContent = ""; });
