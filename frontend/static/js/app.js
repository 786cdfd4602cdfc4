// Install the service worker so the app opens offline and can be added to the home
// screen; on every open and whenever the network returns, send what waits on the
// phone, say plainly while something still waits, and show what could not be sent.
const waiting = document.getElementById("waiting");
const unsent = document.getElementById("unsent");

function describe(entry) {
  const form = new URLSearchParams(entry.body);
  const made = form.get("recorded_at") || form.get("written_at") || form.get("at");
  const time = made ? new Date(made).toLocaleString(document.documentElement.lang, { dateStyle: "short", timeStyle: "short" }) : "";
  const detail = entry.store === "messages" ? form.get("body") || "" : entry.store === "checkins" ? `${form.get("pain") ?? ""}/10` : "";
  return [unsent.dataset[entry.store] || "", time, detail].filter(Boolean).join(" · ");
}

async function showWaiting() {
  if (!self.outbox) return;
  try {
    if (waiting) waiting.hidden = (await self.outbox.count()) === 0;
    if (!unsent) return;
    const entries = await self.outbox.all("unsent");
    const list = unsent.querySelector("ul");
    list.replaceChildren(...entries.map((entry) => {
      const item = document.createElement("li");
      item.textContent = describe(entry);
      return item;
    }));
    unsent.hidden = entries.length === 0;
  } catch (e) {
    /* storage unavailable (private mode): nothing can wait here */
  }
}

unsent?.querySelector("button")?.addEventListener("click", async () => {
  for (const entry of await self.outbox.all("unsent")) await self.outbox.remove("unsent", entry.id);
  showWaiting();
});

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" });
  const sendWaiting = () =>
    navigator.serviceWorker.ready.then((registration) => {
      if (registration.active) registration.active.postMessage("send-waiting");
    });
  sendWaiting();
  window.addEventListener("online", sendWaiting);
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data === "outbox-changed") showWaiting();
  });
}
document.addEventListener("outbox-changed", showWaiting);
showWaiting();
