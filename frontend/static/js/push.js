// Notifications on this phone, from Settings. Without this script, or on a browser
// that cannot receive push, the page says so and reminders stay in the app.
import { pushSupported, pushToggle } from "/static/js/push-toggle.js";

if (pushSupported()) {
  navigator.serviceWorker.ready.then((registration) =>
    pushToggle(registration, { onPath: "/settings/push", offPath: "/settings/push/off" }),
  );
}
