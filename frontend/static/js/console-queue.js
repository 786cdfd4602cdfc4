// The flag queue, live: Server-Sent Events say when the queue changed, and the
// list is fetched again and swapped in without a reload. Without EventSource,
// or when it keeps failing, the list is polled every 20 seconds instead.
const POLL_MS = 20000;
const MAX_FAILURES = 3;
const SOUND_KEY = "aftercare.console.queue-sound";

const announcer = document.getElementById("queue-announce");
const tools = document.getElementById("queue-tools");
const sound = document.getElementById("queue-sound");
const currentList = () => document.getElementById("queue-list");
const baseTitle = document.title.replace(/^\(\d+\) /, "");

let refreshing = null;
let again = false;
let polling = null;
let audio = null;

function setTitle(redOpen) {
  document.title = redOpen > 0 ? `(${redOpen}) ${baseTitle}` : baseTitle;
}

function announce(text) {
  // Emptied first, so the same words twice are announced twice.
  announcer.textContent = "";
  setTimeout(() => { announcer.textContent = text; }, 50);
}

function beep() {
  if (!sound || !sound.checked) return;
  audio ??= new AudioContext();
  const start = audio.currentTime;
  const tone = audio.createOscillator();
  const volume = audio.createGain();
  tone.type = "sine";
  tone.frequency.value = 880;
  volume.gain.setValueAtTime(0.0001, start);
  volume.gain.exponentialRampToValueAtTime(0.3, start + 0.02);
  volume.gain.exponentialRampToValueAtTime(0.0001, start + 0.35);
  tone.connect(volume).connect(audio.destination);
  tone.start(start);
  tone.stop(start + 0.4);
}

// What the nurse was doing inside the list: focus, an open resolve form, a
// chosen outcome, a note being typed. It survives the swap for cards still there.
function keepState(list) {
  const active = document.activeElement;
  return {
    focused: active && list.contains(active) && active.id ? active.id : null,
    focusInList: Boolean(active && list.contains(active)),
    open: [...list.querySelectorAll("details[open][id]")].map((node) => node.id),
    checked: [...list.querySelectorAll("input[type=radio]:checked[id]")].map((node) => node.id),
    notes: [...list.querySelectorAll("textarea[id]")]
      .filter((node) => node.value)
      .map((node) => [node.id, node.value]),
  };
}

function restoreState(list, state) {
  for (const id of state.open) {
    const node = document.getElementById(id);
    if (node) node.open = true;
  }
  for (const id of state.checked) {
    const node = document.getElementById(id);
    if (node) node.checked = true;
  }
  for (const [id, value] of state.notes) {
    const node = document.getElementById(id);
    if (node) node.value = value;
  }
  const target = state.focused && document.getElementById(state.focused);
  if (target) target.focus();
  else if (state.focusInList) list.focus();
}

async function refresh() {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      again = false;
      const old = currentList();
      const offset = old.dataset.offset || "0";
      const response = await fetch(`/console/queue/list?offset=${encodeURIComponent(offset)}`, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (response.redirected) {
        // Signed out (inactivity, or elsewhere): show the sign-in page.
        window.location.assign(response.url);
        return;
      }
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("queue-list");
      if (!fresh || fresh.dataset.version === old.dataset.version) continue;
      const state = keepState(old);
      const before = { red: Number(old.dataset.red), total: Number(old.dataset.total) };
      const adopted = document.adoptNode(fresh);
      old.replaceWith(adopted);
      restoreState(adopted, state);
      const red = Number(adopted.dataset.red);
      const total = Number(adopted.dataset.total);
      setTitle(Number(adopted.dataset.redOpen));
      if (red > before.red) {
        announce(announcer.dataset.newRed);
        beep();
      } else if (total > before.total) {
        announce(announcer.dataset.newFlag);
      }
    } while (again);
  })();
  try {
    await refreshing;
  } catch {
    // The network is down for a moment: the next event or poll tries again.
  } finally {
    refreshing = null;
  }
}

function startPolling() {
  if (polling) return;
  document.documentElement.dataset.queueLive = "polling";
  polling = setInterval(refresh, POLL_MS);
}

function startEvents() {
  if (!("EventSource" in window)) {
    startPolling();
    return;
  }
  let failures = 0;
  const source = new EventSource("/console/queue/events");
  source.addEventListener("open", () => {
    failures = 0;
    document.documentElement.dataset.queueLive = "events";
  });
  source.addEventListener("queue", (event) => {
    failures = 0;
    const counts = JSON.parse(event.data);
    setTitle(counts.red_open);
    if (counts.version !== currentList().dataset.version) refresh();
  });
  source.addEventListener("error", () => {
    // The stream ends by itself every few minutes and reconnects: one error is
    // normal. A closed source (signed out, not an event stream) or repeated
    // failures mean the events do not get through: poll instead.
    failures += 1;
    if (source.readyState === EventSource.CLOSED || failures >= MAX_FAILURES) {
      source.close();
      startPolling();
    }
  });
}

if (sound && tools) {
  tools.hidden = false;
  sound.checked = localStorage.getItem(SOUND_KEY) === "on";
  sound.addEventListener("change", () => {
    localStorage.setItem(SOUND_KEY, sound.checked ? "on" : "off");
    // Browsers allow sound once the person has acted on the page: start it now.
    if (sound.checked) {
      audio ??= new AudioContext();
      audio.resume();
    }
  });
  window.addEventListener("pointerdown", () => audio?.resume(), { passive: true });
}

startEvents();
