-- http-append.lua: wrk script of bench/http-append.
-- POSTs one JSON event of about 100 bytes per request, the same body every
-- time (so the load generator spends nothing on it), and prints a one-line
-- JSON summary prefixed with "WRKJSON " when done.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"token","i":4242,"text":"the stream token session durable reply model answer retry commits"}'

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"lat_ms":{"p50":%.3f,"p99":%.3f,"max":%.3f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
