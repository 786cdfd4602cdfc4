// Push on/off for this phone, on the Settings page. Without this script, or on a
// browser that cannot receive push, the page says so and reminders stay in the app.
const on = document.getElementById("push-on");
const off = document.getElementById("push-off");
const state = document.getElementById("push-state");
const csrf = document.querySelector("input[name=csrf_token]")?.value || "";
const show = (id, visible) => { document.getElementById(id).hidden = !visible; };

function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(raw, (ch) => ch.charCodeAt(0));
}

function post(path, body) {
  return fetch(path, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    credentials: "same-origin",
  }).then((response) => {
    if (!response.ok) throw new Error(String(response.status));
  });
}

function showSubscribed(subscribed) {
  on.hidden = subscribed;
  off.hidden = !subscribed;
  state.textContent = subscribed ? state.dataset.on : state.dataset.off;
}

async function turnOn(registration) {
  show("push-denied", false);
  show("push-failed", false);
  if ((await Notification.requestPermission()) !== "granted") {
    show("push-denied", true);
    return;
  }
  try {
    const { public_key: key } = await (await fetch("/api/v1/push/key")).json();
    const subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keyBytes(key),
    });
    await post("/settings/push", subscription.toJSON());
    showSubscribed(true);
  } catch (e) {
    show("push-failed", true);
  }
}

async function turnOff(registration) {
  const subscription = await registration.pushManager.getSubscription();
  if (subscription) {
    await post("/settings/push/off", { endpoint: subscription.endpoint }).catch(() => {});
    await subscription.unsubscribe();
  }
  showSubscribed(false);
}

if ("serviceWorker" in navigator && "PushManager" in window && "Notification" in window) {
  show("push-unsupported", false);
  navigator.serviceWorker.ready.then(async (registration) => {
    showSubscribed(Boolean(await registration.pushManager.getSubscription()));
    on.addEventListener("click", () => turnOn(registration));
    off.addEventListener("click", () => turnOff(registration));
  });
}
