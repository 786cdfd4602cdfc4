// Install the service worker so the app opens offline and can be added to the home screen.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" });
}
