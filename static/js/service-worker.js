/* The post's offline shell, served as /sw.js with VERSION and PRECACHE written in front of it.

   The page's files (content-hashed, so kept for good) come from the cache; the post's pages are
   fetched from the network when it answers and kept, and shown from the cache when it does not,
   so /post opens with no line at all and its outbox keeps what is typed. API calls are never
   cached: the outbox alone decides what waits for the line. */
const CACHE = `telemed-${VERSION}`;
const PAGES = /^\/(post|consultations\/[0-9a-f-]{36})$/;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("telemed-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

function keep(key, response) {
  if (response.ok && !response.redirected) {
    const copy = response.clone();
    caches.open(CACHE).then((cache) => cache.put(key, copy));
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request).then((r) => keep(request, r))));
  } else if (request.mode === "navigate" && PAGES.test(url.pathname)) {
    event.respondWith(fetch(request).then((r) => keep(url.pathname, r))
      .catch(() => caches.match(url.pathname).then((hit) => hit || caches.match("/post"))));
  } else if (request.mode === "navigate" && url.pathname === "/login") {
    // Logged out (or never in): the pages kept for the last person are forgotten.
    event.waitUntil(caches.open(CACHE).then((cache) => cache.keys()
      .then((keys) => Promise.all(keys.filter((k) => PAGES.test(new URL(k.url).pathname)).map((k) => cache.delete(k))))));
  }
});
