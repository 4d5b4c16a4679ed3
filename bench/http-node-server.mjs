// http-node-server.mjs: runs the Durable Streams reference server for bench/http-*.
//
//   node bench/http-node-server.mjs CACHE_DIR DATA_DIR
//
// CACHE_DIR holds node_modules/@durable-streams/server (npm install there);
// DATA_DIR is its file-backed store (or - for its in-memory store) (stream log files plus LMDB metadata,
// fdatasync on every append).  Listens on a free 127.0.0.1 port and prints
// "listening on URL" once it does; SIGTERM or SIGINT stop it.
import { pathToFileURL } from "node:url"
import { join } from "node:path"

const [cacheDir, dataDir] = process.argv.slice(2)
if (!cacheDir || !dataDir) {
  console.error("usage: node http-node-server.mjs CACHE_DIR DATA_DIR")
  process.exit(2)
}
const mod = await import(pathToFileURL(
  join(cacheDir, "node_modules/@durable-streams/server/dist/index.js")).href)
const server = new mod.DurableStreamTestServer({
  port: 0,
  host: "127.0.0.1",
  ...(dataDir === "-" ? {} : { dataDir }),
})
const url = await server.start()
console.log(`listening on ${url}`)
let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  const t = setTimeout(() => process.exit(0), 3000)
  try { await server.stop() } catch {}
  clearTimeout(t)
  process.exit(0)
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
