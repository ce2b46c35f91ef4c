// node --test interop/peerfetch/ : the ES module's encoders/decoders against the golden vectors of docs/peerfetch.md
// §2.7, parser rejection cases, and the client's behaviour against a scripted device over a fake RTCDataChannel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encode, decode, splitFrames, ErrorCode, FrameType, DEFAULT_SETTINGS, PeerFetchClient } from './peerfetch.js';

const doc = readFileSync(fileURLToPath(new URL('../../docs/peerfetch.md', import.meta.url)), 'utf8');
const golden = Object.fromEntries([...doc.matchAll(/^golden (\w+): ([0-9a-f]+)$/gm)].map(m => [m[1], m[2]]));
const hex = b => Buffer.from(b).toString('hex');
const bytes = h => new Uint8Array(Buffer.from(h, 'hex'));

test('docs/peerfetch.md has the eight golden vectors', () => {
  assert.deepEqual(Object.keys(golden).sort(), ['data', 'goaway', 'hello', 'pingack', 'request', 'reset', 'response', 'window']);
});

test('encoders produce the golden bytes', () => {
  assert.equal(hex(encode.hello(true, DEFAULT_SETTINGS)), golden.hello);
  assert.equal(hex(encode.headers(1, [[':method', 'GET'], [':path', '/api/status'], [':authority', 'device.local'], ['accept', 'application/json']], true)), golden.request);
  assert.equal(hex(encode.headers(1, [[':status', '200'], ['content-type', 'application/json']], false)), golden.response);
  assert.equal(hex(encode.data(1, new TextEncoder().encode('{"ok":true}'), true)), golden.data);
  assert.equal(hex(encode.windowUpdate(0, 65536)), golden.window);
  assert.equal(hex(encode.reset(3, ErrorCode.CANCEL)), golden.reset);
  assert.equal(hex(encode.ping(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), true)), golden.pingack);
  assert.equal(hex(encode.goAway(5, ErrorCode.NO_ERROR, 'bye')), golden.goaway);
});

test('decoders read the golden bytes back', () => {
  const one = h => { const f = splitFrames(bytes(h)); assert.equal(f.length, 1); return f[0]; };
  const hello = decode.hello(one(golden.hello));
  assert.deepEqual(hello, { version: 2, initiator: true, settings: { ...DEFAULT_SETTINGS } });
  const req = one(golden.request);
  assert.equal(req.type, FrameType.HEADERS); assert.equal(req.flags, 1); assert.equal(req.streamId, 1);
  assert.deepEqual(decode.headers(req), [[':method', 'GET'], [':path', '/api/status'], [':authority', 'device.local'], ['accept', 'application/json']]);
  assert.deepEqual(decode.headers(one(golden.response)), [[':status', '200'], ['content-type', 'application/json']]);
  const data = one(golden.data);
  assert.equal(data.type, FrameType.DATA); assert.equal(new TextDecoder().decode(data.payload), '{"ok":true}');
  assert.equal(decode.windowUpdate(one(golden.window)), 65536);
  assert.equal(decode.reset(one(golden.reset)), ErrorCode.CANCEL);
  const ping = one(golden.pingack);
  assert.equal(ping.flags, 1); assert.deepEqual([...decode.ping(ping)], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(decode.goAway(one(golden.goaway)), { lastStreamId: 5, code: 0, debug: 'bye' });
  // Several frames in one message.
  const both = splitFrames(bytes(golden.response + golden.data));
  assert.deepEqual(both.map(f => f.type), [FrameType.HEADERS, FrameType.DATA]);
});

test('malformed input is refused, never thrown', () => {
  assert.equal(splitFrames(bytes(golden.data).subarray(0, 15)), null); // truncated frame
  assert.equal(splitFrames(new Uint8Array(0)), null);
  const headers = splitFrames(bytes(golden.request))[0];
  const upper = { ...headers, payload: headers.payload.slice() };
  upper.payload[3] = 0x4d; // ':Method' → not a lowercase token
  assert.equal(decode.headers(upper), null);
  const count = { ...headers, payload: headers.payload.slice() };
  count.payload[0] = 0xff; // count far above what the payload can hold
  assert.equal(decode.headers(count), null);
  assert.equal(decode.headers({ ...headers, streamId: 0 }), null);
  assert.equal(decode.windowUpdate({ streamId: 0, payload: new Uint8Array(4) }), null); // increment 0
  assert.equal(decode.reset({ streamId: 0, payload: new Uint8Array(4) }), null);
  assert.equal(decode.hello({ streamId: 0, payload: Uint8Array.of(0x50, 0x46, 2, 2) }), null); // role 2
  assert.equal(decode.goAway({ streamId: 0, payload: Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 0, 0xff) }), null); // bad UTF-8
  // Random mutations of every golden frame: the parsers return a value or null, nothing throws.
  let seed = 42;
  const rnd = n => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  for (const h of Object.values(golden)) {
    for (let i = 0; i < 500; i++) {
      const m = bytes(h);
      for (let k = 1 + rnd(4); k > 0; k--) m[rnd(m.length)] = rnd(256);
      const cut = rnd(3) === 0 ? m.subarray(0, rnd(m.length + 1)) : m;
      const frames = splitFrames(cut);
      for (const f of frames ?? []) for (const d of Object.values(decode)) d(f);
    }
  }
});

// ---------------------------------------------------------------------------------------- client over a fake channel

class FakeChannel extends EventTarget {
  constructor() { super(); this.readyState = 'open'; this.bufferedAmount = 0; this.protocol = ''; this.sent = []; this.onsend = null; }
  send(m) { this.sent.push(m); this.onsend?.(m); }
  deliver(m) { const e = new Event('message'); e.data = m instanceof Uint8Array ? m.slice().buffer : m; this.dispatchEvent(e); }
}

/** A scripted v2 device: answers HELLO, hands each request stream to `serve`. */
function v2Device(ch, serve) {
  const streams = new Map();
  ch.onsend = m => queueMicrotask(() => {
    if (typeof m === 'string') return;
    for (const f of splitFrames(m)) {
      if (f.type === FrameType.HELLO) ch.deliver(encode.hello(false, { ...DEFAULT_SETTINGS, initialStreamWindow: 1000, maxConcurrentStreams: 2 }));
      else if (f.type === FrameType.HEADERS && !streams.has(f.streamId)) {
        const s = { id: f.streamId, head: decode.headers(f), body: [], resets: [], ended: (f.flags & 1) !== 0, updates: 0 };
        streams.set(f.streamId, s);
        serve(s);
      } else if (f.type === FrameType.DATA) { const s = streams.get(f.streamId); s.body.push(...f.payload); if (f.flags & 1) { s.ended = true; s.onEnd?.(); } }
      else if (f.type === FrameType.RESET) streams.get(f.streamId)?.resets.push(decode.reset(f));
      else if (f.type === FrameType.WINDOW_UPDATE && f.streamId !== 0) streams.get(f.streamId).updates += decode.windowUpdate(f);
    }
  });
  return streams;
}

test('v2: GET with a streamed response, credit returned as the application reads', async () => {
  const ch = new FakeChannel();
  const body = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 0xff);
  const streams = v2Device(ch, s => {
    ch.deliver(encode.headers(s.id, [[':status', '200'], ['content-type', 'application/octet-stream']], false));
    // 1 MiB (the stream window) in 64 KiB frames; the rest once WINDOW_UPDATEs arrive.
    let sent = 0, credit = DEFAULT_SETTINGS.initialStreamWindow;
    const push = () => { while (sent < body.length && credit > 0) { const n = Math.min(65536, credit, body.length - sent); ch.deliver(encode.data(s.id, body.subarray(sent, sent + n), sent + n === body.length)); sent += n; credit -= n; } };
    s.grant = n => { credit += n; push(); };
    push();
  });
  const origSend = ch.onsend;
  ch.onsend = m => { origSend(m); if (typeof m !== 'string') for (const f of splitFrames(m)) if (f.type === FrameType.WINDOW_UPDATE && f.streamId !== 0) queueMicrotask(() => streams.get(f.streamId).grant(decode.windowUpdate(f))); };
  const client = new PeerFetchClient(ch, { maxMessageSize: 262144 });
  const res = await client.fetch('http://device.local/big?x=1', { headers: { 'X-Test': 'yes', Connection: 'close' } });
  assert.equal(client.protocol, 'v2');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/octet-stream');
  const got = new Uint8Array(await res.arrayBuffer());
  assert.equal(got.length, body.length);
  assert.ok(Buffer.from(got).equals(Buffer.from(body)));
  const head = streams.get(1).head;
  assert.deepEqual(head.slice(0, 3), [[':method', 'GET'], [':path', '/big?x=1'], [':authority', 'device.local']]);
  assert.ok(head.some(([n, v]) => n === 'x-test' && v === 'yes'));
  assert.ok(!head.some(([n]) => n === 'connection'));
});

test('v2: POST body split under the device window, abort sends RESET CANCEL', async () => {
  const ch = new FakeChannel();
  let release;
  const streams = v2Device(ch, s => {
    s.grantAll = () => ch.deliver(encode.windowUpdate(s.id, 100000));
    if (s.head.find(([n]) => n === ':path')[1] === '/echo') {
      s.onEnd = () => { ch.deliver(encode.headers(s.id, [[':status', '200']], false)); ch.deliver(encode.data(s.id, Uint8Array.from(s.body), true)); };
      setTimeout(() => { ch.deliver(encode.windowUpdate(s.id, 5000)); ch.deliver(encode.windowUpdate(0, 5000)); }, 20);
    } else release = () => {};
  });
  const client = new PeerFetchClient(ch, { maxMessageSize: 300 });
  const payload = 'x'.repeat(2500);
  const res = await client.fetch('/echo', { method: 'POST', body: payload });
  assert.equal(await res.text(), payload);
  // No DATA frame above max-message-size, none before credit.
  for (const m of ch.sent) assert.ok(m.length <= 300);
  const ac = new AbortController();
  const pending = client.fetch('/hang', { signal: ac.signal });
  await new Promise(r => setTimeout(r, 10));
  ac.abort();
  await assert.rejects(pending, e => e.name === 'AbortError');
  assert.deepEqual(streams.get(3).resets, [ErrorCode.CANCEL]);
  void release;
});

test('v1 fallback: a text answer to HELLO, then ping/pong sync and one request at a time', async () => {
  const ch = new FakeChannel();
  const requests = [];
  ch.onsend = m => queueMicrotask(() => {
    if (typeof m !== 'string') { // the HELLO: a v1 device answers it like a bad request
      ch.deliver('{"status":400,"content-type":"application/json","content-length":2}'); ch.deliver(new TextEncoder().encode('{}'));
      return;
    }
    const r = JSON.parse(m);
    requests.push(r);
    if (r.url.startsWith('ping')) { ch.deliver('{"status":200}'); ch.deliver('pong'); return; }
    ch.deliver('{"status":202}');
    setTimeout(() => { ch.deliver(JSON.stringify({ status: 200, 'content-type': 'application/json', 'content-length': 2 })); ch.deliver(new TextEncoder().encode(JSON.stringify({ n: requests.length }))); }, 5);
  });
  const client = new PeerFetchClient(ch, { negotiationTimeout: 1000 });
  const [a, b] = await Promise.all([client.fetch('http://localhost/a'), client.fetch('/b', { method: 'POST', body: '{"k":1}', headers: { 'content-type': 'application/json' } })]);
  assert.equal(client.protocol, 'v1');
  assert.deepEqual(await a.json(), { n: 2 });
  assert.deepEqual(await b.json(), { n: 3 });
  assert.deepEqual(requests.map(r => r.url), ['ping?', 'http://localhost/a', 'http://localhost/b']);
  assert.deepEqual(requests[2].json, { k: 1 });
  await assert.rejects(client.fetch('/bin', { method: 'PUT', body: new Uint8Array(3) }), TypeError);
});
