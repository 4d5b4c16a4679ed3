// notify.mjs: the demo page's "Notify me" button in headless Chromium
// (Debian's chromium, driven by playwright-core), against a running sessd.
//
//   node --test-reporter=tap [--test-name-pattern=RE] notify.mjs BASE_URL
//
// Environment: SESS_DB, the store sessd serves (read with sqlite3 to see
// what was registered); CHROMIUM, the browser (/usr/bin/chromium);
// PAGE_TOKEN, a token the keyed sessd accepts, and BAD_TOKEN, one signed
// by another key (without them the token tests are skipped).
//
// Why PushManager.prototype.subscribe is replaced: subscribing asks the
// browser's push service (for Chromium, Google's FCM) for an endpoint,
// and neither headless Chromium nor this machine can reach one, so the
// real subscribe() fails.  The stand-in, put in the page before its own
// scripts run, returns what a push service would have given: an endpoint
// (here on loopback, where nothing listens: nothing is sent to it in
// these tests) and the browser's keys, a real P-256 public key and a
// 16-byte auth secret made here with node:crypto.  Everything else is
// real: the permission, the service worker registration, the VAPID key
// sessd serves, the POST to sessd and what sessd stores.  Delivery to an
// endpoint is tested by tests/900-notify.bats with its own receiver.
import { test, before, after } from "node:test"
import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { createECDH, randomBytes } from "node:crypto"
import { chromium } from "playwright-core"

const [base] = process.argv.slice(2)
if (!base) {
  console.error("usage: node notify.mjs BASE_URL")
  process.exit(2)
}
const WAIT = 15_000 // any single wait
const TEST = { timeout: 60_000 }

setTimeout(() => {
  console.error("# watchdog: still running after 200 s, giving up")
  process.exit(3)
}, 200_000).unref()

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

// A browser's side of a subscription: an endpoint and its keys.
function browserKeys(n) {
  const ecdh = createECDH("prime256v1")
  ecdh.generateKeys()
  return {
    endpoint: `http://127.0.0.1:9/push/${n}-${randomBytes(6).toString("hex")}`,
    p256dh: ecdh.getPublicKey().toString("base64url"), // 65 bytes, 0x04 ...
    auth: randomBytes(16).toString("base64url"),
  }
}

// rows SQL: what sqlite3 prints for SQL on the store, one row a line.
function rows(sql) {
  return new Promise((resolve, reject) => {
    execFile("sqlite3", [process.env.SESS_DB, sql], { timeout: WAIT },
      (err, stdout, stderr) => err ? reject(new Error(
        `sqlite3: ${err.message}\n${stderr}`)) :
        resolve(stdout.split("\n").filter(Boolean)))
  })
}

// A page of its own at query, with the notifications permission granted
// (headless Chromium cannot show the prompt) and subscribe() replaced by
// the stand-in for keys; or, with keys null, with no Push API at all.
async function openPage(query, keys, opts = {}) {
  const context = await browser.newContext()
  if (opts.grant !== false)
    await context.grantPermissions(["notifications"], { origin: base })
  if (keys) {
    await context.addInitScript((k) => {
      const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+")
        .replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer
      window.subscribeCalls = []
      PushManager.prototype.subscribe = async function (options) {
        const key = new Uint8Array(options.applicationServerKey)
        window.subscribeCalls.push({
          userVisibleOnly: options.userVisibleOnly,
          applicationServerKey: btoa(String.fromCharCode(...key))
            .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""),
        })
        return {
          endpoint: k.endpoint,
          expirationTime: null,
          options: { userVisibleOnly: true,
            applicationServerKey: key.buffer },
          getKey: (n) => n === "p256dh" ? bytes(k.p256dh) :
            n === "auth" ? bytes(k.auth) : null,
          toJSON: () => ({ endpoint: k.endpoint, expirationTime: null,
            keys: { p256dh: k.p256dh, auth: k.auth } }),
          unsubscribe: async () => true,
        }
      }
    }, keys)
  } else {
    await context.addInitScript(() => {
      delete window.PushManager
    })
  }
  const page = await context.newPage()
  const errors = []
  page.on("pageerror", (e) => errors.push(e))
  page.errors = errors
  await page.goto(`${base}/${query}`, { timeout: WAIT })
  await page.waitForSelector("#notify:not([hidden])", { timeout: WAIT })
  return page
}

// The note beside the button once it says state ("on" or "error").
async function noteWhen(page, state) {
  await page.waitForSelector(`#notify-note[data-state="${state}"]`,
    { timeout: WAIT })
  return page.locator("#notify-note").textContent()
}

async function vapidKey() {
  const r = await fetch(`${base}/v1/push/vapid`)
  assert.equal(r.status, 200)
  return (await r.json()).publicKey
}

const stored = (member) => rows("SELECT kind, target FROM notify_channels " +
  `WHERE member = '${member}' ORDER BY id`)
const canonical = (k) => "webpush|" + JSON.stringify({ endpoint: k.endpoint,
  keys: { p256dh: k.p256dh, auth: k.auth } })

test("notify me stores the subscription as the member's webpush channel",
  TEST, async () => {
    const keys = browserKeys("dora")
    const page = await openPage("?member=dora#demo/notify", keys)
    assert.equal(await page.locator("#notify").textContent(), "Notify me")
    assert.deepEqual(await stored("dora"), [])
    await page.click("#notify")
    assert.equal(await noteWhen(page, "on"), "Notifications on for dora")
    assert.equal(await page.locator("#notify").isHidden(), true)
    // It subscribed with sessd's VAPID key, from its service worker.
    assert.deepEqual(await page.evaluate(() => window.subscribeCalls),
      [{ userVisibleOnly: true, applicationServerKey: await vapidKey() }])
    const sw = await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration("/")
      return reg && (reg.active || reg.waiting || reg.installing).scriptURL
    })
    assert.equal(sw, `${base}/sess-sw.js`)
    // sessd stored it, exactly: the member's one webpush channel.
    assert.deepEqual(await stored("dora"), [canonical(keys)])
    assert.deepEqual(await rows("SELECT count(*) FROM notify_channels"),
      ["1"])
    // A push to the service worker (as DevTools delivers one, the push
    // service being out of reach) is shown with the payload's title, body
    // and url, as sess-notify sends them.
    const cdp = await page.context().newCDPSession(page)
    const regId = new Promise((resolve) => cdp.on(
      "ServiceWorker.workerRegistrationUpdated", ({ registrations }) => {
        const r = registrations.find((r) => r.scopeURL === `${base}/` &&
          !r.isDeleted)
        if (r) resolve(r.registrationId)
      }))
    await cdp.send("ServiceWorker.enable")
    await cdp.send("ServiceWorker.deliverPushMessage", { origin: base,
      registrationId: await regId, data: JSON.stringify({
        title: "Run finished", body: "all 3 steps passed",
        url: "https://example.test/runs/1", stream: "demo/notify", seq: 3 }) })
    await page.waitForFunction(async () => (await (await navigator
      .serviceWorker.getRegistration("/")).getNotifications()).length > 0,
    null, { timeout: WAIT, polling: 100 })
    assert.deepEqual(await page.evaluate(async () => (await (await navigator
      .serviceWorker.getRegistration("/")).getNotifications()).map((n) =>
      ({ title: n.title, body: n.body, tag: n.tag, data: n.data }))),
    [{ title: "Run finished", body: "all 3 steps passed",
      tag: "demo/notify@3", data: { url: "https://example.test/runs/1" } }])
    await cdp.detach()
    // Again from a reloaded page: the same one, still stored once.
    await page.reload()
    await page.waitForSelector("#notify:not([hidden])", { timeout: WAIT })
    await page.click("#notify")
    assert.equal(await noteWhen(page, "on"), "Notifications on for dora")
    assert.deepEqual(await stored("dora"), [canonical(keys)])
    assert.deepEqual(page.errors, [])
    await page.context().close()
  })

test("a subscription sessd refuses shows its reason on the page", TEST,
  async () => {
    // A 65-byte key that is not a point of P-256.
    const keys = { ...browserKeys("erin"),
      p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64)])
        .toString("base64url") }
    const page = await openPage("?member=erin#demo/notify", keys)
    await page.click("#notify")
    assert.equal(await noteWhen(page, "error"), "Not registered: webpush: " +
      "\"p256dh\" must be a P-256 public key in base64url (65 bytes)")
    // The button is there to try again; nothing was stored.
    assert.equal(await page.locator("#notify").isEnabled(), true)
    assert.deepEqual(await rows("SELECT count(*) FROM notify_channels"),
      ["0"])
    assert.deepEqual(page.errors, [])
    await page.context().close()
  })

test("without the notifications permission nothing is registered", TEST,
  async () => {
    const page = await openPage("?member=finn#demo/notify",
      browserKeys("finn"), { grant: false })
    // Headless Chromium answers the prompt it cannot show with a refusal.
    await page.click("#notify")
    assert.equal(await noteWhen(page, "error"),
      "Not registered: notifications are blocked for this page")
    assert.deepEqual(await page.evaluate(() => window.subscribeCalls), [])
    assert.deepEqual(await rows("SELECT count(*) FROM notify_channels"),
      ["0"])
    await page.context().close()
  })

test("a browser without the Push API gets a disabled button that says why",
  TEST, async () => {
    const page = await openPage("?member=gus#demo/notify", null)
    assert.equal(await page.locator("#notify").isDisabled(), true)
    assert.equal(await page.locator("#notify-note").textContent(),
      "This browser cannot show push notifications.")
    assert.deepEqual(page.errors, [])
    await page.context().close()
  })

test("with a token the subscription is the token's subject's", TEST,
  async (t) => {
    const token = process.env.PAGE_TOKEN
    if (!token) return t.skip("no PAGE_TOKEN: sessd has no key")
    const keys = browserKeys("alice")
    // ?member= is ignored with a token: the token says who it is.
    const page = await openPage(`?token=${token}&member=mallory#demo/notify`,
      keys)
    await page.click("#notify")
    assert.equal(await noteWhen(page, "on"), "Notifications on for alice")
    assert.deepEqual(await stored("alice"), [canonical(keys)])
    assert.deepEqual(await rows("SELECT count(*) FROM notify_channels"),
      ["1"])
    await page.context().close()
  })

test("a token sessd does not accept shows the refusal on the page", TEST,
  async (t) => {
    const token = process.env.BAD_TOKEN
    if (!token) return t.skip("no BAD_TOKEN: sessd has no key")
    const page = await openPage(`?token=${token}#demo/notify`,
      browserKeys("bad"))
    await page.click("#notify")
    const note = await noteWhen(page, "error")
    assert.equal(note, "Not registered: token signature does not match")
    assert.deepEqual(await rows("SELECT count(*) FROM notify_channels"),
      ["0"])
    await page.context().close()
  })
