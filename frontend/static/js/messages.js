// The Messages page. The form works without this script; with it (and nav.js, which
// gives each reply a fresh id when Send is pressed), replies still waiting on the
// phone are shown.
async function showWaitingReplies() {
  const thread = document.getElementById("thread");
  if (!thread || !self.outbox) return;
  let waiting = [];
  try {
    waiting = (await self.outbox.all("messages")) || [];
  } catch (e) {
    return; // storage unavailable: nothing waits here
  }
  for (const old of thread.querySelectorAll("li.waiting-reply")) old.remove();
  for (const reply of waiting) {
    const item = document.createElement("li");
    item.className = "item waiting-reply";
    const text = document.createElement("div");
    text.className = "item-text";
    const label = document.createElement("span");
    label.className = "when";
    label.textContent = thread.dataset.waiting;
    const body = document.createElement("p");
    body.className = "body";
    body.textContent = new URLSearchParams(reply.body).get("body") || "";
    text.append(label, body);
    item.append(text);
    thread.append(item);
  }
  thread.hidden = thread.children.length === 0;
  const none = document.getElementById("no-messages");
  if (none) none.hidden = !thread.hidden;
}

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.addEventListener("message", (event) => {
    if (event.data === "outbox-changed") showWaitingReplies();
  });
}
showWaitingReplies();

// The thread opens at its newest message (a redirect fetched by nav.js loses its #latest).
document.getElementById("latest")?.scrollIntoView({ block: "nearest" });
