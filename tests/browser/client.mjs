// client.mjs: sess.js's connection logic against a scripted WebSocket, in
// Node: re-attach from the last offset after a reconnect, de-duplication
// by offset, a publish sent again with the same mid, presence entered
// again, backoff with jitter, and a 1008 close without a way to renew.
//
//   node --test-reporter=tap client.mjs
import { test } from "node:test"
import assert from "node:assert/strict"
import { join, dirname } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const { connect, applyPresence, wsURL } = await import(
  join(here, "../../cmd/sessd/www/sess.js"))

// A WebSocket whose server side is the test: sockets[] in creation order,
// each with sent[] (parsed frames), push(frame), and drop(code).
function fakeServer() {
  const sockets = []
  class FakeWS {
    constructor(url, protocols) {
      this.url = url
      this.protocols = protocols
      this.readyState = 0
      this.sent = []
      sockets.push(this)
      queueMicrotask(() => {
        this.readyState = 1
        this.push({ op: "welcome", conn: `c${sockets.length}`, member: "m",
          limits: {}, grace: 15 })
      })
    }
    send(text) {
      this.sent.push(JSON.parse(text))
    }
    close(code = 1000) {
      this.drop(code)
    }
    push(frame) {
      if (this.readyState === 1) this.onmessage({ data: JSON.stringify(frame) })
    }
    drop(code = 1006) {
      if (this.readyState === 3) return
      this.readyState = 3
      this.onclose({ code })
    }
    // Answers every request not yet answered with ok (and extra).
    okAll(extra = () => ({})) {
      for (const f of this.sent.splice(0))
        this.push({ op: "ok", re: f.op, id: f.id, stream: f.stream,
          ...extra(f) })
    }
  }
  return { sockets, FakeWS }
}

// The test's own timer, untouched by the backoff test's stand-in.
const realSetTimeout = globalThis.setTimeout
const tick = (ms = 0) => new Promise((r) => realSetTimeout(r, ms))
async function until(pred, what) {
  for (let i = 0; i < 500; i++) {
    if (pred()) return
    await tick(2)
  }
  throw new Error("timed out waiting for " + what)
}
const ev = (n, data = { n }) => ({
  offset: String(n).padStart(16, "0"), time: "2026-11-27T00:00:00.000000Z",
  data,
})

test("the WebSocket URL from a base URL", () => {
  assert.equal(wsURL("http://h:1"), "ws://h:1/v1/ws")
  assert.equal(wsURL("https://h/x/", "t.k", "a b"),
    "wss://h/x/v1/ws?token=t.k&member=a+b")
  assert.equal(wsURL("ws://h/v1/ws"), "ws://h/v1/ws")
})

test("re-attach from the last offset, nothing twice", async () => {
  const { sockets, FakeWS } = fakeServer()
  const sess = connect("http://h", { WebSocket: FakeWS, minDelay: 1,
    maxDelay: 4, heartbeat: 0 })
  const a = sess.attach("s", { offset: "-1" })
  const seen = []
  a.on("event", (e) => seen.push(e.data.n))
  await until(() => sockets[0]?.sent.length === 1, "attach")
  assert.deepEqual(sockets[0].sent[0], { op: "attach", stream: "s",
    offset: "-1", id: sockets[0].sent[0].id })
  sockets[0].okAll(() => ({ offset: "-1", tail: ev(2).offset }))
  sockets[0].push({ op: "events", stream: "s", events: [ev(1), ev(2)] })
  // A repeat of what was delivered, then a batch that overlaps it.
  sockets[0].push({ op: "events", stream: "s", events: [ev(2)] })
  sockets[0].push({ op: "events", stream: "s", events: [ev(2), ev(3)] })
  assert.deepEqual(seen, [1, 2, 3])
  sockets[0].drop()
  await until(() => sockets[1]?.sent.length >= 1, "the re-attach")
  assert.equal(sockets[1].sent[0].offset, ev(3).offset)
  sockets[1].okAll(() => ({ offset: ev(3).offset }))
  sockets[1].push({ op: "events", stream: "s", events: [ev(3), ev(4)] })
  assert.deepEqual(seen, [1, 2, 3, 4])
  // The server dropped the attachment: attach again from where it was.
  sockets[1].push({ op: "resume", stream: "s", offset: ev(4).offset })
  await until(() => sockets[1].sent.length === 1, "the resume")
  assert.equal(sockets[1].sent[0].offset, ev(4).offset)
  sess.close()
})

test("attach from now resumes from the tail it was given", async () => {
  const { sockets, FakeWS } = fakeServer()
  const sess = connect("http://h", { WebSocket: FakeWS, minDelay: 1,
    heartbeat: 0 })
  sess.attach("s", { offset: "now" })
  await until(() => sockets[0]?.sent.length === 1, "attach")
  sockets[0].okAll(() => ({ offset: ev(9).offset }))
  await tick()
  sockets[0].drop()
  await until(() => sockets[1]?.sent.length === 1, "the re-attach")
  assert.equal(sockets[1].sent[0].offset, ev(9).offset)
  sess.close()
})

test("a publish whose answer was lost is sent again with its mid",
  async () => {
    const { sockets, FakeWS } = fakeServer()
    const sess = connect("http://h", { WebSocket: FakeWS, minDelay: 1,
      heartbeat: 0 })
    await until(() => sess.state === "open", "open")
    const p = sess.publish("s", { a: 1 })
    const first = sockets[0].sent[0]
    assert.equal(first.op, "publish")
    assert.match(first.mid, /^[0-9a-f]{16}$/)
    sockets[0].drop()
    await until(() => sockets[1]?.sent.length === 1, "the resend")
    const again = sockets[1].sent[0]
    assert.equal(again.mid, first.mid)
    assert.deepEqual(again.data, { a: 1 })
    sockets[1].okAll(() => ({ offset: ev(5).offset, duplicate: true }))
    assert.deepEqual(await p, { offset: ev(5).offset, duplicate: true,
      mid: first.mid })
    // A publish made while disconnected waits for the socket.
    sockets[1].drop()
    const q = sess.publish("s", 2, { mid: "mine" })
    await until(() => sockets[2]?.sent.length === 1, "the queued publish")
    assert.equal(sockets[2].sent[0].mid, "mine")
    sockets[2].okAll(() => ({ offset: ev(6).offset, duplicate: false }))
    assert.equal((await q).offset, ev(6).offset)
    sess.close()
  })

test("presence is entered again after a reconnect, not after a leave",
  async () => {
    const { sockets, FakeWS } = fakeServer()
    const sess = connect("http://h", { WebSocket: FakeWS, minDelay: 1,
      heartbeat: 0 })
    await until(() => sess.state === "open", "open")
    sess.enter("s", { device: "phone" })
    sess.enter("t")
    sockets[0].okAll()
    sess.leave("t")
    sockets[0].okAll()
    sockets[0].drop()
    await until(() => sockets[1]?.sent.length === 1, "the re-enter")
    await tick()
    assert.deepEqual(sockets[1].sent.map((f) => [f.op, f.stream, f.data]),
      [["enter", "s", { device: "phone" }]])
    sess.close()
  })

test("backoff grows with jitter, up to its maximum", async () => {
  const { sockets, FakeWS } = fakeServer()
  const delays = []
  globalThis.setTimeout = (fn, ms) => {
    if (ms > 0) delays.push(ms)
    return realSetTimeout(fn, 0)
  }
  try {
    const sess = connect("http://h", { WebSocket: class extends FakeWS {
      constructor(...a) {
        super(...a)
        // Never welcomed: each socket fails at once.
        queueMicrotask(() => this.drop())
      }
      push() {}
    }, minDelay: 100, maxDelay: 1000, heartbeat: 0 })
    await until(() => delays.length >= 8, "eight retries")
    sess.close()
  } finally {
    globalThis.setTimeout = realSetTimeout
  }
  const caps = [100, 200, 400, 800, 1000, 1000, 1000, 1000]
  caps.forEach((d, i) => {
    assert.ok(delays[i] >= d / 2 && delays[i] <= d,
      `retry ${i}: ${delays[i]} not in [${d / 2}, ${d}]`)
  })
  assert.ok(new Set(delays).size > 1, "no jitter")
  assert.ok(sockets.length >= 8)
})

test("an expired token with no way to renew it stops the retries",
  async () => {
    const { sockets, FakeWS } = fakeServer()
    const sess = connect("http://h", { WebSocket: FakeWS, token: "t",
      minDelay: 1, heartbeat: 0 })
    const errors = []
    sess.on("error", (e) => errors.push(e.code))
    await until(() => sess.state === "open", "open")
    sockets[0].drop(1008)
    assert.equal(sess.state, "closed")
    assert.deepEqual(errors, ["TOKEN_EXPIRED"])
    await tick(20)
    assert.equal(sockets.length, 1)
    // With a function, a fresh token is asked for at each connect.
    let asked = 0
    const s2 = connect("http://h", { WebSocket: FakeWS, minDelay: 1,
      heartbeat: 0, token: async () => `t${++asked}` })
    await until(() => s2.state === "open", "open")
    sockets.at(-1).drop(1008)
    await until(() => asked === 2 && s2.state === "open", "a new token")
    assert.match(sockets.at(-1).url, /token=t2/)
    s2.close()
  })

test("an error frame rejects its request with the code", async () => {
  const { sockets, FakeWS } = fakeServer()
  const sess = connect("http://h", { WebSocket: FakeWS, heartbeat: 0 })
  await until(() => sess.state === "open", "open")
  const a = sess.attach("x")
  const errs = []
  a.on("error", (e) => errs.push(e.code))
  const m = sess.members("y")
  const [att, mem] = sockets[0].sent
  sockets[0].push({ op: "error", re: "attach", id: att.id, stream: "x",
    code: "FORBIDDEN", message: "no read on x" })
  sockets[0].push({ op: "error", re: "members", id: mem.id, stream: "y",
    code: "FORBIDDEN", message: "no read on y" })
  await assert.rejects(m, { name: "SessError", code: "FORBIDDEN" })
  await tick()
  assert.deepEqual(errs, ["FORBIDDEN"])
  sess.close()
})

test("presence transitions keep the members list", () => {
  const t = "2026-11-27T00:00:00.000000Z"
  let m = []
  m = applyPresence(m, { event: "enter", member: "a", conn: "1", data: { d: 1 },
    time: t })
  m = applyPresence(m, { event: "enter", member: "a", conn: "2", data: null,
    time: t })
  m = applyPresence(m, { event: "enter", member: "b", conn: "3", data: null,
    time: t })
  m = applyPresence(m, { event: "update", member: "a", conn: "1",
    data: { d: 2 }, time: t })
  assert.deepEqual(m.map((x) => [x.member, x.conns.map((c) => c.conn)]),
    [["a", ["1", "2"]], ["b", ["3"]]])
  assert.deepEqual(m[0].conns[0].data, { d: 2 })
  m = applyPresence(m, { event: "leave", member: "a", conn: "1", time: t })
  m = applyPresence(m, { event: "leave", member: "b", conn: "3", time: t })
  assert.deepEqual(m.map((x) => [x.member, x.conns.map((c) => c.conn)]),
    [["a", ["2"]]])
})
