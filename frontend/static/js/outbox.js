// What waits on the phone to be sent: check-ins, ticks and message replies made offline.
// One classic script shared by the pages and by the service worker (importScripts),
// so both open the same IndexedDB database the same way.
(function (scope) {
  const NAME = "outbox";
  const STORES = ["checkins", "ticks", "messages"];

  function open() {
    return new Promise((resolve, reject) => {
      // One version more for each new store: the upgrade creates the stores still missing.
      const request = indexedDB.open(NAME, 3);
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

  scope.outbox = {
    stores: STORES,
    put: (store, entry) => run(store, "readwrite", (s) => s.put(entry)),
    all: (store) => run(store, "readonly", (s) => s.getAll()),
    remove: (store, id) => run(store, "readwrite", (s) => s.delete(id)),
    async count() {
      let total = 0;
      for (const store of STORES) total += await run(store, "readonly", (s) => s.count());
      return total;
    },
  };
})(self);
