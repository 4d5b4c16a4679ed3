// browser.mjs: the demo page and sess.js in headless Chromium (Debian's
// chromium, driven by playwright-core), against a running sessd.
//
//   node --test-reporter=tap [--test-name-pattern=RE] browser.mjs BASE_URL
//
// Environment: SESS_BIN, the directory of sess-pub and sess-sub (else
// they are found on PATH); CHROMIUM, the browser (/usr/bin/chromium);
// ARTIFACTS, where the screenshot goes (the system's temporary
// directory); SESSD_PRESENCE=1 when sessd tracks presence, else the
// presence tests are skipped.  Every wait is bounded; a watchdog ends
// the run if anything is still pending after all of them.
import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { execFile, spawn } from "node:child_process"
import { join } from "node:path"
import { tmpdir } from "node:os"
import { chromium } from "playwright-core"

const [base] = process.argv.slice(2)
if (!base) {
  console.error("usage: node browser.mjs BASE_URL")
  process.exit(2)
}
const bin = (name) => process.env.SESS_BIN ? join(process.env.SESS_BIN, name)
  : name
const presence = process.env.SESSD_PRESENCE === "1"
const WAIT = 15_000 // any single wait
const TEST = { timeout: 60_000 }

setTimeout(() => {
  console.error("# watchdog: still running after 240 s, giving up")
  process.exit(3)
}, 240_000).unref()

// Streams carry a per-run suffix, so reruns start afresh.
const runId = Date.now().toString(36)
const name = (s) => `${s}-${runId}`

let browser
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    timeout: 60_000,
    args: ["--no-sandbox", "--disable-background-networking",
      "--disable-component-update", "--no-first-run"],
  })
})
after(async () => {
  if (browser) await browser.close()
})

// pub STREAM VALUE...: appends through sessd, as an agent would.
function pub(stream, ...values) {
  return new Promise((resolve, reject) => {
    execFile(bin("sess-pub"), ["-q", "-u", base, stream,
      ...values.map((v) => JSON.stringify(v))], { timeout: WAIT },
    (err, stdout, stderr) => err ? reject(new Error(
      `sess-pub ${stream}: ${err.message}\n${stderr}`)) : resolve(stdout))
  })
}

// events STREAM: the values in STREAM now.
function values(stream) {
  return new Promise((resolve, reject) => {
    execFile(bin("sess-sub"), ["-u", base, stream], { timeout: WAIT },
      (err, stdout, stderr) => err ? reject(new Error(
        `sess-sub ${stream}: ${err.message}\n${stderr}`)) :
        resolve(stdout.trim().split("\n").filter(Boolean)
          .map((l) => JSON.parse(l).data)))
  })
}

// A page of its own (a context: its own storage, its own network) on
// stream, as member.
async function openPage(stream, member) {
  const context = await browser.newContext({ viewport: { width: 1000,
    height: 720 } })
  const page = await context.newPage()
  const errors = []
  page.on("pageerror", (e) => errors.push(e))
  page.errors = errors
  await page.goto(`${base}/?member=${member}#${stream}`, { timeout: WAIT })
  await live(page)
  return page
}

// live PAGE: waits until the page says it is connected.
function live(page) {
  return page.waitForSelector('#status[data-state="open"]', { timeout: WAIT })
}

// textOf PAGE MSG: waits until message MSG shows exactly text.
async function waitText(page, msg, text) {
  await page.waitForFunction(([m, t]) => {
    const el = document.querySelector(`li.msg[data-msg="${m}"] .text`)
    return el && el.textContent === t
  }, [msg, text], { timeout: WAIT })
}

// The offsets the page has shown: each once, and in order.
async function checkOffsets(page, n) {
  const offs = await page.evaluate(() => window.sessDemo.view.offsets)
  assert.equal(new Set(offs).size, offs.length, "an event shown twice")
  assert.deepEqual([...offs].sort(), offs, "events out of order")
  if (n !== undefined) assert.equal(offs.length, n)
}

const op = (msg, o, text) => text === undefined ? { msg, op: o } :
  { msg, op: o, text }

test("two pages on one session see the same stream", TEST, async () => {
  const s = name("two")
  await pub(s, { type: "run.start", run: "r1" }, op("m1", "create", "Hello"))
  const a = await openPage(s, "alice")
  const b = await openPage(s, "bob")
  await pub(s, op("m1", "append", ", **world**"),
    op("m2", "create", "Here is a list:\n\n- one\n- `two`\n"))
  for (const p of [a, b]) {
    await waitText(p, "m1", "Hello, world")
    await p.waitForSelector('li.msg[data-msg="m2"] li code', { timeout: WAIT })
    assert.equal(await p.locator('li.msg[data-msg="m1"] strong').textContent(),
      "world")
    assert.equal(await p.locator('li.msg[data-msg="m1"]')
      .getAttribute("class"), "msg streaming")
  }
  // Mid-stream: the artifact to look at, not an assertion.
  const shot = join(process.env.ARTIFACTS || tmpdir(), "demo-page.png")
  await pub(s, { type: "approval.request", id: "ap1", run: "r1",
    text: "Run `rm -rf build/` to start afresh?" })
  await a.waitForSelector('li.approval[data-id="ap1"]', { timeout: WAIT })
  await a.screenshot({ path: shot, fullPage: true })
  console.log(`# screenshot: ${shot}`)
  await a.setViewportSize({ width: 390, height: 780 })
  const phone = shot.replace(/\.png$/, "-phone.png")
  await a.screenshot({ path: phone, fullPage: true })
  console.log(`# screenshot: ${phone}`)
  await pub(s, op("m1", "finish", "!"), { type: "run.end", run: "r1" })
  for (const p of [a, b]) {
    await waitText(p, "m1", "Hello, world!")
    await p.waitForSelector('li.msg[data-msg="m1"][data-status="complete"]',
      { timeout: WAIT })
    await p.waitForSelector("#stop:disabled", { timeout: WAIT })
    await checkOffsets(p, 7)
    assert.deepEqual(p.errors, [])
  }
  await a.context().close()
  await b.context().close()
})

test("each page sees the other in presence", TEST, async (t) => {
  if (!presence) return t.skip("sessd does not track presence yet")
  const s = name("presence")
  const a = await openPage(s, "alice")
  const b = await openPage(s, "bob")
  for (const [p, other] of [[a, "bob"], [b, "alice"]]) {
    await p.waitForSelector(`#presence li[data-member="${other}"]`,
      { timeout: WAIT })
  }
  await a.waitForSelector('#presence li.me[data-member="alice"]',
    { timeout: WAIT })
  assert.equal(await a.locator('#presence li[data-member="bob"].me').count(),
    0)
  await a.context().close()
  await b.context().close()
})

test("closing a page makes the other see the leave", TEST, async (t) => {
  if (!presence) return t.skip("sessd does not track presence yet")
  const s = name("leave")
  const a = await openPage(s, "alice")
  const b = await openPage(s, "bob")
  await a.waitForSelector('#presence li[data-member="bob"]', { timeout: WAIT })
  await b.close()
  await a.waitForSelector('#presence li[data-member="bob"]',
    { state: "detached", timeout: WAIT })
  await a.context().close()
  await b.context().close()
})

test("an offline page shows every event once when back", TEST, async () => {
  const s = name("offline")
  await pub(s, op("m", "create", "a0 "))
  const page = await openPage(s, "carol")
  await waitText(page, "m", "a0 ")
  await page.context().setOffline(true)
  await page.waitForSelector('#status:not([data-state="open"])',
    { timeout: WAIT })
  let want = "a0 "
  const more = []
  for (let i = 1; i <= 20; i++) {
    more.push(op("m", "append", `a${i} `))
    want += `a${i} `
  }
  await pub(s, ...more)
  await page.context().setOffline(false)
  await live(page)
  await waitText(page, "m", want)
  await pub(s, op("m", "finish", "end"))
  await waitText(page, "m", want + "end")
  await checkOffsets(page, 22)
  await page.context().close()
})

test("a reloaded page resumes", TEST, async () => {
  const s = name("reload")
  await pub(s, op("m", "create", "one "), op("m", "append", "two "))
  const page = await openPage(s, "dave")
  await waitText(page, "m", "one two ")
  await page.reload({ timeout: WAIT })
  await live(page)
  await waitText(page, "m", "one two ")
  await pub(s, op("m", "append", "three"))
  await waitText(page, "m", "one two three")
  await checkOffsets(page, 3)
  await page.context().close()
})

test("stop publishes a control message that sess-sub -t control prints",
  TEST, async () => {
    const s = name("stop")
    await pub(s, { type: "run.start", run: "r7" }, op("m", "create", "…"))
    // The agent's side: waits for one control event, 20 s at most.
    const sub = spawn(bin("sess-sub"), ["-u", base, "-f", "-t", "control",
      "-C", "1", "-W", "20", s], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    sub.stdout.on("data", (d) => (out += d))
    const done = new Promise((resolve) => sub.on("exit", resolve))
    const page = await openPage(s, "erin")
    await page.waitForSelector("#stop:enabled", { timeout: WAIT })
    await page.click("#stop")
    assert.equal(await done, 0)
    const line = JSON.parse(out.trim())
    assert.deepEqual(line.data, { type: "control", action: "stop", run: "r7" })
    await page.waitForSelector("li.note.control", { timeout: WAIT })
    await page.context().close()
  })

test("a retried run shows one start and one end", TEST, async () => {
  const s = name("retry")
  // Attempt 1 starts run r1, writes, and ends it with an error.
  await pub(s, { type: "run.start", run: "r1" }, op("m", "create", "one"),
    { type: "run.end", run: "r1", reason: "error" })
  const page = await openPage(s, "hank")
  await page.waitForSelector('li.note.run[data-run="r1"]', { timeout: WAIT })
  // Attempt 2 starts the same run again, as a script that writes its
  // run.start without a fixed epoch does; then two runs without names.
  await pub(s, { type: "run.start", run: "r1" }, op("m", "append", " two"),
    { type: "run.end", run: "r1", reason: "complete" },
    { type: "run.start" }, { type: "run.start" })
  const want = ["Run r1 started", "Run r1 ended (complete)", "Run started",
    "Run started"]
  const notes = () => page.locator("li.note.run").allTextContents()
  await page.waitForFunction(() => window.sessDemo.view.offsets.length === 8,
    null, { timeout: WAIT })
  assert.deepEqual(await notes(), want)
  // The end divider moved to where the run ended last: after the text.
  assert.deepEqual(await page.locator("#messages > li").evaluateAll((els) =>
    els.map((e) => e.dataset.msg ?? e.textContent)),
  ["Run r1 started", "m", "Run r1 ended (complete)", "Run started",
    "Run started"])
  await waitText(page, "m", "one two")
  // From history after a reload, the same.
  await page.reload({ timeout: WAIT })
  await live(page)
  await page.waitForFunction(() => window.sessDemo.view.offsets.length === 8,
    null, { timeout: WAIT })
  assert.deepEqual(await notes(), want)
  await checkOffsets(page, 8)
  assert.deepEqual(page.errors, [])
  await page.context().close()
})

test("approve and deny publish their responses", TEST, async () => {
  const s = name("approve")
  await pub(s, { type: "run.start", run: "r2" },
    { type: "approval.request", id: "q1", run: "r2", text: "Deploy?" },
    { type: "approval.request", id: 7, run: "r2", text: "Delete the cache?" })
  const page = await openPage(s, "frank")
  await page.click('li.approval[data-id="q1"] button.approve',
    { timeout: WAIT })
  await page.click('li.approval[data-id="7"] button.deny', { timeout: WAIT })
  await page.waitForSelector('li.approval[data-id="q1"][data-decision="approve"]',
    { timeout: WAIT })
  await page.waitForSelector('li.approval[data-id="7"][data-decision="deny"]',
    { timeout: WAIT })
  const got = (await values(s)).filter((v) => v.type === "approval.response")
  assert.deepEqual(got.sort((x, y) => String(x.id) < String(y.id) ? -1 : 1), [
    { type: "approval.response", id: 7, decision: "deny" },
    { type: "approval.response", id: "q1", decision: "approve" },
  ])
  await page.context().close()
})

test("sess.js in a page: publish once per mid, resume, ack, ping", TEST,
  async () => {
    const s = name("api")
    await pub(s, { n: 1 }, { n: 2 })
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${base}/sess.d.ts`, { timeout: WAIT })
    const r = await page.evaluate(async ([stream, wait]) => {
      const { connect } = await import("/sess.js")
      const bounded = (p, what) => Promise.race([p, new Promise((_, no) =>
        setTimeout(() => no(new Error("timed out: " + what)), wait))])
      const sess = connect(location.origin, { member: "api", minDelay: 50 })
      const seen = []
      const a = sess.attach(stream, { offset: "0000000000000001" })
      a.on("event", (ev) => seen.push(ev.data))
      const until = (pred, what) => bounded(new Promise((ok) => {
        const t = setInterval(() => pred() && (clearInterval(t), ok()), 10)
      }), what)
      await until(() => seen.length === 1, "the event after offset 1")
      const p1 = await bounded(sess.publish(stream, { n: 3 }, { mid: "x1" }),
        "publish")
      const p2 = await bounded(sess.publish(stream, { n: 3 }, { mid: "x1" }),
        "publish again")
      await until(() => seen.length === 2, "the published event")
      // A dropped socket: the client reconnects and re-attaches from
      // the last offset it delivered.
      sess._ws.close(4000, "test")
      await until(() => sess.state !== "open", "the close")
      await until(() => sess.state === "open" && a.attached, "the reconnect")
      const p3 = await bounded(sess.publish(stream, { n: 4 }), "publish 4")
      await until(() => seen.length === 3, "the event after the reconnect")
      const ack = await bounded(sess.ack(stream, p1.offset), "ack")
      const rtt = await bounded(sess.ping(), "ping")
      sess.close()
      return { seen, p1, p2, p3, ack, rtt, state: sess.state }
    }, [s, WAIT])
    assert.deepEqual(r.seen, [{ n: 2 }, { n: 3 }, { n: 4 }])
    assert.equal(r.p1.duplicate, false)
    assert.equal(r.p2.duplicate, true)
    assert.equal(r.p2.offset, r.p1.offset)
    assert.equal(r.p1.offset, "0000000000000003")
    assert.equal(r.p3.offset, "0000000000000004")
    assert.equal(r.ack.offset, "0000000000000003")
    assert.equal(typeof r.rtt, "number")
    assert.equal(r.state, "closed")
    await context.close()
  })

test("a page with ?token= follows a stream as the token's member", TEST,
  async (t) => {
    const token = process.env.PAGE_TOKEN
    if (!token) return t.skip("sessd has no keys yet")
    const s = `chat/${name("token")}`
    // sess-pub -u finds its own token in SESS_TOKEN.
    await pub(s, op("m", "create", "for alice"))
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${base}/?token=${token}#${s}`, { timeout: WAIT })
    await live(page)
    await waitText(page, "m", "for alice")
    assert.equal(await page.evaluate(() => window.sessDemo.client.member),
      "alice")
    // A stream the token does not cover: an error shown, no messages.
    await page.fill("#name", `other/${name("token")}`)
    await page.click("button[type=submit]")
    await page.waitForSelector("li.note.error", { timeout: WAIT })
    assert.equal(await page.locator("li.msg").count(), 0)
    await context.close()
  })

test("two tabs of one member are one member with two connections", TEST,
  async (t) => {
    if (!presence) return t.skip("sessd does not track presence yet")
    const s = name("tabs")
    const a = await openPage(s, "gina")
    // A second tab in the same browser (the same context).
    const b = await a.context().newPage()
    await b.goto(`${base}/?member=gina#${s}`, { timeout: WAIT })
    await live(b)
    for (const p of [a, b]) {
      await p.waitForFunction(() => {
        const li = document.querySelectorAll("#presence li[data-member]")
        return li.length === 1 && li[0].classList.contains("me") &&
          li[0].querySelector(".sub").textContent.startsWith(
            "this tab + 1 more")
      }, null, { timeout: WAIT })
    }
    await b.close()
    await a.waitForFunction(() => document.querySelector(
      '#presence li[data-member="gina"] .sub').textContent
      .startsWith("this tab ·"), null, { timeout: WAIT })
    await a.context().close()
  })
