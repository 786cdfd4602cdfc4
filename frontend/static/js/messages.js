// The Messages page. The form works without this script; with it, each opening of the
// page gets a fresh id for the reply (a copy of the page kept offline would otherwise
// give every reply the same one), and replies still waiting on the phone are shown.
function freshId() {
  if (self.crypto.randomUUID) return self.crypto.randomUUID();
  // randomUUID needs a secure context; the same version-4 UUID by hand otherwise.
  const bytes = self.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const idField = document.querySelector("form.reply input[name=id]");
if (idField) idField.value = freshId();

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
