// messages.mjs: sess.js's applyMessageOp() builds the same view of the
// messages as the store (sess-replay -s) from the same events.
//
//   node --test-reporter=tap messages.mjs
//
// Each case appends events with sess-pub -d to a store of its own (in
// $TMPDIR), reads them back with sess-sub, applies them with the helper
// and compares with sess-replay -s, field by field (the client has no
// producer or attempt: events over the wire carry neither).  The tools
// are found as $SESS_BIN/NAME, else on PATH.
import { test } from "node:test"
import assert from "node:assert/strict"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, dirname } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const { applyMessageOp, messageList } = await import(
  join(here, "../../cmd/sessd/www/sess.js"))

const bin = (name) => process.env.SESS_BIN ? join(process.env.SESS_BIN, name)
  : name
const dir = mkdtempSync(join(tmpdir(), "sess-messages-"))
process.on("exit", () => rmSync(dir, { recursive: true, force: true }))
let n = 0

function run(name, args, env = {}) {
  return execFileSync(bin(name), args, {
    encoding: "utf8", timeout: 10_000,
    env: { ...process.env, ...env },
  })
}

// steps: [{env?: {SESS_PRODUCER, SESS_EPOCH}, values: [...]}, ...]
function check(steps) {
  const db = join(dir, `s${++n}.db`)
  for (const s of steps) {
    const args = ["-q", "-d", db]
    if (s.producer) args.push("-p", s.producer, "-e", String(s.epoch))
    args.push("chat", ...s.values.map((v) => JSON.stringify(v)))
    run("sess-pub", args)
  }
  const events = run("sess-sub", ["-d", db, "chat"]).trim().split("\n")
    .map((l) => JSON.parse(l))
  const view = new Map()
  for (const ev of events) applyMessageOp(view, ev)
  const mine = messageList(view)
  const theirs = run("sess-replay", ["-d", db, "-s", "chat"]).trim()
    .split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
    .map(({ msg, text, status, first, last }) =>
      ({ msg, text, status, first, last }))
  assert.deepEqual(mine, theirs)
  return mine
}

const op = (msg, o, text) => text === undefined ? { msg, op: o } :
  { msg, op: o, text }

test("create, append, finish", () => {
  const v = check([{ values: [op("m1", "create", "Hel"), op("m1", "append",
    "lo"), op("m1", "finish", "!"), op("m2", "create")] }])
  assert.equal(v[0].text, "Hello!")
  assert.equal(v[1].status, "streaming")
})

test("replace, delete, and other events between", () => {
  check([{ values: [{ type: "run.start", run: "r1" }, op("a", "create", "x"),
    "a string", 42, op("a", "replace", "rewritten"), op("b", "create", "b"),
    op("b", "delete"), { type: "progress", pct: 5 }, op("a", "append", " more"),
    { type: "run.end", run: "r1" }] }])
})

test("ops on unknown messages and after finish or delete", () => {
  check([{ values: [op("u1", "append", "lost?"), op("u2", "finish", "done"),
    op("u3", "delete"), op("u4", "replace", "r"), op("u2", "append", "late"),
    op("u3", "append", "after delete")] }])
})

test("create again moves the message", () => {
  const v = check([{ values: [op("a", "create", "1"), op("b", "create", "2"),
    op("a", "create", "again"), op("b", "delete"), op("b", "create", "b2")] }])
  assert.deepEqual(v.map((m) => m.msg), ["a", "b"])
})

test("a superseded attempt leaves the view", () => {
  check([
    { producer: "wf/act", epoch: 1, values: [op("m1", "create", "first try"),
      op("m1", "append", " ...")] },
    { values: [op("other", "create", "kept")] },
    { producer: "wf/act", epoch: 2, values: [op("m2", "create", "second"),
      op("m2", "finish")] },
  ])
})

test("unicode text", () => {
  check([{ values: [op("u", "create", "héllo "), op("u", "append", "世界 🎉"),
    op("u", "finish", "\n\"q\"")] }])
})
