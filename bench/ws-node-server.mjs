// ws-node-server.mjs: the peer of bench/ws-fanout, a broadcast server on
// the `ws` npm package that speaks as much of sess-ws(7) as the bench uses.
//
//   node bench/ws-node-server.mjs CACHE_DIR
//
// CACHE_DIR holds node_modules/ws (npm install there).  Listens on a free
// 127.0.0.1 port and prints "listening on URL" once it does; SIGTERM or
// SIGINT stop it.  At /v1/ws: a welcome frame on connect; attach (from
// now: it keeps nothing), publish (the event goes to every attached
// socket as one events push, framed once and written to each socket as
// it is, then the ok) and ping.  Nothing
// is stored: this is the cost of the fan-out alone, the floor that a
// durable server is compared with.
import { pathToFileURL } from "node:url"
import { join } from "node:path"

const [cacheDir] = process.argv.slice(2)
if (!cacheDir) {
  console.error("usage: node ws-node-server.mjs CACHE_DIR")
  process.exit(2)
}
const { WebSocketServer, Sender } = await import(
  pathToFileURL(join(cacheDir, "node_modules/ws/wrapper.mjs")).href
)

const topics = new Map() // stream -> Set of sockets
const tails = new Map() // stream -> seq
const pad = (n) => String(n).padStart(16, "0")
let conns = 0

const wss = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  path: "/v1/ws",
  maxPayload: 1 << 20,
  perMessageDeflate: false,
  clientTracking: false,
  backlog: 4096,
})

wss.on("connection", (ws) => {
  const mine = new Set()
  ws.send(
    JSON.stringify({
      op: "welcome",
      conn: `n${++conns}`,
      member: null,
      limits: { attachments: 1000, message: 1 << 20 },
      grace: 15,
    }),
  )
  ws.on("message", (raw, isBinary) => {
    if (isBinary) return ws.close(1003)
    let f
    try {
      f = JSON.parse(raw)
    } catch {
      return ws.send('{"op":"error","re":null,"id":null,"code":"BAD_FRAME","message":"not JSON"}')
    }
    const id = f.id ?? null
    const s = f.stream
    switch (f.op) {
      case "attach": {
        let t = topics.get(s)
        if (!t) topics.set(s, (t = new Set()))
        t.add(ws)
        mine.add(s)
        const tail = pad(tails.get(s) ?? 0)
        ws.send(JSON.stringify({ op: "ok", re: "attach", id, stream: s, offset: tail, tail }))
        break
      }
      case "publish": {
        const seq = (tails.get(s) ?? 0) + 1
        tails.set(s, seq)
        const o = pad(seq)
        const frame = Buffer.from(
          JSON.stringify({
            op: "events",
            stream: s,
            events: [{ offset: o, time: new Date().toISOString(), data: f.data }],
            next: o,
          }),
        )
        // Framed once and written as is to every socket (ws's own
        // broadcast advice), not framed again for each one by send().
        const wire = Buffer.concat(
          Sender.frame(frame, { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }),
        )
        for (const c of topics.get(s) ?? []) c._socket.write(wire)
        ws.send(JSON.stringify({ op: "ok", re: "publish", id, stream: s, offset: o, duplicate: false }))
        break
      }
      case "ping":
        ws.send(JSON.stringify({ op: "pong", id }))
        break
      default:
        ws.send(JSON.stringify({ op: "error", re: f.op ?? null, id, code: "UNKNOWN_OP", message: "unknown op" }))
    }
  })
  ws.on("close", () => {
    for (const s of mine) topics.get(s)?.delete(ws)
  })
  ws.on("error", () => {})
})

wss.on("listening", () => {
  console.log(`listening on http://127.0.0.1:${wss.address().port}`)
})

const stop = () => process.exit(0)
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
