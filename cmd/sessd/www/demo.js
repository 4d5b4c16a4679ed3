// demo.js: the demo page at "/".  It follows one session (its name in
// the field and in the URL's hash) with sess.js: the messages as they
// stream, who is here, a Stop button for the current run and the
// answers to approval requests.  ?token=JWT in the page's URL is used to
// connect; ?member=NAME declares a member when sessd has no key.
import { connect, applyMessageOp } from "/sess.js"

const $ = (id) => document.getElementById(id)
const params = new URLSearchParams(location.search)
const token = params.get("token") || undefined

// Without a token the page declares a member: ?member=, or a name kept
// in this browser, so that two tabs are one member with two connections.
function memberName() {
  if (token) return undefined
  let m = params.get("member")
  if (m) return m
  try {
    m = localStorage.getItem("sess.member")
    if (!m) {
      m = "guest-" + Math.random().toString(36).slice(2, 6)
      localStorage.setItem("sess.member", m)
    }
  } catch {
    m = "guest-" + Math.random().toString(36).slice(2, 6)
  }
  return m
}

const member = memberName()
const client = connect(location.origin, { token, member })
const device = matchMedia("(pointer: coarse)").matches ? "phone" : "computer"

// The page's state for the session open now.
let view = null

function freshView(stream) {
  return {
    stream,
    att: null,
    messages: new Map(),   // the messages map sess.js keeps
    ended: new Set(),      // streaming messages a run.end stopped
    times: new Map(),      // message -> when it was created
    run: null,             // the run going on, from run.start to run.end
    runs: new Map(),       // run id -> {start, end}: its two dividers
    approvals: new Map(),  // id -> {el, decided}
    offsets: [],           // every event offset shown, for tests
    stopping: false,
    unsubs: [],
  }
}

// For the tests and the curious: what the page has.
window.sessDemo = {
  client,
  get view() { return view },
}

// -- connection status ---------------------------------------------------

const STATES = {
  connecting: "Connecting…",
  open: "Live",
  waiting: "Reconnecting…",
  closed: "Disconnected",
}

function showState() {
  let s = client.state
  if (s !== "open" && navigator.onLine === false) s = "offline"
  const el = $("status")
  el.dataset.state = s
  el.textContent = s === "offline" ? "Offline" : STATES[s] || s
}
client.on("state", showState)
addEventListener("online", showState)
addEventListener("offline", showState)
client.on("welcome", () => drawPresence())

// -- opening a session -----------------------------------------------------

function open(stream) {
  stream = stream.trim()
  if (view && view.stream === stream) return
  if (view) {
    view.unsubs.forEach((u) => u())
    client.leave(view.stream).catch(() => {})
    view.att.detach()
  }
  $("messages").replaceChildren()
  $("presence").replaceChildren()
  $("count").textContent = ""
  if (!stream) {
    view = null
    $("intro").hidden = false
    $("people").hidden = true
    $("actions").hidden = true
    $("empty").hidden = true
    document.title = "sess"
    return
  }
  view = freshView(stream)
  $("intro").hidden = true
  $("people").hidden = false
  $("actions").hidden = false
  $("empty").hidden = false
  $("name").value = stream
  document.title = stream + " · sess"
  // In the URL too, so that it can be shared, reloaded, and gone back to.
  if (hashStream() !== stream)
    location.hash = encodeURIComponent(stream).replace(/%2F/g, "/")
  const att = client.attach(stream, { offset: "-1" })
  view.att = att
  view.unsubs.push(
    att.on("events", (evs) => onEvents(evs)),
    att.on("members", () => drawPresence()),
    att.on("presence", () => drawPresence()),
    att.on("error", (err) => note(err.message, "error")),
    att.on("gone", () => note("This session was deleted.", "error")),
  )
  client.enter(stream, { client: "demo", device }).catch(() => {})
  drawRun()
}

$("open").addEventListener("submit", (e) => {
  e.preventDefault()
  open($("name").value)
})
function hashStream() {
  try {
    return decodeURIComponent(location.hash.slice(1))
  } catch {
    return location.hash.slice(1)
  }
}
addEventListener("hashchange", () => open(hashStream()))
// A clean leave when the tab goes away, so the others see it at once.
addEventListener("pagehide", () => client.close())
// Back from the back-forward cache the connection is closed: start over.
addEventListener("pageshow", (e) => {
  if (e.persisted) location.reload()
})

// -- events ------------------------------------------------------------

function onEvents(evs) {
  const v = view
  for (const ev of evs) {
    v.offsets.push(ev.offset)
    const d = ev.data
    const changed = applyMessageOp(v.messages, ev)
    if (Array.isArray(changed)) {
      for (const name of changed) removeMessage(name)
    } else if (changed !== null) {
      const m = v.messages.get(changed)
      if (m.first === ev.offset) v.times.set(m.msg, ev.time)
      drawMessage(m)
    } else if (d && typeof d === "object" && !Array.isArray(d)) {
      onTyped(ev, d)
    } else if (typeof d === "string" && d.trim() !== "") {
      note(d, "plain", ev.offset)
    }
  }
  $("empty").hidden = $("messages").childElementCount > 0
  drawRun()
  if (document.visibilityState === "visible") ackSoon()
}

function onTyped(ev, d) {
  const v = view
  switch (d.type) {
    case "run.start":
      v.run = d.run ?? null
      v.stopping = false
      return divider(d.run, "start", `${label(d.run)} started`, ev)
    case "run.end": {
      if (v.run === (d.run ?? null)) v.run = null
      v.stopping = false
      for (const m of v.messages.values())
        if (m.status === "streaming") {
          v.ended.add(m.msg)
          drawMessage(m)
        }
      const why = d.reason ? ` (${d.reason})` : ""
      return divider(d.run, "end", `${label(d.run)} ended${why}`, ev)
    }
    case "control":
      if (d.action === "stop")
        return note(`Stop requested${d.run ? " for run " + d.run : ""}`,
          "control", ev.offset)
      return
    case "approval.request":
      return drawApproval(ev, d)
    case "approval.response":
      return decide(d.id, d.decision)
    default:
      if (typeof d.text === "string" && d.text.trim() !== "")
        return note(d.text, "plain", ev.offset)
  }
}

// A run has one start and one end, whatever its attempts (sess(7)): a
// retry that starts the run named again is that run going on, so its
// start keeps the first divider, and a later end moves the end divider
// to where the run ended last.  Runs without a name cannot be told
// apart: each event gets a divider.
function divider(run, which, text, ev) {
  if (typeof run !== "string") return note(text, "run", ev.offset)
  let r = view.runs.get(run)
  if (!r) view.runs.set(run, (r = { start: null, end: null }))
  const el = r[which]
  if (el && which === "start") return el
  if (el) {
    el.textContent = text
    place(el, ev.offset)
    return el
  }
  r[which] = note(text, "run", ev.offset)
  r[which].dataset.run = run
  return r[which]
}

function label(run) {
  return run == null ? "Run" : `Run ${run}`
}

// Keeps the feed in log order: each item sits by the offset that made it.
function place(el, at) {
  el.dataset.at = at
  const list = $("messages")
  let before = null
  for (let c = list.lastElementChild; c; c = c.previousElementSibling) {
    if (c === el) continue
    if (c.dataset.at <= at) break
    before = c
  }
  if (el.parentNode === list && el.nextElementSibling === before) return
  list.insertBefore(el, before)
}

function note(text, kind, at) {
  const li = document.createElement("li")
  li.className = "note " + kind
  li.textContent = text
  if (at) place(li, at)
  else $("messages").append(li)
  return li
}

// -- messages ----------------------------------------------------------

function messageEl(name) {
  return $("messages").querySelector(`li.msg[data-msg="${CSS.escape(name)}"]`)
}

function drawMessage(m) {
  let li = messageEl(m.msg)
  if (!li) {
    li = document.createElement("li")
    li.className = "msg"
    li.dataset.msg = m.msg
    const head = document.createElement("div")
    head.className = "meta"
    const who = document.createElement("span")
    who.className = "who"
    who.textContent = m.msg
    const when = document.createElement("time")
    when.className = "when"
    const state = document.createElement("span")
    state.className = "state"
    head.append(who, when, state)
    const body = document.createElement("div")
    body.className = "text"
    li.append(head, body)
  }
  const t = view.times.get(m.msg)
  const when = li.querySelector(".when")
  if (t && when.dateTime !== t) {
    when.dateTime = t
    when.textContent = new Date(t).toLocaleTimeString([], { hour: "2-digit",
      minute: "2-digit" })
  }
  const streaming = m.status === "streaming" && !view.ended.has(m.msg)
  li.dataset.status = m.status
  li.classList.toggle("streaming", streaming)
  li.querySelector(".state").textContent = streaming ? "streaming" :
    m.status === "deleted" ? "deleted" : ""
  const body = li.querySelector(".text")
  if (body.sessText !== m.text) {
    body.sessText = m.text
    body.replaceChildren(...markdown(m.text))
  }
  place(li, m.first)
}

function removeMessage(name) {
  const li = messageEl(name)
  if (li) li.remove()
}

// Markdown-ish: paragraphs, "# " headings, "- " lists, ``` blocks,
// `code`, **bold**, *italic* and http(s) links.  It builds DOM nodes,
// never HTML from text, so nothing in a message can run.
function markdown(src) {
  const out = []
  const lines = src.split("\n")
  let para = [], list = null, code = null
  const flush = () => {
    if (para.length) {
      const p = document.createElement("p")
      inline(p, para.join("\n"))
      out.push(p)
      para = []
    }
    list = null
  }
  for (const line of lines) {
    if (code) {
      if (/^```/.test(line)) {
        code = null
      } else {
        code.textContent += (code.textContent ? "\n" : "") + line
      }
      continue
    }
    if (/^```/.test(line)) {
      flush()
      const pre = document.createElement("pre")
      code = document.createElement("code")
      pre.append(code)
      out.push(pre)
      continue
    }
    const h = /^(#{1,3}) (.*)$/.exec(line)
    const item = /^\s*[-*] (.*)$/.exec(line)
    if (h) {
      flush()
      const el = document.createElement("h" + (h[1].length + 2))
      inline(el, h[2])
      out.push(el)
    } else if (item) {
      if (para.length) flush()
      if (!list) {
        list = document.createElement("ul")
        out.push(list)
      }
      const li = document.createElement("li")
      inline(li, item[1])
      list.append(li)
    } else if (line.trim() === "") {
      flush()
    } else {
      list = null
      para.push(line)
    }
  }
  flush()
  return out
}

function inline(parent, text) {
  const re = /(`[^`]+`|\*\*[^*]+\*\*|\*[^*\s][^*]*\*|https?:\/\/[^\s<>()]+)/g
  let last = 0, m
  while ((m = re.exec(text))) {
    if (m.index > last) parent.append(text.slice(last, m.index))
    const t = m[0]
    let el
    if (t[0] === "`") {
      el = document.createElement("code")
      el.textContent = t.slice(1, -1)
    } else if (t.startsWith("**")) {
      el = document.createElement("strong")
      el.textContent = t.slice(2, -2)
    } else if (t[0] === "*") {
      el = document.createElement("em")
      el.textContent = t.slice(1, -1)
    } else {
      el = document.createElement("a")
      el.href = t
      el.rel = "noopener noreferrer"
      el.target = "_blank"
      el.textContent = t
    }
    parent.append(el)
    last = re.lastIndex
  }
  if (last < text.length) parent.append(text.slice(last))
}

// -- approvals ---------------------------------------------------------

function drawApproval(ev, d) {
  const v = view
  if (d.id == null) return
  const id = String(d.id)
  let a = v.approvals.get(id)
  if (!a || !a.el) {
    const li = document.createElement("li")
    li.className = "approval"
    li.dataset.id = id
    const q = document.createElement("div")
    q.className = "question"
    const t = document.createElement("div")
    t.className = "text"
    t.replaceChildren(...markdown(typeof d.text === "string" ? d.text :
      "Approval requested"))
    const row = document.createElement("div")
    row.className = "choices"
    const yes = button("Approve", "approve", () => answer(id, "approve"))
    const no = button("Deny", "deny", () => answer(id, "deny"))
    const res = document.createElement("span")
    res.className = "decision"
    row.append(yes, no, res)
    q.append(t)
    li.append(q, row)
    a = { el: li, decided: a ? a.decided : null, raw: d.id }
    v.approvals.set(id, a)
  }
  place(a.el, ev.offset)
  if (a.decided != null) showDecision(a)
}

function button(text, cls, fn) {
  const b = document.createElement("button")
  b.type = "button"
  b.className = cls
  b.textContent = text
  b.addEventListener("click", fn)
  return b
}

function answer(id, decision) {
  const a = view.approvals.get(id)
  if (!a || a.decided) return
  a.el.querySelectorAll("button").forEach((b) => (b.disabled = true))
  // The response carries the request's id as it was: a number stays one.
  client.publish(view.stream, { type: "approval.response", id: a.raw,
    decision }).catch((err) => {
    a.el.querySelectorAll("button").forEach((b) => (b.disabled = false))
    a.el.querySelector(".decision").textContent = "Not sent: " + err.message
  })
}

function decide(id, decision) {
  if (id == null) return
  id = String(id)
  let a = view.approvals.get(id)
  if (!a) {
    // A response seen before its request (or to one not shown).
    a = { el: null, decided: null }
    view.approvals.set(id, a)
  }
  // The first response counts.
  if (a.decided == null) a.decided = decision
  if (a.el) showDecision(a)
}

function showDecision(a) {
  const d = a.decided
  a.el.dataset.decision = d
  a.el.querySelectorAll("button").forEach((b) => (b.hidden = true))
  a.el.querySelector(".decision").textContent =
    d === "approve" ? "Approved" : d === "deny" ? "Denied" : String(d)
}

// -- run and stop ------------------------------------------------------

function streamingCount() {
  let n = 0
  for (const m of view.messages.values())
    if (m.status === "streaming" && !view.ended.has(m.msg)) n++
  return n
}

function drawRun() {
  const stop = $("stop"), run = $("run")
  if (!view) return
  const busy = view.run != null || streamingCount() > 0
  stop.disabled = !busy || view.stopping
  stop.textContent = view.stopping ? "Stopping…" : "Stop"
  run.textContent = view.run != null ? `Run ${view.run} in progress` :
    busy ? "Streaming" : "Idle"
  run.classList.toggle("busy", busy)
}

$("stop").addEventListener("click", () => {
  if (!view) return
  const v = view
  v.stopping = true
  drawRun()
  // The run should end soon; if it does not, Stop can be pressed again.
  setTimeout(() => {
    if (view === v && v.stopping) {
      v.stopping = false
      drawRun()
    }
  }, 10000)
  client.publish(view.stream, { type: "control", action: "stop",
    run: view.run }).catch((err) => {
    view.stopping = false
    drawRun()
    note("Stop not sent: " + err.message, "error")
  })
})

// -- presence ----------------------------------------------------------

function drawPresence() {
  if (!view || !view.att) return
  const list = $("presence")
  const members = view.att.members
  $("count").textContent = members.length ? String(members.length) : ""
  const items = members.map((m) => {
    const li = document.createElement("li")
    li.dataset.member = m.member
    const mine = m.conns.some((c) => c.conn === client.conn)
    li.classList.toggle("me", mine)
    const dot = document.createElement("span")
    dot.className = "avatar"
    dot.textContent = (m.member[0] || "?").toUpperCase()
    const name = document.createElement("span")
    name.className = "name"
    name.textContent = m.member
    const sub = document.createElement("span")
    sub.className = "sub"
    const n = m.conns.length
    const bits = []
    if (mine) bits.push(n > 1 ? `this tab + ${n - 1} more` : "this tab")
    else if (n > 1) bits.push(`${n} tabs`)
    const devs = [...new Set(m.conns.map((c) => c.data && c.data.device)
      .filter(Boolean))]
    if (devs.length) bits.push(devs.join(", "))
    sub.textContent = bits.join(" · ")
    li.append(dot, name, sub)
    return li
  })
  if (items.length === 0) {
    const li = document.createElement("li")
    li.className = "nobody"
    li.textContent = "Nobody yet"
    items.push(li)
  }
  list.replaceChildren(...items)
}

// -- read position -------------------------------------------------------

let ackTimer = null
function ackSoon() {
  if (ackTimer) return
  ackTimer = setTimeout(() => {
    ackTimer = null
    const v = view
    if (v && v.att && v.att.offset)
      client.ack(v.stream, v.att.offset).catch(() => {})
  }, 500)
}
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") ackSoon()
})

// -- notify me ----------------------------------------------------------

// "Notify me" subscribes this browser to Web Push with sessd's VAPID key
// and registers the subscription as a webpush channel of the page's
// member (the token's subject with a token), so that sess-notify can
// tell the member about events marked "notify" while they are away.
// /sess-sw.js shows them.
function notifyNote(text, state) {
  const el = $("notify-note")
  el.textContent = text
  el.dataset.state = state || ""
}

function pushSupported() {
  if (!window.isSecureContext)
    return "Notifications need HTTPS (or localhost)."
  if (!("serviceWorker" in navigator) || !("PushManager" in window) ||
      !("Notification" in window))
    return "This browser cannot show push notifications."
  return null
}

function b64urlBytes(s) {
  const b = atob(s.replace(/-/g, "+").replace(/_/g, "/"))
  return Uint8Array.from(b, (c) => c.charCodeAt(0))
}

function bytesB64url(buf) {
  let s = ""
  for (const c of new Uint8Array(buf)) s += String.fromCharCode(c)
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
}

// sessd's answer, or an Error with its message.
async function api(path, init) {
  const headers = { ...(init && init.headers) }
  if (token) headers.Authorization = "Bearer " + token
  const r = await fetch(path, { ...init, headers })
  let body = null
  try {
    body = await r.json()
  } catch {
    // Not JSON: the status says it.
  }
  if (!r.ok)
    throw new Error(body && body.error && body.error.message ||
      `HTTP ${r.status}`)
  return body
}

async function notifyMe() {
  const btn = $("notify")
  btn.disabled = true
  notifyNote("Asking…", "busy")
  try {
    if (await Notification.requestPermission() !== "granted")
      throw new Error("notifications are blocked for this page")
    const reg = await navigator.serviceWorker.register("/sess-sw.js",
      { scope: "/" })
    const { publicKey } = await api("/v1/push/vapid")
    let sub = await reg.pushManager.getSubscription()
    // One made with another key (another sessd) cannot be used.
    if (sub && (!sub.options.applicationServerKey ||
        bytesB64url(sub.options.applicationServerKey) !== publicKey)) {
      await sub.unsubscribe()
      sub = null
    }
    if (!sub)
      sub = await reg.pushManager.subscribe({ userVisibleOnly: true,
        applicationServerKey: b64urlBytes(publicKey) })
    const q = member ? "?member=" + encodeURIComponent(member) : ""
    const res = await api("/v1/push/subscriptions" + q, { method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(sub) })
    notifyNote(`Notifications on for ${res.member}`, "on")
    btn.hidden = true
  } catch (err) {
    notifyNote("Not registered: " + (err && err.message || err), "error")
    btn.disabled = false
  }
}

{
  const why = pushSupported()
  $("notify").hidden = false
  if (why) {
    $("notify").disabled = true
    $("notify").title = why
    notifyNote(why, "off")
  } else {
    $("notify").addEventListener("click", notifyMe)
  }
}

// -- start -----------------------------------------------------------------

$("hint-cmd").textContent =
  `sess-pub -u ${location.origin} demo/run-1 \\\n` +
  `  '{"type":"run.start","run":"r1"}' \\\n` +
  `  '{"msg":"m1","op":"create","text":"Hello from **sess**"}'`
showState()
open(hashStream())
