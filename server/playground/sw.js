// The playground's service worker: the page shell from the network when there is one, else from
// the cache, so a reload while offline still opens (documents come from IndexedDB).
const CACHE = 'homeroom-playground-v1'
const SHELL = ['/', '/playground/app.css', '/playground/playground.js']

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()))
})
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()))

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url)
  if (event.request.method !== 'GET' || url.origin !== location.origin) return
  if (url.pathname !== '/' && !url.pathname.startsWith('/playground/')) return
  // The page keeps its query (who is logged in); the cached shell is the same page.
  const key = url.pathname === '/' ? '/' : url.pathname
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone()
          void caches.open(CACHE).then((cache) => cache.put(key, copy))
        }
        return response
      })
      .catch(() => caches.match(key).then((cached) => cached ?? Response.error())),
  )
})
