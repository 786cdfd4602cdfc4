// The service worker: the app shell from the cache, pages from the network
// with the last good copy when offline. Served at /sw.js so its scope is the app.
const VERSION = "v1";
const SHELL = `shell-${VERSION}`;
const PAGES = `pages-${VERSION}`;
const SHELL_FILES = [
  "/static/css/patient.css",
  "/static/js/quick-exit.js",
  "/static/js/register-sw.js",
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

// Check-ins made offline wait here, with their ids, until the network is back.
// Sending one twice is harmless: the server stores a check-in once per id.
const DB_NAME = "outbox";

function openOutbox() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore("checkins", { keyPath: "id" });
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function outbox(mode, work) {
  const db = await openOutbox();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("checkins", mode);
    const result = work(tx.objectStore("checkins"));
    tx.oncomplete = () => resolve(result.result);
    tx.onerror = () => reject(tx.error);
  });
}

async function keepForLater(request) {
  const body = await request.text();
  const id = new URLSearchParams(body).get("id") || String(Date.now());
  await outbox("readwrite", (store) => store.put({ id, body }));
  if (self.registration.sync) {
    try { await self.registration.sync.register("checkins"); } catch (e) { /* not offered */ }
  }
  return Response.redirect("/saved", 303);
}

async function sendWaiting() {
  const waiting = await outbox("readonly", (store) => store.getAll());
  for (const item of waiting || []) {
    try {
      const response = await fetch("/checkin", {
        method: "POST",
        body: item.body,
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        credentials: "same-origin",
        redirect: "manual",
      });
      // Sent (or refused for good): either way it must not be sent again.
      if (response.ok || response.status === 422 || response.status === 403) {
        await outbox("readwrite", (store) => store.delete(item.id));
      }
    } catch (e) {
      return; // still offline: try again later
    }
  }
}

self.addEventListener("sync", (event) => {
  if (event.tag === "checkins") event.waitUntil(sendWaiting());
});

// The patient's own pages, fetched ahead so that they open offline even if
// they were never visited; only real pages are kept, never a redirect.
const OWN_PAGES = ["/today", "/plan", "/history", "/checkin"];

async function keepPagesReady() {
  const cache = await caches.open(PAGES);
  await Promise.all(
    OWN_PAGES.map(async (path) => {
      try {
        const response = await fetch(path, { credentials: "same-origin", redirect: "manual" });
        if (response.ok && response.type === "basic") await cache.put(path, response);
      } catch (e) {
        /* offline: keep the copies we have */
      }
    }),
  );
}

self.addEventListener("message", (event) => {
  if (event.data === "send-waiting") event.waitUntil(sendWaiting().then(keepPagesReady));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method === "POST" && url.origin === self.location.origin && url.pathname === "/checkin") {
    const copy = request.clone();
    event.respondWith(fetch(request).catch(() => keepForLater(copy)));
    return;
  }
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/start/")) return;
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
