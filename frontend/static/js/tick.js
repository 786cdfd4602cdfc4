// Ticking an item off on Today: the form works without this script; with it, the
// page does not reload, and offline the service worker keeps the tick for later.
function setTick(form, done) {
  form.querySelector("input[name=done]").value = done ? "0" : "1";
  form.querySelector("button").setAttribute("aria-pressed", done ? "true" : "false");
  form.closest(".item")?.classList.toggle("item-done", done);
}

// A tick still waiting on the phone shows as made, also on a copy of the page kept offline.
async function showWaitingTicks() {
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
    form.querySelector("input[name=at]").value = new Date().toISOString(); // when it was done
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
      setTick(form, !done); // no service worker to keep it: it was not done
    }
    document.dispatchEvent(new Event("outbox-changed"));
  });
}

showWaitingTicks();
