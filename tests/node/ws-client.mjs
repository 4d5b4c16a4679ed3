// ws-client.mjs: a scripted WebSocket client for the bats tests of
// sessd's /v1/ws protocol (tests/700-ws.bats), on the `ws` npm package.
//
//   node ws-client.mjs [-eqr] [-H HEADER]... [-p PROTOCOL] [-t SECS] URL [SCRIPT]
//
// It connects to URL (ws://HOST:PORT/v1/ws...), then runs SCRIPT (a file,
// or the standard input), one command a line, and prints every frame it
// receives as one JSON line on the standard output, in arrival order:
// a JSON text frame as it came (compacted), anything else as
// {"text":...} or {"binary":HEX}, the server's close as
// {"close":CODE,"reason":TEXT}, and a refused upgrade as
// {"http":STATUS,"body":TEXT}.
//
//   -e  print each event of an "events" push as its own line
//       {"stream":S,"offset":O,"data":V} instead of the push
//   -q  do not print "events" pushes at all (they are still counted)
//   -r  answer a "resume" push with an attach from its offset
//   -H  an extra request header for the upgrade ("Name: value")
//   -p  a subprotocol to offer (repeatable)
//   -t  hard timeout for the whole run in seconds (default 20)
//
// Commands (blank lines and lines starting with # are skipped):
//   send TEXT             a text frame with TEXT as it is (JSON or not)
//   repeat N TEXT         N text frames; {i} in TEXT becomes 1..N
//   binary TEXT           a binary frame with the bytes of TEXT
//   badutf8               a text frame that is not UTF-8
//   frag N TEXT           TEXT as one text message in N fragments
//   wsping                a WebSocket ping frame; waits for the pong frame
//   big BYTES [N]         a publish message of exactly BYTES bytes (in N
//                         fragments)
//   wait K=V...           until a frame not matched by an earlier wait has
//                         every field K (dots for nested fields) equal to V
//                         (compared as a string, or as its JSON text)
//   count N K=V...        until N such frames have arrived (and takes them)
//   events STREAM N       until N events of STREAM have arrived in all
//   stats STREAM          prints {"stats":S,"events":N,"first":O,"last":O,
//                         "dups":N,"gaps":N} over the events of STREAM so
//                         far (dups: offsets seen before; gaps: offsets
//                         missing between first and last)
//   pause / resume        stop / go on reading the socket
//   protocol              prints {"protocol":P}, the subprotocol selected
//   sh COMMAND            runs COMMAND with sh -c and waits for it
//   pid FILE              writes this process's id to FILE
//   touch FILE            creates FILE (to tell a test where we are)
//   waitfile FILE         until FILE exists
//   sleep MS              pause the script (pacing, never an assertion)
//   waitclose             until the server closes the connection
//   close [CODE]          closes (default 1000) and waits for the close
// At the end of the script the client closes with 1000 if the connection
// is still open.
//
// Exit status: 0 the script ran to its end; 1 the upgrade was refused or
// the connection failed; 2 usage or a bad script line; 3 the hard timeout
// expired, or the server closed while a wait was not met (stderr says
// what was being waited for).
import { readFileSync, writeFileSync, existsSync } from "node:fs"
import { execSync } from "node:child_process"
import WebSocket from "ws"

function usage(code) {
  const u =
    "usage: node ws-client.mjs [-eqr] [-H HEADER]... [-p PROTOCOL] [-t SECS] URL [SCRIPT]"
  ;(code ? console.error : console.log)(u)
  process.exit(code)
}

const args = process.argv.slice(2)
const headers = {}
const protocols = []
let perEvent = false
let quiet = false
let autoResume = false
let limit = 20
while (args.length && args[0].startsWith("-") && args[0] !== "-") {
  const a = args.shift()
  if (a === "-e") perEvent = true
  else if (a === "-q") quiet = true
  else if (a === "-r") autoResume = true
  else if (a === "-H" && args.length) {
    const h = args.shift()
    const i = h.indexOf(":")
    if (i < 1) usage(2)
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim()
  } else if (a === "-p" && args.length) protocols.push(args.shift())
  else if (a === "-t" && args.length) limit = Number(args.shift())
  else if (a === "-h") usage(0)
  else usage(2)
}
if (args.length < 1 || args.length > 2 || !(limit > 0)) usage(2)
const [url, scriptFile] = args
const script = readFileSync(scriptFile && scriptFile !== "-" ? scriptFile : 0, "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"))

let doing = "connecting"
const watchdog = setTimeout(() => {
  flush()
  console.error(`ws-client: timed out after ${limit}s waiting for: ${doing}`)
  process.exit(3)
}, limit * 1000)

const out = []
function print(obj) {
  out.push(JSON.stringify(obj) + "\n")
  if (out.length >= 256) flush()
}
function flush() {
  if (out.length) {
    writeFileSync(1, out.join(""))
    out.length = 0
  }
}

const frames = [] // parsed frames, for wait
const consumed = new Set()
const streams = new Map() // stream -> { n, seen:Set<bigint>, min, max, dups }
let closed = null
let wake = null // resolves the current wait on any arrival

function note() {
  if (wake) {
    const w = wake
    wake = null
    w()
  }
}

function countEvents(f) {
  let s = streams.get(f.stream)
  if (!s) {
    s = { n: 0, seen: new Set(), min: null, max: null, dups: 0 }
    streams.set(f.stream, s)
  }
  for (const ev of f.events) {
    s.n++
    const o = BigInt(ev.offset)
    if (s.seen.has(o)) s.dups++
    s.seen.add(o)
    if (s.min === null || o < s.min) s.min = o
    if (s.max === null || o > s.max) s.max = o
  }
}

const ws = new WebSocket(url, protocols, { headers, maxPayload: 256 << 20 })

const opened = new Promise((resolve) => {
  ws.on("open", resolve)
  ws.on("unexpected-response", (req, res) => {
    let body = ""
    res.setEncoding("utf8")
    res.on("data", (d) => (body += d))
    res.on("end", () => {
      print({ http: res.statusCode, body })
      flush()
      process.exit(1)
    })
  })
  ws.on("error", (err) => {
    if (closed) return
    flush()
    console.error(`ws-client: ${err.message}`)
    process.exit(1)
  })
})

ws.on("message", (data, isBinary) => {
  if (isBinary) {
    print({ binary: Buffer.from(data).toString("hex") })
    frames.push({ binary: true })
    note()
    return
  }
  const text = data.toString("utf8")
  let f
  try {
    f = JSON.parse(text)
  } catch {
    print({ text })
    frames.push({ text })
    note()
    return
  }
  if (f && f.op === "events" && Array.isArray(f.events)) {
    countEvents(f)
    if (perEvent && !quiet)
      for (const ev of f.events)
        print({ stream: f.stream, offset: ev.offset, data: ev.data })
    else if (!quiet) print(f)
  } else {
    print(f)
    if (autoResume && f && f.op === "resume")
      sendText(JSON.stringify({ op: "attach", stream: f.stream, offset: f.offset }))
  }
  frames.push(f)
  note()
})

ws.on("close", (code, reason) => {
  closed = { close: code, reason: reason.toString("utf8") }
  print(closed)
  note()
})

function field(f, path) {
  let v = f
  for (const k of path.split(".")) {
    if (v === null || typeof v !== "object") return undefined
    v = v[k]
  }
  return v
}

function matches(f, conds) {
  for (const [k, want] of conds) {
    const v = field(f, k)
    if (v === undefined) return false
    if (String(v) !== want && JSON.stringify(v) !== want) return false
  }
  return true
}

function arrival() {
  return new Promise((resolve) => {
    wake = resolve
  })
}

async function until(pred) {
  for (;;) {
    if (pred()) return
    if (closed && !ws.isPaused) {
      // Nothing more can arrive: say what was missing and fail.
      flush()
      console.error(`ws-client: connection closed while waiting for: ${doing}`)
      process.exit(3)
    }
    await arrival()
  }
}

function parseConds(rest) {
  return rest.split(/\s+/).map((kv) => {
    const i = kv.indexOf("=")
    if (i < 1) bad(`bad condition: ${kv}`)
    return [kv.slice(0, i), kv.slice(i + 1)]
  })
}

function bad(msg) {
  flush()
  console.error(`ws-client: ${doing}: ${msg}`)
  process.exit(2)
}

function sendText(text) {
  if (ws.readyState === WebSocket.OPEN) ws.send(text)
}

function bigFrame(n) {
  const head = '{"op":"publish","stream":"big","data":"'
  const tail = '"}'
  const pad = n - head.length - tail.length
  if (pad < 0) bad("too small")
  return head + "a".repeat(pad) + tail
}

await opened
for (const line of script) {
  doing = line
  const sp = line.indexOf(" ")
  const cmd = sp < 0 ? line : line.slice(0, sp)
  const rest = sp < 0 ? "" : line.slice(sp + 1).trim()
  switch (cmd) {
    case "send":
      sendText(rest)
      break
    case "repeat": {
      const m = /^(\d+)\s+(.*)$/.exec(rest)
      if (!m) bad("usage: repeat N TEXT")
      for (let i = 1; i <= Number(m[1]); i++)
        sendText(m[2].replaceAll("{i}", String(i)))
      break
    }
    case "binary":
      if (ws.readyState === WebSocket.OPEN)
        ws.send(Buffer.from(rest, "utf8"), { binary: true })
      break
    case "badutf8":
      if (ws.readyState === WebSocket.OPEN)
        ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false })
      break
    case "frag": {
      const m = /^(\d+)\s+(.*)$/.exec(rest)
      if (!m || Number(m[1]) < 1) bad("usage: frag N TEXT")
      const buf = Buffer.from(m[2], "utf8")
      const n = Number(m[1])
      const step = Math.ceil(buf.length / n)
      for (let i = 0; i < n; i++) {
        if (ws.readyState !== WebSocket.OPEN) break
        ws.send(buf.subarray(i * step, Math.min(buf.length, (i + 1) * step)), {
          binary: false,
          fin: i === n - 1,
        })
      }
      break
    }
    case "wsping": {
      let ponged = false
      ws.once("pong", () => {
        ponged = true
        note()
      })
      ws.ping("sess")
      await until(() => ponged)
      print({ pong: true })
      break
    }
    case "big": {
      const [bytes, parts] = rest.split(/\s+/).map(Number)
      const buf = Buffer.from(bigFrame(bytes))
      const n = parts || 1
      const step = Math.ceil(buf.length / n)
      for (let i = 0; i < n && ws.readyState === WebSocket.OPEN; i++)
        ws.send(buf.subarray(i * step, Math.min(buf.length, (i + 1) * step)), {
          binary: false,
          fin: i === n - 1,
        })
      break
    }
    case "wait": {
      const conds = parseConds(rest)
      let hit = -1
      await until(() => {
        for (let i = 0; i < frames.length; i++)
          if (!consumed.has(i) && matches(frames[i], conds)) {
            hit = i
            return true
          }
        return false
      })
      consumed.add(hit)
      break
    }
    case "count": {
      const m = /^(\d+)\s+(.*)$/.exec(rest)
      if (!m) bad("usage: count N K=V...")
      const conds = parseConds(m[2])
      let hits = []
      await until(() => {
        hits = []
        for (let i = 0; i < frames.length; i++)
          if (!consumed.has(i) && matches(frames[i], conds)) hits.push(i)
        return hits.length >= Number(m[1])
      })
      for (const i of hits.slice(0, Number(m[1]))) consumed.add(i)
      break
    }
    case "events": {
      const [s, n] = rest.split(/\s+/)
      if (!s || !(Number(n) >= 0)) bad("usage: events STREAM N")
      await until(() => (streams.get(s)?.n ?? 0) >= Number(n))
      break
    }
    case "stats": {
      const s = streams.get(rest)
      const pad = (o) => (o === null ? null : o.toString().padStart(16, "0"))
      const st = s ?? { n: 0, seen: new Set(), min: null, max: null, dups: 0 }
      const gaps =
        st.min === null ? 0 : Number(st.max - st.min + 1n) - st.seen.size
      print({ stats: rest, events: st.n, first: pad(st.min), last: pad(st.max), dups: st.dups, gaps })
      break
    }
    case "protocol":
      print({ protocol: ws.protocol })
      break
    case "sh":
      flush()
      try {
        execSync(rest, { stdio: ["ignore", "ignore", "inherit"] })
      } catch (err) {
        bad(`exit status ${err.status}`)
      }
      break
    case "pause":
      ws.pause()
      break
    case "resume":
      ws.resume()
      break
    case "pid":
      writeFileSync(rest, `${process.pid}\n`)
      break
    case "touch":
      flush()
      writeFileSync(rest, "")
      break
    case "waitfile":
      while (!existsSync(rest)) await new Promise((r) => setTimeout(r, 20))
      break
    case "sleep":
      await new Promise((r) => setTimeout(r, Number(rest)))
      break
    case "waitclose":
      await until(() => closed !== null)
      break
    case "close":
      if (!closed) {
        ws.close(rest ? Number(rest) : 1000)
        await until(() => closed !== null)
      }
      break
    default:
      bad(`unknown command ${cmd}`)
  }
}
doing = "the close at the end"
if (!closed) {
  ws.close(1000)
  await until(() => closed !== null)
}
flush()
clearTimeout(watchdog)
process.exit(0)
