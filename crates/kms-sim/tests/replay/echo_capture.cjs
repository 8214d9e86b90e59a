// A stand-in server for checking the replay rules themselves: it answers each
// replayed request with KMS's captured response to it (every uuid rewritten to
// a fresh one, consistently) and pushes KMS's captured events at the captured
// points. A replay against it must find no difference: the rules accept real
// KMS answers whose ids, counters and SDPs are not the captured ones.
// Usage: node echo_capture.cjs <capture.jsonl> <port>   (needs crates/kms-sim/tests/js/node_modules)
'use strict';
const path = require('path');
const fs = require('fs');
const crypto = require('crypto');
const WebSocket = require(path.join(__dirname, '..', 'js', 'node_modules', 'ws'));

const [file, port] = [process.argv[2], Number(process.argv[3])];
const frames = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(JSON.parse)
  .map((f) => ({ ...f, conn: f.conn || 1 }));
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const NIL = '00000000-0000-0000-0000-000000000000';
const fwd = new Map();
const rev = new Map();
const known = new Set(); // captured uuids already shown to the client
const rewrite = (s) => s.replace(UUID, (u) => {
  if (u === NIL) return u;
  known.add(u);
  if (!fwd.has(u)) { const n = crypto.randomUUID(); fwd.set(u, n); rev.set(n, u); }
  return fwd.get(u);
});
const unrewrite = (s) => s.replace(UUID, (u) => rev.get(u) || u);
const requests = frames.map((f, i) => [f, i]).filter(([f]) => f.dir === 'client->kms').map(([, i]) => i);
const emitted = new Set();
const sockets = {};
let connections = 0;

new WebSocket.Server({ port, path: '/kurento' }).on('connection', (ws) => {
  const conn = ++connections;
  sockets[conn] = ws;
  ws.on('message', (data) => {
    let msg;
    try { msg = JSON.parse(data.toString()); } catch { ws.terminate(); return; }
    const original = JSON.parse(unrewrite(JSON.stringify(msg)));
    const poll = typeof msg.id === 'number' && msg.id >= 900000;
    const i = frames.findIndex((f) => f.conn === conn && f.dir === 'client->kms' && (poll
      ? JSON.stringify(f.msg.params) === JSON.stringify(original.params)
      : f.msg.id === msg.id));
    if (i < 0) { console.error('unknown request', JSON.stringify(msg).slice(0, 200)); return; }
    const captured = frames[i].msg;
    const resp = frames.find((f, j) => j > i && f.conn === conn && f.dir === 'kms->client' && f.msg.id === captured.id);
    if (resp) {
      const r = JSON.parse(JSON.stringify(resp.msg));
      const list = r.result && Array.isArray(r.result.value) && captured.params
        && ['getSessions', 'getPipelines'].includes(captured.params.operation);
      if (list) { // ids of other clients of the captured KMS do not exist here
        r.result.value = r.result.value.filter((v) => v === '' || (v.match(UUID) || []).every((u) => known.has(u)));
      }
      const out = JSON.parse(rewrite(JSON.stringify(r)));
      out.id = msg.id;
      ws.send(JSON.stringify(out));
    }
    if (poll) return;
    const next = requests.find((j) => j > i) ?? frames.length;
    frames.forEach((f, j) => {
      if (j < next && f.dir === 'kms->client' && f.msg.method === 'onEvent' && !emitted.has(j) && sockets[f.conn]) {
        emitted.add(j);
        sockets[f.conn].send(rewrite(JSON.stringify(f.msg)));
      }
    });
  });
});
console.error(`echo_capture listening on ${port}`);
