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
    if (event.data === "outbox-changed") showWaiting();
  });
}
document.addEventListener("outbox-changed", showWaiting);
showWaiting();
