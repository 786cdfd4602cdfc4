// Turning web push on and off for this browser: shared by the patient's Settings and
// the nurse's account page. The page holds the buttons and the texts (translated on
// the server): #push-on, #push-off, #push-state (data-on, data-off), #push-unsupported,
// #push-denied and #push-failed.
function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(raw, (ch) => ch.charCodeAt(0));
}

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

export async function pushToggle(registration, { onPath, offPath }) {
  const on = document.getElementById("push-on");
  const off = document.getElementById("push-off");
  const state = document.getElementById("push-state");
  const csrf = document.querySelector("input[name=csrf_token]")?.value || "";
  const show = (id, visible) => { document.getElementById(id).hidden = !visible; };
  const post = async (path, body) => {
    const response = await fetch(path, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(String(response.status));
  };
  const showSubscribed = (subscribed) => {
    on.hidden = subscribed;
    off.hidden = !subscribed;
    state.textContent = subscribed ? state.dataset.on : state.dataset.off;
  };

  show("push-unsupported", false);
  showSubscribed(Boolean(await registration.pushManager.getSubscription()));
  on.addEventListener("click", async () => {
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
      await post(onPath, subscription.toJSON());
      showSubscribed(true);
    } catch (e) {
      show("push-failed", true);
    }
  });
  off.addEventListener("click", async () => {
    const subscription = await registration.pushManager.getSubscription();
    if (subscription) {
      await post(offPath, { endpoint: subscription.endpoint }).catch(() => {});
      await subscription.unsubscribe();
    }
    showSubscribed(false);
  });
}
