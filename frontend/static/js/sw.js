// The service worker: the app shell from the cache, pages from the network
// with the last good copy when offline. Served at /sw.js so its scope is the app.
const VERSION = "v4";
const SHELL = `shell-${VERSION}`;
const PAGES = `pages-${VERSION}`;
const SHELL_FILES = [
  "/static/css/patient.css",
  "/static/js/app.js",
  "/static/js/outbox.js",
  "/static/js/tick.js",
  "/static/js/messages.js",
  "/static/js/nav.js",
  "/static/js/triage.js",
  "/static/js/saved.js",
  "/static/icons/icon-192.png",
  "/offline",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(SHELL_FILES)));
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys().then((names) =>
      Promise.all(names.filter((n) => n !== SHELL && n !== PAGES).map((n) => caches.delete(n))),
    ).then(() => self.clients.claim()),
  );
});

// Check-ins, ticks and message replies made offline wait in IndexedDB (outbox.js),
// with their ids, until the network is back. Sending one twice is harmless: the
// server stores a check-in or a reply once per id, and a tick's last state wins.
importScripts("/static/js/outbox.js");

const QUEUED = { "/checkin": "checkins", "/today/done": "ticks", "/messages": "messages" };
const QUEUE_PATHS = Object.fromEntries(Object.entries(QUEUED).map(([path, store]) => [store, path]));

async function tellPages() {
  const pages = await self.clients.matchAll({ type: "window" });
  for (const page of pages) page.postMessage("outbox-changed");
}

async function keepForLater(request, store) {
  const body = await request.text();
  const form = new URLSearchParams(body);
  // A check-in or a reply is kept under its own id, made on the phone when Send was
  // pressed; a tick under its item, so only the last one counts.
  const id = (store === "ticks" ? form.get("item") : form.get("id")) || self.outbox.freshId();
  await self.outbox.put(store, { id, body, done: form.get("done") === "1" });
  if (self.registration.sync) {
    try { await self.registration.sync.register("outbox"); } catch (e) { /* not offered */ }
  }
  await tellPages();
  if ((request.headers.get("Accept") || "").includes("application/json")) {
    return new Response(null, { status: 202 });
  }
  // The saved page answers a check-in on the phone, as the server would (saved.js).
  return Response.redirect(store === "checkins" ? `/saved?checkin=${encodeURIComponent(id)}` : "/saved", 303);
}

function post(path, body) {
  return fetch(path, {
    method: "POST",
    body,
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    credentials: "same-origin",
    redirect: "manual",
  });
}

// One round at a time: the page, the network coming back and Background Sync may all ask at once.
let sending = null;
function sendWaiting() {
  sending = sending || sendInOrder().finally(() => { sending = null; });
  return sending;
}

// Everything waiting is sent in the order it was made, each once. Nothing is dropped
// in silence: an id already used for other answers gets a fresh one and is sent again,
// and what the server refuses for good is kept apart and shown to the patient.
async function sendInOrder() {
  let changed = false;
  try {
    for (const item of await self.outbox.waiting()) {
      let response;
      try {
        response = await post(QUEUE_PATHS[item.store], item.body);
        if (response.status === 409 && item.store !== "ticks") {
          const form = new URLSearchParams(item.body);
          form.set("id", self.outbox.freshId());
          const renamed = { id: form.get("id"), body: form.toString(), seq: item.seq };
          await self.outbox.put(item.store, renamed);
          await self.outbox.remove(item.store, item.id);
          Object.assign(item, renamed);
          changed = true;
          response = await post(QUEUE_PATHS[item.store], item.body);
        }
      } catch (e) {
        return; // still offline: try again later, in the same order
      }
      if (response.ok) {
        await self.outbox.remove(item.store, item.id);
        changed = true;
        continue;
      }
      // Signed out (a redirect), the server away (5xx) or busy: keep it, and keep the order.
      if (response.type === "opaqueredirect" || response.status >= 500 || [408, 409, 429].includes(response.status)) return;
      await self.outbox.put("unsent", { id: `${item.store}:${item.id}`, store: item.store, body: item.body, status: response.status, seq: item.seq });
      await self.outbox.remove(item.store, item.id);
      changed = true;
    }
  } finally {
    if (changed) await tellPages();
  }
}

self.addEventListener("sync", (event) => {
  if (event.tag === "outbox" || event.tag === "checkins") event.waitUntil(sendWaiting());
});

// The patient's own pages, fetched ahead so that they open offline even if
// they were never visited; only real pages are kept, never a redirect.
// The flag rules as data (checkins/triage.py) let the phone answer a check-in offline.
const OWN_PAGES = [
  "/today", "/plan", "/history", "/checkin", "/messages", "/warning-signs", "/saved",
  "/checkin/rules.json",
];

// At most every few minutes: opening the app must not cost the whole set each time.
// One round at a time: the page, the network coming back and a reload may all ask at
// once, and rounds side by side would fetch every page again and again, on a phone's
// data. Asked during a round, the worker runs one more after it, which fetches nothing
// if the first kept every page (one that began before the patient signed in kept none).
const READY_EVERY_MS = 5 * 60 * 1000;
let readyAt = 0;
let readying = null; // the round under way
let after = null; // the one round more asked for during it

function keepPagesReady() {
  if (!readying) {
    readying = fetchPagesAhead().finally(() => { readying = null; });
    return readying;
  }
  after = after || readying.catch(() => {}).then(() => {
    after = null;
    return keepPagesReady();
  });
  return after;
}

async function fetchPagesAhead() {
  if (Date.now() - readyAt < READY_EVERY_MS) return;
  const cache = await caches.open(PAGES);
  const keep = async (path) => {
    try {
      // Marked as a pre-fetch: no one has read the messages it carries yet.
      const response = await fetch(path, {
        credentials: "same-origin",
        redirect: "manual",
        headers: { Purpose: "prefetch" },
      });
      if (!response.ok || response.type !== "basic") return false;
      await cache.put(path, response);
      return true;
    } catch (e) {
      return false; // offline: keep the copies we have
    }
  };
  // Today first: a phone not signed in (the link's page asks too) is sent away from it,
  // and the others would be too, so the round stops there. Its pages are then never
  // fetched half before and half after signing in, which cost the next round the set
  // again (tests/browser/test_patient_app.py).
  const [first, ...rest] = OWN_PAGES;
  if (!(await keep(first))) return;
  const kept = await Promise.all(rest.map(keep));
  // Only a full round counts: a signed-out or offline try is made again next time.
  if (kept.every(Boolean)) readyAt = Date.now();
}

async function refreshRules() {
  try {
    const response = await fetch("/checkin/rules.json", { credentials: "same-origin", redirect: "manual" });
    if (response.ok) await (await caches.open(PAGES)).put("/checkin/rules.json", response);
  } catch (e) { /* offline: the copy we have still judges */ }
}

self.addEventListener("message", (event) => {
  if (event.data !== "send-waiting") return;
  // A page may pass a port to hear when the pages are being fetched ahead, and when
  // that round is over (the browser tests do; app.js needs no answer).
  const port = event.ports[0];
  const tell = (what) => { if (port) port.postMessage(what); };
  event.waitUntil(
    sendWaiting()
      .then(() => {
        const round = keepPagesReady();
        tell("fetching");
        return round;
      })
      .then(() => tell("ready")),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  const store = QUEUED[url.pathname];
  if (request.method === "POST" && url.origin === self.location.origin && store) {
    const copy = request.clone();
    const sent = fetch(request);
    event.respondWith(sent.catch(() => keepForLater(copy, store)));
    // A check-in changes what the next one is compared with: keep the rules' copy current.
    if (store === "checkins") event.waitUntil(sent.then(refreshRules, () => {}));
    return;
  }
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  // The API, the one-time links and the nurses' console are never kept on a device.
  if (["/api/", "/start/", "/console"].some((prefix) => url.pathname.startsWith(prefix))) return;
  // The saved page is also fetched by the page's own script (nav.js) after a form was kept.
  if (request.mode === "navigate" || ["/checkin/rules.json", "/saved"].includes(url.pathname)) {
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok && response.type === "basic" && !response.redirected) {
            const copy = response.clone();
            caches.open(PAGES).then((cache) => cache.put(url.pathname === "/saved" ? "/saved" : request, copy));
          }
          return response;
        })
        .catch(async () =>
          (await caches.match(request)) || (await caches.match(url.pathname)) || caches.match("/offline"),
        ),
    );
    return;
  }
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
  }
});

self.addEventListener("push", (event) => {
  // Only what the server sent, which is neutral by construction.
  const data = event.data ? event.data.json() : {};
  event.waitUntil(
    self.registration.showNotification(data.title || "", {
      body: data.body || "",
      tag: data.tag,
      icon: "/static/icons/icon-192.png",
      data: { url: data.url || "/today" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(self.clients.openWindow(event.notification.data.url));
});
