// What waits on the phone to be sent: check-ins, ticks and message replies made offline,
// and what could not be sent at all ("unsent"), which the pages show to the patient.
// One classic script shared by the pages and by the service worker (importScripts),
// so both open the same IndexedDB database the same way.
(function (scope) {
  const NAME = "outbox";
  const QUEUES = ["checkins", "ticks", "messages"];
  const STORES = [...QUEUES, "unsent"];

  function open() {
    return new Promise((resolve, reject) => {
      // One version more for each new store: the upgrade creates the stores still missing.
      const request = indexedDB.open(NAME, 4);
      request.onupgradeneeded = () => {
        for (const store of STORES) {
          if (!request.result.objectStoreNames.contains(store)) {
            request.result.createObjectStore(store, { keyPath: "id" });
          }
        }
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function run(store, mode, work) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(store, mode);
      const request = work(tx.objectStore(store));
      tx.oncomplete = () => { db.close(); resolve(request.result); };
      tx.onerror = () => { db.close(); reject(tx.error); };
    });
  }

  function freshId() {
    if (scope.crypto.randomUUID) return scope.crypto.randomUUID();
    // randomUUID needs a secure context; the same version-4 UUID by hand otherwise.
    const bytes = scope.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  // The order answers were made in: a clock reading, kept increasing within this page or worker.
  let lastSeq = 0;
  function nextSeq() {
    lastSeq = Math.max(Date.now() * 1000, lastSeq + 1);
    return lastSeq;
  }

  scope.outbox = {
    queues: QUEUES,
    freshId,
    nextSeq,
    put: (store, entry) => run(store, "readwrite", (s) => s.put({ seq: nextSeq(), ...entry })),
    all: (store) => run(store, "readonly", (s) => s.getAll()),
    remove: (store, id) => run(store, "readwrite", (s) => s.delete(id)),
    // Everything waiting, oldest first, across the queues: sent in the order it was made.
    async waiting() {
      const entries = [];
      for (const store of QUEUES) {
        for (const entry of (await run(store, "readonly", (s) => s.getAll())) || []) {
          entries.push({ ...entry, store });
        }
      }
      return entries.sort((a, b) => (a.seq || 0) - (b.seq || 0));
    },
    async count(stores = QUEUES) {
      let total = 0;
      for (const store of stores) total += await run(store, "readonly", (s) => s.count());
      return total;
    },
  };
})(self);
