// receiver.mjs: the providers sess-notify talks to in the tests, on loopback.
//
//   node receiver.mjs RECORDFILE [--secret HEX] [--latency MS] [--count]
//
// Prints one line {"port":N,"subscription":{...}} once listening.  Each
// request is answered by its path and recorded as one JSON line in
// RECORDFILE: {"path","status","headers","body","verified","push"}.
//   /ok/...           200 (a webhook or an ntfy topic)
//   /flaky/...        500 every other request, 200 otherwise
//   /status/NNN/...   NNN (429 with Retry-After: 1)
//   /hang/...         never answers
//   /push/...         a Web Push endpoint: checks the VAPID JWT (ES256,
//                     aud, exp, k) and decrypts the aes128gcm body with
//                     http_ece and the subscription's private key; 201
// Webhook signatures (Sess-Signature: t=TS,v1=HEX, HMAC-SHA256 of
// "TS.BODY" under the secret) are checked when --secret is given.
// With --count nothing is recorded.  On SIGTERM it prints
// {"count":N} (requests answered) and exits.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import ece from 'http_ece';

const args = process.argv.slice(2);
const file = args[0];
let secret = null, latency = 0, countOnly = false;
for (let i = 1; i < args.length; i++) {
  if (args[i] === '--secret') secret = args[++i];
  else if (args[i] === '--latency') latency = Number(args[++i]);
  else if (args[i] === '--count') countOnly = true;
}

const b64u = (b) => Buffer.from(b).toString('base64url');
// The subscription a browser would make: a P-256 key pair and a secret.
const ecdh = crypto.createECDH('prime256v1');
ecdh.generateKeys();
const auth = crypto.randomBytes(16);
const out = countOnly ? null : fs.openSync(file, 'a');
let count = 0, flaky = 0;

function verifySignature(headers, body) {
  if (!secret) return null;
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(headers['sess-signature'] || '');
  if (!m) return false;
  const want = crypto.createHmac('sha256', secret).update(m[1] + '.').update(body).digest();
  const got = Buffer.from(m[2], 'hex');
  const age = Math.abs(Date.now() / 1000 - Number(m[1]));
  return age < 300 && crypto.timingSafeEqual(want, got);
}

// RFC 8292: "vapid t=JWT, k=KEY"; the JWT is ES256 over the key k.
function verifyVapid(headers, origin) {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(headers.authorization || '');
  if (!m) return 'no vapid authorization';
  const [h, c, s] = m[1].split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const claims = JSON.parse(Buffer.from(c, 'base64url'));
  if (header.alg !== 'ES256' || header.typ !== 'JWT') return 'bad jwt header';
  if (claims.aud !== origin) return `aud ${claims.aud} is not ${origin}`;
  const now = Date.now() / 1000;
  if (!(claims.exp > now && claims.exp <= now + 86400)) return 'bad exp';
  if (!/^(mailto:|https:)/.test(claims.sub || '')) return 'bad sub';
  const raw = Buffer.from(m[2], 'base64url');
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33, 65)) },
    format: 'jwk',
  });
  const ok = crypto.verify('sha256', Buffer.from(h + '.' + c), { key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(s, 'base64url'));
  return ok ? null : 'bad jwt signature';
}

function record(rec) {
  count++;
  if (out !== null) fs.writeSync(out, JSON.stringify(rec) + '\n');
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const path = req.url;
    const rec = { path, method: req.method, headers: req.headers };
    let status = 200;
    const extra = {};
    if (path.startsWith('/hang/')) return;
    if (path.startsWith('/flaky/')) status = flaky++ % 2 === 0 ? 500 : 200;
    else if (path.startsWith('/status/')) status = Number(path.split('/')[2]);
    if (status === 429) extra['Retry-After'] = '1';
    if (path.startsWith('/push/')) {
      const why = verifyVapid(req.headers, `http://${req.headers.host}`);
      rec.vapid = why === null ? 'ok' : why;
      try {
        rec.push = JSON.parse(ece.decrypt(body, {
          version: 'aes128gcm', privateKey: ecdh, authSecret: b64u(auth),
        }).toString());
      } catch (e) {
        rec.push = null;
        rec.error = String(e);
      }
      status = why === null && rec.push !== null ? 201 : 400;
    } else {
      rec.body = body.toString();
      rec.verified = verifySignature(req.headers, body);
    }
    rec.status = status;
    const answer = () => {
      // Recorded before the answer: the sender may act on it at once.
      record(rec);
      res.writeHead(status, { 'Content-Type': 'text/plain', ...extra });
      res.end(status < 300 ? 'ok\n' : `status ${status}\n`);
    };
    if (latency > 0) setTimeout(answer, latency); else answer();
  });
});
server.keepAliveTimeout = 60000;
server.maxRequestsPerSocket = 0;
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const subscription = {
    endpoint: `http://127.0.0.1:${port}/push/sub-1`,
    keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(auth) },
  };
  process.stdout.write(JSON.stringify({ port, subscription }) + '\n');
});
process.on('SIGTERM', () => {
  process.stdout.write(JSON.stringify({ count }) + '\n', () => process.exit(0));
});
