// The app keeps a single entry in the browser's history: every move inside it replaces
// the page, so that after Quick exit, Back leads out of the app and never into it.
// Without this script the pages still work, as plain links and forms.
const here = (url) => url.origin === location.origin;

// Quick exit: a neutral site in place of this page. On a keyboard, Esc twice does the same.
const exit = document.getElementById("quick-exit");
const leave = () => location.replace(exit.href);
let lastEscape = -Infinity;
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || !exit) return;
  if (event.timeStamp - lastEscape < 2000) leave();
  lastEscape = event.timeStamp;
});

document.addEventListener("click", (event) => {
  const link = event.target.closest?.("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (link === exit) {
    event.preventDefault();
    leave();
    return;
  }
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (link.hasAttribute("download") || link.target) return;
  const url = new URL(link.href, location.href);
  if (!here(url)) return;
  event.preventDefault();
  location.replace(url.href);
});

// A form sent with the page's own fetch: the answer replaces this page. Its id and
// time are drawn now, when Send is pressed, so that every answer is its own.
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (event.defaultPrevented || form.method !== "post" || !here(new URL(form.action))) return;
  event.preventDefault();
  if (form.dataset.sending) return; // a double tap sends once
  form.dataset.sending = "1";
  if (form.dataset.stamp !== undefined && self.outbox) {
    for (const field of form.querySelectorAll("input[data-fresh-id]")) field.value = self.outbox.freshId();
    for (const field of form.querySelectorAll("input[data-now]")) field.value = new Date().toISOString();
  }
  const body = new URLSearchParams(new FormData(form, event.submitter));
  let response;
  try {
    response = await fetch(form.action, { method: "POST", body, credentials: "same-origin" });
  } catch (e) {
    delete form.dataset.sending;
    form.submit(); // no service worker to keep it: let the browser say it is offline
    return;
  }
  const landed = new URL(response.url);
  if (landed.pathname === "/saved") {
    // Kept on the phone by the service worker; its copy of the saved page has lost the
    // redirect's query, which names the check-in to answer here.
    const id = body.get("id");
    location.replace(form.action.endsWith("/checkin") && id ? `/saved?checkin=${encodeURIComponent(id)}` : "/saved");
    return;
  }
  if (response.redirected) {
    location.replace(response.url);
    return;
  }
  // A page answering the form itself (something to correct): shown in place of this one.
  const page = await response.text();
  document.open();
  document.write(page);
  document.close();
});

// My plan opens at today.
if (location.pathname === "/plan" && !location.hash) document.getElementById("today")?.scrollIntoView();
