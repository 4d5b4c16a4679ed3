// sess-sw.js: the demo page's service worker, for Web Push only.  It
// shows what sess-notify sends (a JSON payload with "title", "body" and
// "url", see sess-notify(1)) as a notification, and opens the url when
// the notification is clicked.  It caches nothing.
self.addEventListener("install", () => self.skipWaiting())
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()))

self.addEventListener("push", (e) => {
  let n = {}
  try {
    n = e.data ? e.data.json() : {}
  } catch {
    n = { body: e.data ? e.data.text() : "" }
  }
  if (!n || typeof n !== "object") n = { body: String(n) }
  const title = typeof n.title === "string" && n.title ? n.title : "sess"
  e.waitUntil(self.registration.showNotification(title, {
    body: typeof n.body === "string" ? n.body : "",
    data: { url: typeof n.url === "string" ? n.url : "/" },
    tag: n.stream && n.seq != null ? `${n.stream}@${n.seq}` : undefined,
  }))
})

self.addEventListener("notificationclick", (e) => {
  e.notification.close()
  let url = "/"
  try {
    const u = new URL(e.notification.data && e.notification.data.url || "/",
      self.location.origin)
    // Only web links: a payload cannot make the click run script.
    if (u.protocol === "http:" || u.protocol === "https:") url = u.href
  } catch {
    // Not a URL: the page itself.
  }
  e.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: "window",
      includeUncontrolled: true })
    for (const c of open)
      if (c.url === url && "focus" in c) return c.focus()
    return self.clients.openWindow(url)
  })())
})
