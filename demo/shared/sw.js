/*
 * The demo's service worker: it only makes the pages load offline. The build (demo/server.mjs)
 * fills in the version and the list of the site's files. Network first, so a running demo always
 * shows the latest build; the cache answers when the network does not. Nothing else is touched,
 * /api and /admin least of all: the data is harborsync's business (IndexedDB and the outbox).
 */
const VERSION = '__VERSION__';
const ASSETS = [/* __ASSETS__ */];
const CACHE = `harborsync-demo-${VERSION}`;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(ASSETS))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name.startsWith('harborsync-demo-') && name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  // Only the demo's own files: /api and /admin (and anything else on this port) go straight through.
  if (event.request.method !== 'GET' || url.origin !== location.origin || !ASSETS.includes(url.pathname)) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(event.request, copy)));
        }
        return response;
      })
      .catch(async () => {
        const cached = await caches.match(event.request, { ignoreSearch: true });
        return cached ?? Response.error();
      }),
  );
});
