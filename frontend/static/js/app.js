// Install the service worker so the app opens offline and can be added to the home
// screen; on every open and whenever the network returns, send what waits on the
// phone, and say plainly while something still waits.
const waiting = document.getElementById("waiting");

async function showWaiting() {
  if (!waiting || !self.outbox) return;
  try {
    waiting.hidden = (await self.outbox.count()) === 0;
  } catch (e) {
    /* storage unavailable (private mode): nothing can wait here */
  }
}

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" });
  const sendWaiting = () =>
    navigator.serviceWorker.ready.then((registration) => {
      if (registration.active) registration.active.postMessage("send-waiting");
    });
  sendWaiting();
  window.addEventListener("online", sendWaiting);
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data === "outbox-changed") showWaiting().then(applyWaitingTicks);
  });
}

// Ticking an item off: the form works without this script; with it, the page
// does not reload, and offline the service worker keeps the tick for later.
function setTick(form, done) {
  const button = form.querySelector("button");
  form.querySelector("input[name=done]").value = done ? "0" : "1";
  button.setAttribute("aria-pressed", done ? "true" : "false");
  form.closest(".item")?.classList.toggle("item-done", done);
}

async function applyWaitingTicks() {
  if (!self.outbox) return;
  try {
    for (const tick of await self.outbox.all("ticks")) {
      const form = document.querySelector(`form.tick[data-item="${CSS.escape(tick.id)}"]`);
      if (form) setTick(form, tick.done);
    }
  } catch (e) {
    /* nothing waits */
  }
}

for (const form of document.querySelectorAll("form.tick")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new URLSearchParams(new FormData(form));
    const done = body.get("done") === "1";
    setTick(form, done);
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) setTick(form, !done);
    } catch (e) {
      setTick(form, !done); // no service worker to keep it: say it was not done
    }
    showWaiting();
  });
}

showWaiting().then(applyWaitingTicks);
