// notify-peer.mjs: the peer of bench/notify-throughput: N POSTs of a
// webhook-sized JSON body to URL, C at a time on keep-alive connections,
// with nothing else to do (no store, no signing): the receiver's ceiling.
//
//   node bench/notify-peer.mjs URL N C
import http from 'node:http';

const [url, n, c] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const agent = new http.Agent({ keepAlive: true, maxSockets: c });
const body = JSON.stringify({
  id: '1', stream: 'runs/all', offset: '0000000000000001', seq: 1, member: 'bob',
  channel: 'webhook', title: 'Run 1 finished', body: 'all steps passed', attempt: 1,
});
let started = 0, done = 0;

function one() {
  if (started >= n) return;
  started++;
  const req = http.request(url, {
    method: 'POST', agent,
    headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
  }, (res) => {
    res.resume();
    res.on('end', () => {
      if (++done === n) agent.destroy(); else one();
    });
  });
  req.on('error', (e) => { console.error(String(e)); process.exit(1); });
  req.end(body);
}
for (let i = 0; i < c; i++) one();
