// Red-flag alerts on this computer, from the nurse's account page, through the
// console's own service worker. E-mail alerts arrive either way.
import { pushSupported, pushToggle } from "/static/js/push-toggle.js";

if (pushSupported()) {
  navigator.serviceWorker
    .register("/console/sw.js", { scope: "/console/" })
    .then(() => navigator.serviceWorker.ready)
    .then((registration) =>
      pushToggle(registration, { onPath: "/console/push", offPath: "/console/push/off" }),
    );
}
