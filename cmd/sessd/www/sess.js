// sess.js: the sess browser client.  One WebSocket to sessd (GET /v1/ws,
// see sess-ws(7)) that follows many streams, resumes them after a
// reconnect with nothing missed and nothing twice, publishes
// idempotently, holds presence and acks read positions.  No dependencies;
// it runs in browsers and in Node 22+ (or any runtime with a global
// WebSocket, or one passed as opts.WebSocket).
//
//   import { connect, applyMessageOp, messageList } from "/sess.js"
//   const sess = connect(location.origin, { member: "alice" })
//   const chat = sess.attach("chat/alice/run-42", { offset: "-1" })
//   const msgs = new Map()
//   chat.on("event", (ev) => { applyMessageOp(msgs, ev); draw(messageList(msgs)) })
//   await sess.publish("chat/alice/run-42", { type: "control", action: "stop", run: "r1" })
//
// Offsets are sess offsets: 16-digit zero-padded strings that sort like
// the numbers they hold, so comparing two as strings compares them as
// numbers.  "-1" (from the start) sorts before every real offset.

/** A small event emitter: on(type, fn) returns a function that removes fn. */
class Emitter {
  constructor() {
    this._fns = new Map()
  }
  on(type, fn) {
    if (!this._fns.has(type)) this._fns.set(type, new Set())
    this._fns.get(type).add(fn)
    return () => this.off(type, fn)
  }
  off(type, fn) {
    const s = this._fns.get(type)
    if (s) s.delete(fn)
  }
  emit(type, ...args) {
    const s = this._fns.get(type)
    if (!s) return
    for (const fn of [...s]) {
      try {
        fn(...args)
      } catch (err) {
        // A listener's bug must not break delivery to the others.
        setTimeout(() => {
          throw err
        })
      }
    }
  }
}

/** An error the server answered with ({"op":"error",...}). */
export class SessError extends Error {
  constructor(frame) {
    super(frame.message || frame.code || "error")
    this.name = "SessError"
    this.code = frame.code
    this.op = frame.re ?? null
    this.stream = frame.stream ?? null
  }
}

// Ops that are safe to send again after a reconnect: the server gives the
// same answer (publish carries a mid, presence and acks are states).
const RESEND = new Set(["publish", "ack"])

/** Is a an offset after b?  Both are offset strings; null is before all. */
export function after(a, b) {
  if (b == null) return true
  if (a == null) return false
  return a > b
}

/** A random id: 16 hex digits from the best source there is. */
function randomId() {
  const c = globalThis.crypto
  if (c && c.getRandomValues) {
    const b = c.getRandomValues(new Uint8Array(8))
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")
  }
  return Math.random().toString(16).slice(2).padEnd(16, "0")
}

/** sessd's WebSocket URL from its base URL (http, https, ws or wss). */
export function wsURL(base, token, member) {
  const loc = globalThis.location
  const u = new URL(base, loc ? loc.href : undefined)
  if (u.protocol === "http:") u.protocol = "ws:"
  else if (u.protocol === "https:") u.protocol = "wss:"
  if (!u.pathname.endsWith("/v1/ws"))
    u.pathname = u.pathname.replace(/\/*$/, "") + "/v1/ws"
  if (token) u.searchParams.set("token", token)
  if (member) u.searchParams.set("member", member)
  return u.toString()
}

/**
 * One attached stream.  Events: "event" (ev, one per event, in order,
 * each once), "events" (array, per push), "members" (the list),
 * "presence" (transition, members), "closed" (offset), "gone", "error"
 * (SessError), "attached" (the ok reply, after every (re)attach).
 */
class Attachment extends Emitter {
  constructor(client, stream, offset) {
    super()
    this.client = client
    this.stream = stream
    // The offset to attach from: the last event delivered, or the
    // starting point asked for until one is.
    this.start = offset
    // The last offset delivered, or null before any.
    this.offset = null
    this.tail = null
    this.members = []
    this.attached = false
    this.detached = false
  }

  /** Stops following the stream; its events stop at once. */
  detach() {
    if (this.detached) return Promise.resolve()
    this.detached = true
    this.attached = false
    this.client._attachments.delete(this.stream)
    return this.client._request({ op: "detach", stream: this.stream }, false)
      .catch(() => {})
  }

  _deliver(events) {
    const fresh = []
    for (const ev of events) {
      // Resume and de-duplication: an offset not after the last one
      // delivered was seen already (a catch-up that overlaps live, or a
      // re-attach after a reconnect).
      if (!after(ev.offset, this.offset)) continue
      this.offset = ev.offset
      this.start = ev.offset
      fresh.push(ev)
    }
    if (fresh.length === 0) return
    this.emit("events", fresh)
    for (const ev of fresh) this.emit("event", ev)
  }

  _presence(p) {
    this.members = applyPresence(this.members, p)
    this.emit("presence", p, this.members)
  }
}

/**
 * The members list after presence transition p: the same shape as
 * GET /v1/presence/STREAM, [{member, since, data, conns: [{conn, since,
 * data}]}].  Returns a new array; members is not changed.
 */
export function applyPresence(members, p) {
  const out = members.map((m) => ({ ...m, conns: [...m.conns] }))
  let m = out.find((x) => x.member === p.member)
  if (p.event === "leave") {
    if (!m) return out
    m.conns = m.conns.filter((c) => c.conn !== p.conn)
    return m.conns.length === 0 ? out.filter((x) => x !== m) : out
  }
  if (!m) {
    m = { member: p.member, since: p.time, data: p.data ?? null, conns: [] }
    out.push(m)
  }
  const c = m.conns.find((x) => x.conn === p.conn)
  if (c) c.data = p.data ?? null
  else m.conns.push({ conn: p.conn, since: p.time, data: p.data ?? null })
  m.data = p.data ?? null
  return out
}

/**
 * A connection to sessd.  Events: "state" ("connecting", "open",
 * "waiting", "closed"), "welcome" (the welcome frame), "error" (an error
 * frame no request is waiting for, or a SessError), "close" (the close
 * event of each socket).
 */
class Client extends Emitter {
  constructor(url, opts) {
    super()
    this.url = url
    this.opts = opts
    this.state = "connecting"
    this.conn = null
    this.member = null
    this.welcome = null
    this._ws = null
    this._seq = 0
    this._pending = new Map() // id -> {frame, resolve, reject}
    this._attachments = new Map() // stream -> Attachment
    this._presence = new Map() // stream -> data we entered with
    this._acks = new Map() // stream -> highest offset acked
    this._tries = 0
    this._timer = null
    this._heart = null
    this._closed = false
    this._online = () => this._reconnectNow()
    this._offline = () => this._drop()
    if (globalThis.addEventListener) {
      globalThis.addEventListener("online", this._online)
      globalThis.addEventListener("offline", this._offline)
    }
    this._open()
  }

  /**
   * Follows stream from offset ("-1" the start, the default; "now" the
   * tail; or an offset: the events after it).  Attaching a stream that
   * is attached returns the same Attachment.
   */
  attach(stream, { offset = "-1" } = {}) {
    let a = this._attachments.get(stream)
    if (a) return a
    a = new Attachment(this, stream, offset)
    this._attachments.set(stream, a)
    if (this.state === "open") this._attach(a)
    return a
  }

  /**
   * Appends data (any JSON value) to stream.  mid, the client message id,
   * makes it idempotent: a repeat appends nothing and answers with the
   * original offset and duplicate: true.  One is made up when not given,
   * and kept for the retries after a reconnect, so a publish whose answer
   * was lost appends once.  Resolves to {offset, duplicate}.
   */
  publish(stream, data, { mid } = {}) {
    const frame = { op: "publish", stream, data, mid: mid || randomId() }
    return this._request(frame, true).then((r) => ({
      offset: r.offset, duplicate: !!r.duplicate, mid: frame.mid,
    }))
  }

  /** Enters stream's presence with data (an object); held over reconnects. */
  enter(stream, data = {}) {
    this._presence.set(stream, data)
    return this._presenceOp({ op: "enter", stream, data })
  }

  /** Changes this connection's presence data on stream. */
  update(stream, data = {}) {
    this._presence.set(stream, data)
    return this._presenceOp({ op: "update", stream, data })
  }

  /** Leaves stream's presence at once. */
  leave(stream) {
    this._presence.delete(stream)
    return this._presenceOp({ op: "leave", stream })
  }

  /** The members present on stream now (see applyPresence for the shape). */
  members(stream) {
    return this._request({ op: "members", stream }, false)
      .then((r) => r.members)
  }

  /**
   * Sets this member's read position on stream (it only moves forward).
   * Resolves to {offset, unread}.
   */
  ack(stream, offset) {
    const last = this._acks.get(stream)
    if (!after(offset, last)) offset = last
    this._acks.set(stream, offset)
    return this._request({ op: "ack", stream, offset }, true)
      .then((r) => ({ offset: r.offset ?? offset, unread: r.unread }))
  }

  /** A round trip to the server; resolves to the time it took in ms. */
  ping() {
    const t0 = Date.now()
    return this._request({ op: "ping" }, false).then(() => Date.now() - t0)
  }

  /** Closes for good: leaves presence (a clean close), no reconnect. */
  close() {
    this._closed = true
    clearTimeout(this._timer)
    clearInterval(this._heart)
    if (globalThis.removeEventListener) {
      globalThis.removeEventListener("online", this._online)
      globalThis.removeEventListener("offline", this._offline)
    }
    this._fail(new Error("closed"))
    if (this._ws) this._ws.close(1000)
    this._setState("closed")
  }

  // -- the socket ------------------------------------------------------

  async _open() {
    if (this._closed) return
    this._setState("connecting")
    let token = this.opts.token
    if (typeof token === "function") {
      try {
        token = await token()
      } catch (err) {
        this.emit("error", err)
        return this._retry()
      }
    }
    const WS = this.opts.WebSocket || globalThis.WebSocket
    let ws
    try {
      ws = new WS(wsURL(this.url, token, this.opts.member), ["sess.v1"])
    } catch (err) {
      this.emit("error", err)
      return this._retry()
    }
    this._ws = ws
    ws.onmessage = (m) => {
      if (this._ws === ws) this._frame(m.data)
    }
    ws.onclose = (ev) => {
      if (this._ws !== ws) return
      this._ws = null
      this.emit("close", ev)
      this._down()
      if (ev.code === 1008 && typeof this.opts.token !== "function") {
        // The token expired and there is no way to get another one.
        this.emit("error", new SessError({ code: "TOKEN_EXPIRED",
          message: "the token expired" }))
        this._closed = true
        this._setState("closed")
        return
      }
      this._retry()
    }
    ws.onerror = () => {}
  }

  _setState(s) {
    if (this.state === s) return
    this.state = s
    this.emit("state", s)
  }

  // The socket is gone: requests that can be sent again wait for the
  // next socket, the others fail.
  _down() {
    clearInterval(this._heart)
    this._heart = null
    for (const a of this._attachments.values()) a.attached = false
    for (const [id, p] of this._pending)
      if (!RESEND.has(p.frame.op)) {
        this._pending.delete(id)
        p.reject(new Error("disconnected"))
      }
  }

  _fail(err) {
    for (const [id, p] of this._pending) {
      this._pending.delete(id)
      p.reject(err)
    }
  }

  // Exponential backoff with full jitter: the n-th retry waits a random
  // time in [d/2, d), d = min(max, min * 2^n).
  _retry() {
    if (this._closed) return
    const min = this.opts.minDelay ?? 250
    const max = this.opts.maxDelay ?? 15000
    const d = Math.min(max, min * 2 ** Math.min(this._tries, 16))
    this._tries++
    this._setState("waiting")
    clearTimeout(this._timer)
    this._timer = setTimeout(() => this._open(), d / 2 + Math.random() * d / 2)
  }

  // Back online: try at once rather than at the end of a long backoff.
  _reconnectNow() {
    if (this._closed || this._ws) return
    this._tries = 0
    clearTimeout(this._timer)
    this._open()
  }

  // Offline: a socket that looks open may be dead; drop it and resume
  // when the network is back.
  _drop() {
    if (this._ws) this._ws.close(4000, "offline")
  }

  _send(frame) {
    if (this._ws && this._ws.readyState === 1) {
      this._ws.send(JSON.stringify(frame))
      return true
    }
    return false
  }

  // Sends a request; the promise settles with its answer.  A request
  // made while the socket is down waits for the next one if resend (it
  // is safe to send twice), else fails at once.
  _request(frame, resend) {
    return new Promise((resolve, reject) => {
      if (this._closed) return reject(new Error("closed"))
      if (this.state !== "open" && !resend)
        return reject(new Error("disconnected"))
      const id = ++this._seq
      frame.id = id
      this._pending.set(id, { frame, resolve, reject })
      if (this.state === "open") this._send(frame)
    })
  }

  // Presence is a state this client holds: sent now if it can be, and
  // again after every reconnect.
  _presenceOp(frame) {
    if (this.state !== "open") return Promise.resolve({ op: "ok", re: frame.op,
      stream: frame.stream, queued: true })
    return this._request(frame, false)
  }

  _attach(a) {
    a.attached = false
    const frame = { op: "attach", stream: a.stream, offset: a.start }
    this._request(frame, false).then((r) => {
      if (a.detached) return
      a.attached = true
      a.tail = r.tail ?? null
      // "now" and "-1" become a real position, so a later re-attach
      // starts exactly where this one did.
      if (a.offset == null && r.offset != null && r.offset !== "-1")
        a.start = r.offset
      a.emit("attached", r)
    }, (err) => {
      if (err instanceof SessError) a.emit("error", err)
    })
  }

  _frame(text) {
    let f
    try {
      f = JSON.parse(text)
    } catch {
      return
    }
    if (f === null || typeof f !== "object") return
    switch (f.op) {
      case "welcome":
        return this._welcome(f)
      case "ok":
      case "pong": {
        const p = this._pending.get(f.id)
        if (!p) return
        this._pending.delete(f.id)
        return p.resolve(f)
      }
      case "error": {
        const p = f.id != null ? this._pending.get(f.id) : null
        const err = new SessError(f)
        if (p) {
          this._pending.delete(f.id)
          if (f.code === "RATE_LIMITED" && p.frame.op === "publish") {
            // Slow down and send the same publish (same mid) again.
            return setTimeout(() => this._request(p.frame, true)
              .then(p.resolve, p.reject), 1000)
          }
          return p.reject(err)
        }
        const a = f.stream != null ? this._attachments.get(f.stream) : null
        if (a) a.emit("error", err)
        return this.emit("error", err)
      }
      case "events": {
        const a = this._attachments.get(f.stream)
        if (a && !a.detached) a._deliver(f.events || [])
        return
      }
      case "members": {
        const a = this._attachments.get(f.stream)
        if (!a) return
        a.members = f.members || []
        return a.emit("members", a.members)
      }
      case "presence": {
        const a = this._attachments.get(f.stream)
        if (a) a._presence(f)
        return
      }
      case "closed": {
        const a = this._attachments.get(f.stream)
        if (a) a.emit("closed", f.offset)
        return
      }
      case "gone": {
        const a = this._attachments.get(f.stream)
        if (a) a.emit("gone")
        return
      }
      case "resume": {
        // The server dropped the attachment; take it up again from the
        // last event delivered (never earlier than it said).
        const a = this._attachments.get(f.stream)
        if (!a || a.detached) return
        if (a.offset == null && f.offset) a.start = f.offset
        return this._attach(a)
      }
    }
  }

  _welcome(f) {
    const waiting = [...this._pending.values()]
    this.welcome = f
    this.conn = f.conn
    this.member = f.member ?? null
    this._tries = 0
    this._setState("open")
    this.emit("welcome", f)
    // Re-establish everything: attachments from their last offsets,
    // presence, then the requests that were waiting.
    for (const a of this._attachments.values()) this._attach(a)
    for (const [stream, data] of this._presence)
      this._request({ op: "enter", stream, data }, false).catch(() => {})
    for (const p of waiting) this._send(p.frame)
    // A heartbeat finds a socket that died without a close.
    const every = this.opts.heartbeat ?? 20000
    if (every > 0) {
      clearInterval(this._heart)
      this._heart = setInterval(() => {
        const ws = this._ws
        let answered = false
        this.ping().then(() => (answered = true), () => {})
        setTimeout(() => {
          if (!answered && this._ws === ws && ws) ws.close(4001, "no pong")
        }, Math.min(every, 10000))
      }, every)
    }
  }
}

/**
 * Connects to sessd at url (its base URL, http(s):// or ws(s)://; the
 * path /v1/ws is added).  opts: token (a string, or a function returning
 * one or a promise of one, asked again at each reconnect), member (the
 * member to declare when sessd runs without a key), minDelay and
 * maxDelay (the reconnect backoff, ms: 250 and 15000), heartbeat (ms
 * between pings that detect a dead socket, 20000; 0 for none), WebSocket
 * (a constructor, for runtimes without a global one).  Returns at once;
 * the connection opens, and reopens, by itself.
 */
export function connect(url, opts = {}) {
  return new Client(url, opts)
}

// -- messages ------------------------------------------------------------

const OPS = new Set(["create", "append", "replace", "finish", "delete"])

/**
 * Applies one event to messages, a Map from message name to
 * {msg, text, status, first, last}, the way the store's materialized
 * view does (sess-replay -s, GET /v1/messages): create starts a message
 * ("streaming"; on an existing one it starts it afresh), append adds
 * text, replace sets it, finish adds its text if any and makes it
 * "complete", delete clears it and makes it "deleted"; an op on a
 * message never created creates it, so no text is lost; a
 * {"type":"superseded","msgs":[...]} marker removes the messages it
 * names.  first is the offset that created the message, last that of its
 * latest op.  ev is {offset, data}.  Returns the name of the message
 * changed (or an array of the names removed), or null if ev is no
 * message op.
 */
export function applyMessageOp(messages, ev) {
  const d = ev && ev.data
  if (d === null || typeof d !== "object" || Array.isArray(d)) return null
  if (d.type === "superseded" && Array.isArray(d.msgs)) {
    const gone = d.msgs.filter((m) => typeof m === "string")
    for (const m of gone) messages.delete(m)
    return gone
  }
  if (typeof d.msg !== "string" || d.msg === "" || !OPS.has(d.op))
    return null
  const text = typeof d.text === "string" ? d.text : ""
  const o = ev.offset
  let m = messages.get(d.msg)
  if (!m || d.op === "create") {
    // A new row, as the store's INSERT: every op creates what is missing.
    const status = d.op === "finish" ? "complete" :
      d.op === "delete" ? "deleted" : "streaming"
    messages.set(d.msg, {
      msg: d.msg, text: d.op === "delete" ? "" : text, status,
      first: o, last: o,
    })
    return d.msg
  }
  switch (d.op) {
    case "append":
      m.text += text
      break
    case "replace":
      m.text = text
      break
    case "finish":
      m.text += text
      m.status = "complete"
      break
    case "delete":
      m.text = ""
      m.status = "deleted"
      break
  }
  m.last = o
  return d.msg
}

/** The messages in the view's order: by the offset that created them. */
export function messageList(messages) {
  return [...messages.values()].sort((a, b) =>
    a.first < b.first ? -1 : a.first > b.first ? 1 : 0)
}
