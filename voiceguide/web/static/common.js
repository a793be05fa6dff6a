// Shared by the build page and the player: times, JSON calls, render progress.
"use strict";

/** 95.4 -> "1:35"; 3725 -> "1:02:05" (whole seconds, rounded down). */
function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
}

/** A JSON call; a non-2xx answer throws its one-line error (the command line's line). */
async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) {
    const error = new Error((data && data.error) || `voiceguide: ${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

/** Steps as list items: start time, title, and a state slot for render progress. */
function fillSteps(list, chapters, onPick) {
  list.replaceChildren();
  chapters.forEach((chapter, index) => {
    const li = document.createElement("li");
    const time = document.createElement("time");
    time.textContent = clock(chapter.start);
    const title = document.createElement("span");
    title.textContent = chapter.title;
    const state = document.createElement("span");
    state.className = "state";
    if (onPick) {
      const button = document.createElement("button");
      button.type = "button";
      button.append(time, title, state);
      button.addEventListener("click", () => onPick(index));
      li.append(button);
    } else {
      li.append(time, title, state);
    }
    list.append(li);
  });
}

/** Follow a render's server-sent events: marks steps done/working; resolves on done. */
function followRender(sessionId, list, bar, text) {
  return new Promise((resolve, reject) => {
    const source = new EventSource(`/api/sessions/${sessionId}/events`);
    const items = () => Array.from(list.children);
    source.addEventListener("progress", (event) => {
      const p = JSON.parse(event.data);
      bar.value = p.fraction;
      const what = { queued: "Waiting to start", speech: "Speaking", mix: "Mixing" }[p.stage] || p.stage;
      text.textContent = `${what}: ${p.title} (${Math.round(p.fraction * 100)} %)`;
      if (p.stage === "mix") {
        items().forEach((li, i) => {
          li.classList.toggle("done", i < p.step);
          li.classList.toggle("working", i === p.step);
          li.querySelector(".state").textContent = i < p.step ? "ready" : i === p.step ? "mixing" : "";
        });
      }
    });
    source.addEventListener("done", () => {
      source.close();
      bar.value = 1;
      items().forEach((li) => { li.className = "done"; li.querySelector(".state").textContent = "ready"; });
      resolve();
    });
    source.addEventListener("error", (event) => {
      if (event.data) {
        source.close();
        reject(new Error(JSON.parse(event.data).error));
      } else if (source.readyState === EventSource.CLOSED) {
        reject(new Error("voiceguide: lost the connection to the server"));
      }
    });
  });
}
