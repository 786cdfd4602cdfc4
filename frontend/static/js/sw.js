// The service worker: the app shell from the cache, pages from the network
// with the last good copy when offline. Served at /sw.js so its scope is the app.
const VERSION = "v3";
const SHELL = `shell-${VERSION}`;
const PAGES = `pages-${VERSION}`;
const SHELL_FILES = [
  "/static/css/patient.css",
  "/static/js/quick-exit.js",
  "/static/js/app.js",
  "/static/js/outbox.js",
  "/static/js/push.js",
  "/static/js/push-toggle.js",
  "/static/js/tick.js",
  "/static/js/messages.js",
  "/static/icons/icon-192.png",
  "/offline",
  "/saved",
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

async function tellPages() {
  const pages = await self.clients.matchAll({ type: "window" });
  for (const page of pages) page.postMessage("outbox-changed");
}

async function keepForLater(request, store) {
  const body = await request.text();
  const form = new URLSearchParams(body);
  // A check-in or a reply is kept under its own id; a tick under its item, so only the last one counts.
  const id = (store === "ticks" ? form.get("item") : form.get("id")) || String(Date.now());
  await self.outbox.put(store, { id, body, done: form.get("done") === "1" });
  if (self.registration.sync) {
    try { await self.registration.sync.register("outbox"); } catch (e) { /* not offered */ }
  }
  await tellPages();
  if ((request.headers.get("Accept") || "").includes("application/json")) {
    return new Response(null, { status: 202 });
  }
  return Response.redirect("/saved", 303);
}

async function sendWaiting() {
  let sent = false;
  for (const [path, store] of Object.entries(QUEUED)) {
    for (const item of (await self.outbox.all(store)) || []) {
      let response;
      try {
        response = await fetch(path, {
          method: "POST",
          body: item.body,
          headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
          credentials: "same-origin",
          redirect: "manual",
        });
      } catch (e) {
        if (sent) await tellPages();
        return; // still offline: try again later
      }
      // Sent, or refused for good (a 4xx other than "try later"): either way it
      // must not be sent again. A redirect (signed out) or a 5xx keeps it.
      const refused = response.status >= 400 && response.status < 500 && ![408, 429].includes(response.status);
      if (response.ok || refused) {
        await self.outbox.remove(store, item.id);
        sent = true;
      }
    }
  }
  if (sent) await tellPages();
}

self.addEventListener("sync", (event) => {
  if (event.tag === "outbox" || event.tag === "checkins") event.waitUntil(sendWaiting());
});

// The patient's own pages, fetched ahead so that they open offline even if
// they were never visited; only real pages are kept, never a redirect.
const OWN_PAGES = ["/today", "/plan", "/history", "/checkin", "/messages", "/warning-signs"];

// At most every few minutes: opening the app must not cost the whole set each time.
const READY_EVERY_MS = 5 * 60 * 1000;
let readyAt = 0;

async function keepPagesReady() {
  if (Date.now() - readyAt < READY_EVERY_MS) return;
  const cache = await caches.open(PAGES);
  const kept = await Promise.all(
    OWN_PAGES.map(async (path) => {
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
    }),
  );
  // Only a full round counts: a signed-out or offline try is made again next time.
  if (kept.every(Boolean)) readyAt = Date.now();
}

self.addEventListener("message", (event) => {
  if (event.data === "send-waiting") event.waitUntil(sendWaiting().then(keepPagesReady));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  const store = QUEUED[url.pathname];
  if (request.method === "POST" && url.origin === self.location.origin && store) {
    const copy = request.clone();
    event.respondWith(fetch(request).catch(() => keepForLater(copy, store)));
    return;
  }
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  // The API, the one-time links and the nurses' console are never kept on a device.
  if (["/api/", "/start/", "/console"].some((prefix) => url.pathname.startsWith(prefix))) return;
  if (request.mode === "navigate") {
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(PAGES).then((cache) => cache.put(request, copy));
          }
          return response;
        })
        .catch(async () => (await caches.match(request)) || caches.match("/offline")),
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
