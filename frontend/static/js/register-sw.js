// Install the service worker so the app opens offline and can be added to the home
// screen; on every open and whenever the network returns, send what waits on the phone.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" });
  const sendWaiting = () =>
    navigator.serviceWorker.ready.then((registration) => {
      if (registration.active) registration.active.postMessage("send-waiting");
    });
  sendWaiting();
  window.addEventListener("online", sendWaiting);
}
