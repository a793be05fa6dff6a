// The build page: pick a routine and options, see the steps, render, then go to the player.
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("form"), errorLine = $("error"), preview = $("preview");
const fields = ["routine", "length", "pace", "voice", "rate", "ambience", "detail"];
let routines = [], planTimer = null, planned = null;

function request() {
  const body = {};
  for (const name of fields) {
    const value = $(name).value.trim();
    if (value) body[name] = value;
  }
  return body;
}

function option(value, label, disabled) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  o.disabled = Boolean(disabled);
  return o;
}

async function loadLists() {
  // Voices come last (the longest list): the form and the plan do not wait for them.
  api("/api/voices").then(fillVoices).catch(() => {});
  const [routineRows, beds] = await Promise.all([api("/api/routines"), api("/api/ambience")]);
  routines = routineRows;
  for (const r of routines) {
    const span = r.error ? " (broken)" : ` (${clock(r.min_seconds)}–${clock(r.max_seconds)})`;
    $("routine").append(option(r.id, r.title + span, r.error));
  }
  for (const b of beds) $("ambience").append(option(b.name, `${b.name}: ${b.description}`));
  $("ambience").append(option("none", "None (voice only)"));
  const wanted = new URLSearchParams(location.search).get("routine");
  const first = routines.find((r) => r.id === wanted && !r.error) || routines.find((r) => !r.error);
  if (first) $("routine").value = first.id;
  showRoutine();
}

function fillVoices(voices) {
  const english = voices.filter((v) => !v.variant && v.language.startsWith("en"));
  const others = voices.filter((v) => !v.variant && !v.language.startsWith("en"));
  for (const v of [...english, ...others]) $("voice").append(option(v.id, `${v.name} (${v.language})`));
}

function showRoutine() {
  const r = routines.find((x) => x.id === $("routine").value);
  $("routine-info").textContent = r ? (r.error || r.summary || "") : "";
  const broken = routines.filter((x) => x.error).map((x) => x.error);
  errorLine.textContent = broken.join("\n");
}

/** The steps with their times, from the server's plan (show --json for these options). */
async function refreshPlan() {
  try {
    planned = await api("/api/plan", request());
    fillSteps($("steps"), planned.chapters);
    $("total").textContent = clock(planned.duration);
    $("warnings").textContent = (planned.warnings || []).join(" ");
    errorLine.textContent = "";
    $("render").disabled = false;
  } catch (error) {
    planned = null;
    $("steps").replaceChildren();
    $("total").textContent = "";
    errorLine.textContent = error.message;
  }
}

function planSoon() {
  clearTimeout(planTimer);
  planTimer = setTimeout(refreshPlan, 250);
}

async function play(url, button) {
  button.disabled = true;
  errorLine.textContent = "";
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error((await response.json()).error);
    preview.src = URL.createObjectURL(await response.blob());
    await preview.play();
  } catch (error) {
    errorLine.textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

$("voice-preview").addEventListener("click", () => {
  const q = new URLSearchParams();
  if ($("voice").value) q.set("voice", $("voice").value);
  if ($("rate").value) q.set("rate", $("rate").value);
  play(`/api/voices/preview?${q}`, $("voice-preview"));
});
$("bed-preview").addEventListener("click", () => {
  const name = $("ambience").value || "river";
  if (name === "none") return;
  play(`/api/ambience/${encodeURIComponent(name)}/preview`, $("bed-preview"));
});

form.addEventListener("change", (event) => {
  if (event.target.id === "routine") showRoutine();
  planSoon();
});
$("length").addEventListener("input", planSoon);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  $("render").disabled = true;
  errorLine.textContent = "";
  try {
    const session = await api("/api/sessions", request());
    $("progress").hidden = false;
    await followRender(session.id, $("steps"), $("bar"), $("progress-text"));
    location.href = session.url;
  } catch (error) {
    errorLine.textContent = error.message;
    $("render").disabled = false;
  }
});

loadLists().then(refreshPlan).catch((error) => { errorLine.textContent = error.message; });
