// sessd-client.mjs: drives a running sessd through the official Durable
// Streams TypeScript client (@durable-streams/client, unchanged).
//
//   node --test-reporter=tap sessd-client.mjs BASE_URL STORE
//
// BASE_URL is sessd's base URL (http://127.0.0.1:PORT); STORE is the store
// file sessd serves, which an embedded writer (sess-pub -d, found as
// $SESS_PUB or on PATH) appends to from another process.  SESSD_POLL_MS is
// sessd's long-poll timeout (-P), so the long-poll test can see a poll
// expire and be renewed.  Every wait is bounded; a watchdog ends the run if
// anything is still pending after all of them.
import { test } from "node:test"
import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import {
  DurableStream,
  IdempotentProducer,
  StaleEpochError,
  stream,
} from "@durable-streams/client"

const [base, store] = process.argv.slice(2)
if (!base || !store) {
  console.error("usage: node sessd-client.mjs BASE_URL STORE")
  process.exit(2)
}
const sessPub = process.env.SESS_PUB || "sess-pub"
const pollMs = Number(process.env.SESSD_POLL_MS || 1000)
const WAIT = 10_000 // any single wait for the server
const TEST = 30_000 // any single test

// The watchdog: unref'd, so it only fires if something keeps node alive.
setTimeout(() => {
  console.error("# watchdog: still running after 100 s, giving up")
  process.exit(3)
}, 100_000).unref()

// Stream names carry a per-run suffix, so that a rerun against the same
// sessd starts on fresh streams.
const run = Date.now().toString(36)
const url = (name) => `${base}/v1/stream/${name}-${run}`

// Fail fast instead of retrying forever (the client's default).
const backoffOptions = {
  initialDelay: 50,
  maxDelay: 500,
  multiplier: 1.5,
  maxRetries: 3,
}

// A fetch that records every request it makes and the status it got, so a
// test can check which protocol requests the client really sent.
function recordingFetch() {
  const log = []
  const f = async (input, init) => {
    const entry = {
      method: init?.method ?? "GET",
      url: String(input instanceof Request ? input.url : input),
      status: null,
    }
    log.push(entry)
    const res = await fetch(input, init)
    entry.status = res.status
    return res
  }
  f.log = log
  f.live = (mode) =>
    log.filter((e) => new URL(e.url).searchParams.get("live") === mode)
  return f
}

async function createJson(name, opts = {}) {
  return DurableStream.create({
    url: url(name),
    contentType: "application/json",
    warnOnHttp: false,
    backoffOptions,
    ...opts,
  })
}

// catchUp NAME [OFFSET]: the values from OFFSET (default: the start) to the
// end, and the offset to resume from.
async function catchUp(name, offset) {
  const res = await stream({
    url: url(name),
    offset,
    live: false,
    warnOnHttp: false,
    backoffOptions,
    signal: AbortSignal.timeout(WAIT),
  })
  const items = await res.json()
  return { items, offset: res.offset, closed: res.streamClosed }
}

// pub NAME VALUE...: appends through the embedded writer, a separate
// process writing straight to the store file.
function pub(name, ...values) {
  return new Promise((resolve, reject) => {
    execFile(
      sessPub,
      ["-d", store, `${name}-${run}`, ...values.map((v) => JSON.stringify(v))],
      { timeout: WAIT },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`sess-pub -d ${store} ${name}: ${err.message}\n${stderr}`))
        } else {
          resolve(stdout)
        }
      },
    )
  })
}

// follow(res): subscribes to a live StreamResponse and collects its JSON
// batches; until(pred, what) waits (bounded) for pred(items) to hold.
function follow(res) {
  const items = []
  const batches = []
  const waiters = new Set()
  let failure = null
  const check = () => {
    for (const w of waiters) w()
  }
  const unsubscribe = res.subscribeJson(async (batch) => {
    items.push(...batch.items)
    batches.push({
      count: batch.items.length,
      offset: batch.offset,
      upToDate: batch.upToDate,
      closed: batch.streamClosed,
    })
    check()
  })
  res.closed.then(
    () => check(),
    (err) => {
      failure = err
      check()
    },
  )
  return {
    items,
    batches,
    until(pred, what, ms = WAIT) {
      return new Promise((resolve, reject) => {
        const w = () => {
          if (pred(items)) {
            waiters.delete(w)
            clearTimeout(timer)
            resolve(items.slice())
          } else if (failure) {
            waiters.delete(w)
            clearTimeout(timer)
            reject(new Error(`reader failed waiting for ${what}: ${failure.stack ?? failure}`))
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(w)
          reject(
            new Error(
              `timed out after ${ms} ms waiting for ${what}; have ` +
                JSON.stringify(items),
            ),
          )
        }, ms)
        waiters.add(w)
        w()
      })
    },
    stop() {
      unsubscribe()
      res.cancel("test done")
    },
  }
}

// beforeSentinel: appends a sentinel after the expected values, waits for it
// and returns everything before it, so "nothing else, nothing twice" is
// checked on a condition rather than after a pause.
async function beforeSentinel(r, append, tag) {
  const sentinel = { sentinel: tag }
  await append(sentinel)
  const got = await r.until(
    (xs) => xs.some((x) => x?.sentinel === tag),
    `sentinel ${tag}`,
  )
  const i = got.findIndex((x) => x?.sentinel === tag)
  assert.deepEqual(got.slice(i + 1), [], "nothing after the sentinel")
  return got.slice(0, i)
}

// ---------------------------------------------------------------------------

test("create a JSON stream, append JSON values, read them back", { timeout: TEST }, async () => {
  const values = [
    { type: "message", text: "hello" },
    { nested: { a: [1, 2, { b: null }] }, ok: true },
    "a string with \"quotes\", \\ and é ü 日本 🎉",
    42,
    -0.5,
    null,
    [1, "two", { three: 3 }],
  ]
  const ds = await createJson("client-basic")
  assert.match(ds.contentType ?? "", /^application\/json/)
  for (const v of values) await ds.append(JSON.stringify(v))

  const head = await ds.head()
  assert.equal(head.exists, true)
  assert.match(head.contentType ?? "", /^application\/json/)
  assert.ok(head.offset, "HEAD gives the tail offset")
  assert.equal(head.streamClosed, false)

  const got = await catchUp("client-basic")
  assert.deepEqual(got.items, values)
  assert.equal(got.offset, head.offset, "catch-up ends at the HEAD offset")

  // Appends made together are batched by the client into one POST.
  const more = Array.from({ length: 20 }, (_, i) => ({ n: i }))
  await Promise.all(more.map((v) => ds.append(JSON.stringify(v))))
  const all = await catchUp("client-basic")
  assert.deepEqual(all.items, [...values, ...more])

  // A handle from connect() learns the content type with HEAD.
  const again = await DurableStream.connect({ url: url("client-basic"), warnOnHttp: false })
  assert.match(again.contentType ?? "", /^application\/json/)
})

test("reading a stream that does not exist fails with 404", { timeout: TEST }, async () => {
  const head = await DurableStream.head({ url: url("client-missing"), warnOnHttp: false })
  assert.equal(head.exists, false)
  await assert.rejects(catchUp("client-missing"), (err) => {
    assert.equal(err.status, 404, String(err))
    return true
  })
})

async function liveTest(mode, name) {
  const ds = await createJson(name)
  const before = [{ n: 0 }, { n: 1 }]
  for (const v of before) await ds.append(JSON.stringify(v))

  const f = recordingFetch()
  const res = await stream({
    url: url(name),
    live: mode,
    fetch: f,
    warnOnHttp: false,
    backoffOptions,
    sseResilience: { logWarnings: true },
  })
  const r = follow(res)
  try {
    await r.until((xs) => xs.length >= 2, "the values written before the read")
    assert.deepEqual(r.items, before)

    // The reader is now live: wait for its live request to be out.
    await waitFor(() => f.live(mode).length >= 1, `a live=${mode} request`)

    if (mode === "long-poll") {
      // Let one long-poll expire (sessd -P) and check that the client
      // polls again, with nothing delivered meanwhile.
      await waitFor(
        () => f.live(mode).length >= 2,
        "a second long-poll after the first one timed out",
        pollMs * 3 + WAIT,
      )
      assert.deepEqual(r.items, before)
      const expired = f.live(mode)[0]
      assert.equal(expired.status, 204, `an expired long-poll is 204: ${JSON.stringify(f.log)}`)
    }

    // From this script, through sessd.
    await ds.append(JSON.stringify({ n: 2 }))
    await r.until((xs) => xs.length >= 3, "a value appended over HTTP")
    // From another process writing to the store file.
    await pub(name, { n: 3, from: "sess-pub" })
    await r.until((xs) => xs.length >= 4, "a value appended by sess-pub -d")
    await pub(name, { n: 4, from: "sess-pub" }, { n: 5, from: "sess-pub" })
    await ds.append(JSON.stringify({ n: 6 }))

    const got = await beforeSentinel(r, (v) => ds.append(JSON.stringify(v)), `${mode}-end`)
    assert.deepEqual(got, [
      { n: 0 },
      { n: 1 },
      { n: 2 },
      { n: 3, from: "sess-pub" },
      { n: 4, from: "sess-pub" },
      { n: 5, from: "sess-pub" },
      { n: 6 },
    ])
    const last = r.batches.at(-1)
    assert.equal(last.upToDate, true, "the last batch is up to date")

    // It really was this live mode all along (no fallback).
    const other = mode === "sse" ? "long-poll" : "sse"
    assert.deepEqual(f.live(other), [], `no live=${other} request: ${JSON.stringify(f.log)}`)
    // Every answered request succeeded (the last one may be in flight).
    for (const e of f.log) {
      assert.ok([200, 204, null].includes(e.status), `request status: ${JSON.stringify(e)}`)
    }
  } finally {
    r.stop()
  }
}

test('live "sse" gets values appended over HTTP and by sess-pub -d', { timeout: TEST }, () =>
  liveTest("sse", "client-sse"),
)

test('live "long-poll" gets values appended over HTTP and by sess-pub -d', { timeout: TEST }, () =>
  liveTest("long-poll", "client-lp"),
)

test("resume from a saved offset: exactly the rest, nothing twice", { timeout: TEST }, async () => {
  const name = "client-resume"
  const ds = await createJson(name)
  const first = [{ a: 0 }, { a: 1 }, { a: 2 }]
  for (const v of first) await ds.append(JSON.stringify(v))

  // Read part with a live reader, save the offset of what it got, stop.
  const r1 = follow(
    await stream({ url: url(name), live: "long-poll", warnOnHttp: false, backoffOptions }),
  )
  let saved
  try {
    await r1.until((xs) => xs.length >= 3, "the first part")
    assert.deepEqual(r1.items, first)
    saved = r1.batches.at(-1).offset
    assert.ok(saved, "the batch has an offset")
  } finally {
    r1.stop()
  }

  // More arrives while nobody reads: over HTTP and from sess-pub -d.
  const rest = [{ b: 0 }, { b: 1 }, { b: 2, from: "sess-pub" }, { b: 3, from: "sess-pub" }]
  await ds.append(JSON.stringify(rest[0]))
  await ds.append(JSON.stringify(rest[1]))
  await pub(name, rest[2], rest[3])

  // A catch-up read from the saved offset gets exactly the rest...
  const c = await catchUp(name, saved)
  assert.deepEqual(c.items, rest)

  // ...and so does a live SSE reader started from it.
  const r2 = follow(
    await stream({ url: url(name), offset: saved, live: "sse", warnOnHttp: false, backoffOptions }),
  )
  try {
    const got = await beforeSentinel(r2, (v) => ds.append(JSON.stringify(v)), "resume-end")
    assert.deepEqual(got, rest)
  } finally {
    r2.stop()
  }

  // Resuming from the offset of any batch gives exactly what followed it.
  let seen = 0
  for (const b of r2.batches) {
    seen += b.count
    const after = await catchUp(name, b.offset)
    assert.deepEqual(after.items, r2.items.slice(seen), `resume from ${b.offset}`)
  }

  // offset=now: only what is appended after the read started.
  const f = recordingFetch()
  const r3 = follow(
    await stream({ url: url(name), offset: "now", live: "long-poll", fetch: f, warnOnHttp: false, backoffOptions }),
  )
  try {
    await waitFor(() => f.live("long-poll").length >= 1, "a long-poll from now")
    await pub(name, { now: 1 })
    await r3.until((xs) => xs.length >= 1, "a value appended after offset=now")
    const got = await beforeSentinel(r3, (v) => ds.append(JSON.stringify(v)), "now-end")
    assert.deepEqual(got, [{ now: 1 }])
  } finally {
    r3.stop()
  }
})

// A producer whose first POST is committed but whose response is lost, as
// when the connection drops after the server committed.
function lossyFetch() {
  let dropped = 0
  const f = recordingFetch()
  const g = async (input, init) => {
    const res = await f(input, init)
    if (dropped === 0 && (init?.method ?? "GET") === "POST") {
      dropped++
      await res.arrayBuffer()
      throw new TypeError("fetch failed (simulated: response lost)")
    }
    return res
  }
  g.log = f.log
  return g
}

function producer(ds, id, opts) {
  const errors = []
  const f = opts.fetch ?? recordingFetch()
  const p = new IdempotentProducer(ds, id, {
    lingerMs: 0,
    ...opts,
    fetch: f,
    onError: (err) => errors.push(err),
  })
  return { p, errors, log: f.log }
}

test("idempotent producer: a retried batch is not duplicated, a stale epoch is refused", { timeout: TEST }, async () => {
  const name = "client-producer"
  const ds = await createJson(name)
  const batch = [{ p: 0 }, { p: 1 }, { p: 2 }]

  // Epoch 0, seq 0: committed, but the producer never sees the answer.
  const a = producer(ds, "prod-1", { epoch: 0, fetch: lossyFetch() })
  for (const v of batch) a.p.append(JSON.stringify(v))
  await a.p.flush()
  assert.equal(a.errors.length, 1, `the lost response is reported: ${a.errors}`)
  assert.match(String(a.errors[0]), /simulated/)
  assert.deepEqual((await catchUp(name)).items, batch, "the batch was committed once")

  // The retry: the same producer id, epoch and batch (seq 0) again.
  const b = producer(ds, "prod-1", { epoch: 0 })
  for (const v of batch) b.p.append(JSON.stringify(v))
  await b.p.flush()
  assert.deepEqual(b.errors, [])
  assert.deepEqual(
    b.log.map((e) => e.status),
    [204],
    "the retried batch is acknowledged as a duplicate (204)",
  )
  assert.deepEqual((await catchUp(name)).items, batch, "the retry added nothing")

  // The same producer goes on: seq 1 is new.
  b.p.append(JSON.stringify({ p: 3 }))
  await b.p.flush()
  assert.deepEqual(b.errors, [])
  assert.deepEqual(b.log.map((e) => e.status), [204, 200])
  assert.ok(b.p.lastSuccessfulOffset, "the producer got an offset")

  // Many batches in flight at once (pipelining): each exactly once, in order.
  const many = Array.from({ length: 50 }, (_, i) => ({ q: i }))
  // maxBatchBytes: 1 makes each append its own batch.
  const m = producer(ds, "prod-many", { epoch: 0, maxInFlight: 5, maxBatchBytes: 1 })
  for (const v of many) m.p.append(JSON.stringify(v))
  await m.p.flush()
  assert.deepEqual(m.errors, [])
  assert.ok(m.log.length >= many.length, `one POST per batch: ${m.log.length}`)

  // Epoch 1 fences epoch 0.
  const c = producer(ds, "prod-1", { epoch: 1 })
  c.p.append(JSON.stringify({ p: 4, epoch: 1 }))
  await c.p.flush()
  assert.deepEqual(c.errors, [])
  assert.deepEqual(c.log.map((e) => e.status), [200])

  const stale = producer(ds, "prod-1", { epoch: 0 })
  stale.p.append(JSON.stringify({ p: "zombie" }))
  await stale.p.flush()
  assert.equal(stale.errors.length, 1, `the stale epoch is refused: ${stale.errors}`)
  assert.ok(stale.errors[0] instanceof StaleEpochError, String(stale.errors[0]))
  assert.equal(stale.errors[0].currentEpoch, 1)
  assert.deepEqual(stale.log.map((e) => e.status), [403])

  // autoClaim: refused at epoch 0, it claims the epoch after the current one.
  const claim = producer(ds, "prod-1", { epoch: 0, autoClaim: true })
  claim.p.append(JSON.stringify({ p: 5, claimed: true }))
  await claim.p.flush()
  assert.deepEqual(claim.errors, [])
  assert.equal(claim.p.epoch, 2)
  assert.deepEqual(claim.log.map((e) => e.status), [403, 200])

  const items = (await catchUp(name)).items
  assert.deepEqual(items, [
    ...batch,
    { p: 3 },
    ...many,
    { p: 4, epoch: 1 },
    { p: 5, claimed: true },
  ])
})

test("producer close ends the stream; readers see it closed", { timeout: TEST }, async () => {
  const name = "client-close"
  const ds = await createJson(name)
  const f = recordingFetch()
  const res = await stream({ url: url(name), live: "sse", fetch: f, warnOnHttp: false, backoffOptions })
  const r = follow(res)
  try {
    await waitFor(() => f.live("sse").length >= 1, "an SSE request")
    const { p, errors } = producer(ds, "closer", { epoch: 0 })
    p.append(JSON.stringify({ last: false }))
    const result = await p.close(JSON.stringify({ last: true }))
    assert.deepEqual(errors, [])
    assert.ok(result.finalOffset, "close gives the final offset")

    await r.until((xs) => xs.length >= 2, "the values before the close")
    await withTimeout(res.closed, "the reader to end at the close")
    assert.deepEqual(r.items, [{ last: false }, { last: true }])
    assert.equal(r.batches.at(-1).closed, true, "the last batch says the stream is closed")

    const head = await ds.head()
    assert.equal(head.streamClosed, true)
    assert.equal(head.offset, result.finalOffset)
    const c = await catchUp(name)
    assert.equal(c.closed, true)
    assert.deepEqual(c.items, [{ last: false }, { last: true }])

    await assert.rejects(ds.append(JSON.stringify({ after: "close" })), (err) => {
      assert.equal(err.status, 409, String(err))
      return true
    })
  } finally {
    r.stop()
  }
})

// ---------------------------------------------------------------------------

function waitFor(cond, what, ms = WAIT) {
  return new Promise((resolve, reject) => {
    const start = Date.now()
    const tick = () => {
      if (cond()) return resolve()
      if (Date.now() - start > ms) {
        return reject(new Error(`timed out after ${ms} ms waiting for ${what}`))
      }
      setTimeout(tick, 10)
    }
    tick()
  })
}

function withTimeout(promise, what, ms = WAIT) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}
