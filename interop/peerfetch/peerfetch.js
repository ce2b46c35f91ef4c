// PeerFetch browser client: `fetch` over an RTCDataChannel (docs/peerfetch.md).
//
//   import { PeerFetchClient } from './peerfetch.js';
//   const client = new PeerFetchClient(channel, { maxMessageSize: pc.sctp.maxMessageSize });
//   const res = await client.fetch('/api/status');          // a standard Response
//   const data = await res.json();
//
// Speaks PeerFetch v2 (multiplexed, streamed both ways, credit flow control, abort → RESET CANCEL) and falls back to
// v1 semantics (one request in flight, whole bodies, JSON text messages) when the device is v1-only. Plain modern JS,
// no dependencies, no build step. The wire matches docs/peerfetch.md §1–2 byte for byte.

// ------------------------------------------------------------------------------------------------------- wire (v2)

/** Frame types (docs/peerfetch.md §2.1). */
export const FrameType = Object.freeze({ DATA: 0x0, HEADERS: 0x1, RESET: 0x3, HELLO: 0x4, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8 });

/** HTTP/2 error codes used by RESET and GOAWAY. */
export const ErrorCode = Object.freeze({
  NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 0xb,
});

const END_STREAM = 0x1;
const ACK = 0x1;
const HEADER_SIZE = 9;
const MAX_FRAME_LENGTH = (1 << 24) - 1;
const MAX_FIELDS = 256;
const MAX_GOAWAY_DEBUG = 256;
const TOKEN_PUNCT = "!#$%&'*+-.^_`|~";

/** Settings announced in HELLO (what the sender accepts). */
export const DEFAULT_SETTINGS = Object.freeze({
  initialStreamWindow: 1 << 20,
  initialChannelWindow: 8 << 20,
  maxFramePayload: 256 << 10,
  maxConcurrentStreams: 128,
  maxHeaderBlock: 64 << 10,
});

const SETTING_IDS = [
  [1, 'initialStreamWindow'], [2, 'initialChannelWindow'], [3, 'maxFramePayload'],
  [4, 'maxConcurrentStreams'], [5, 'maxHeaderBlock'],
];

function frame(type, flags, streamId, payloadLength) {
  if (payloadLength > MAX_FRAME_LENGTH) throw new RangeError('frame payload too long');
  const bytes = new Uint8Array(HEADER_SIZE + payloadLength);
  const v = new DataView(bytes.buffer);
  bytes[0] = payloadLength >>> 16; bytes[1] = (payloadLength >>> 8) & 0xff; bytes[2] = payloadLength & 0xff;
  bytes[3] = type; bytes[4] = flags;
  v.setUint32(5, streamId & 0x7fffffff);
  return { bytes, v, p: HEADER_SIZE };
}

/** The frame encoders; each returns one frame's bytes. */
export const encode = Object.freeze({
  hello(initiator, settings = DEFAULT_SETTINGS) {
    const { bytes, v } = frame(FrameType.HELLO, 0, 0, 4 + SETTING_IDS.length * 6);
    bytes[9] = 0x50; bytes[10] = 0x46; bytes[11] = 2; bytes[12] = initiator ? 1 : 0;
    let o = 13;
    for (const [id, key] of SETTING_IDS) { v.setUint16(o, id); v.setUint32(o + 2, settings[key]); o += 6; }
    return bytes;
  },
  /** fields: array of [name, value]; names are lowercased, values are ISO-8859-1 strings. */
  headers(streamId, fields, endStream) {
    if (fields.length > MAX_FIELDS) throw new TypeError(`PeerFetch: ${fields.length} header fields (max ${MAX_FIELDS})`);
    const enc = fields.map(([n, val]) => [latin1(String(n).toLowerCase()), latin1(String(val))]);
    let length = 2;
    for (const [n, val] of enc) {
      if (n.length === 0 || n.length > 255 || val.length > 0xffff) throw new TypeError('PeerFetch: header field too long');
      length += 1 + n.length + 2 + val.length;
    }
    const { bytes, v } = frame(FrameType.HEADERS, endStream ? END_STREAM : 0, streamId, length);
    v.setUint16(9, enc.length);
    let o = 11;
    for (const [n, val] of enc) {
      bytes[o] = n.length; bytes.set(n, o + 1); o += 1 + n.length;
      v.setUint16(o, val.length); bytes.set(val, o + 2); o += 2 + val.length;
    }
    return bytes;
  },
  data(streamId, chunk, endStream) {
    const { bytes } = frame(FrameType.DATA, endStream ? END_STREAM : 0, streamId, chunk.length);
    bytes.set(chunk, HEADER_SIZE);
    return bytes;
  },
  reset(streamId, code) {
    const { bytes, v } = frame(FrameType.RESET, 0, streamId, 4);
    v.setUint32(9, code);
    return bytes;
  },
  ping(opaque8, ack) {
    const { bytes } = frame(FrameType.PING, ack ? ACK : 0, 0, 8);
    bytes.set(opaque8, HEADER_SIZE);
    return bytes;
  },
  goAway(lastStreamId, code, debug = '') {
    const text = new TextEncoder().encode(debug).subarray(0, MAX_GOAWAY_DEBUG);
    const { bytes, v } = frame(FrameType.GOAWAY, 0, 0, 8 + text.length);
    v.setUint32(9, lastStreamId & 0x7fffffff); v.setUint32(13, code); bytes.set(text, 17);
    return bytes;
  },
  windowUpdate(streamId, increment) {
    const { bytes, v } = frame(FrameType.WINDOW_UPDATE, 0, streamId, 4);
    v.setUint32(9, increment & 0x7fffffff);
    return bytes;
  },
});

function latin1(s) {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new TypeError('PeerFetch: header text outside ISO-8859-1');
    b[i] = c;
  }
  return b;
}

function fromLatin1(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return s;
}

function validName(b) {
  if (b.length === 0) return false;
  for (const c of b) {
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || TOKEN_PUNCT.includes(String.fromCharCode(c));
    if (!ok) return false;
  }
  return true;
}

/**
 * Splits one channel message into frames: { type, flags, streamId, payload } (payload a view of the message).
 * Returns null when a frame is truncated (a frame never spans messages).
 */
export function splitFrames(message) {
  const frames = [];
  const v = new DataView(message.buffer, message.byteOffset, message.byteLength);
  let o = 0;
  if (message.length === 0) return null;
  while (o < message.length) {
    if (message.length - o < HEADER_SIZE) return null;
    const length = (message[o] << 16) | (message[o + 1] << 8) | message[o + 2];
    if (message.length - o - HEADER_SIZE < length) return null;
    frames.push({
      type: message[o + 3], flags: message[o + 4], streamId: v.getUint32(o + 5) & 0x7fffffff,
      payload: message.subarray(o + HEADER_SIZE, o + HEADER_SIZE + length),
    });
    o += HEADER_SIZE + length;
  }
  return frames;
}

/** The frame parsers; each returns null on anything malformed (limits checked before allocating). */
export const decode = Object.freeze({
  hello(f) {
    const p = f.payload;
    if (f.streamId !== 0 || p.length < 4 || p.length > 4 + 16 * 6 || (p.length - 4) % 6 !== 0) return null;
    if (p[0] !== 0x50 || p[1] !== 0x46 || p[3] > 1) return null;
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const settings = { ...DEFAULT_SETTINGS };
    for (let i = 4; i < p.length; i += 6) {
      const id = v.getUint16(i), value = v.getUint32(i + 2);
      const known = SETTING_IDS.find(([k]) => k === id);
      if (!known) continue; // unknown settings are ignored
      const key = known[1];
      const ok = key === 'maxFramePayload' ? value >= 1024 && value <= MAX_FRAME_LENGTH
        : key === 'maxHeaderBlock' ? value >= 256 && value <= MAX_FRAME_LENGTH
          : key === 'maxConcurrentStreams' ? value <= 0x7fffffff
            : value > 0 && value <= 0x7fffffff;
      if (!ok) return null;
      settings[key] = value;
    }
    return { version: p[2], initiator: p[3] === 1, settings };
  },
  /** Returns an array of [name, value] or null. */
  headers(f) {
    const p = f.payload;
    if (f.streamId === 0 || p.length < 2) return null;
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const count = v.getUint16(0);
    if (count > MAX_FIELDS || count * 4 > p.length - 2) return null;
    const fields = [];
    let o = 2, regularSeen = false;
    for (let i = 0; i < count; i++) {
      if (p.length - o < 1) return null;
      const nl = p[o++];
      if (nl === 0 || p.length - o < nl + 2) return null;
      const name = p.subarray(o, o + nl); o += nl;
      const vl = v.getUint16(o); o += 2;
      if (p.length - o < vl) return null;
      const value = p.subarray(o, o + vl); o += vl;
      const pseudo = name[0] === 0x3a;
      if (pseudo && regularSeen) return null;
      regularSeen ||= !pseudo;
      if (!validName(pseudo ? name.subarray(1) : name)) return null;
      if (value.includes(0x0d) || value.includes(0x0a) || value.includes(0)) return null;
      fields.push([fromLatin1(name), fromLatin1(value)]);
    }
    return o === p.length ? fields : null;
  },
  reset(f) {
    if (f.streamId === 0 || f.payload.length !== 4) return null;
    return new DataView(f.payload.buffer, f.payload.byteOffset, 4).getUint32(0);
  },
  ping(f) {
    return f.streamId === 0 && f.payload.length === 8 ? f.payload : null;
  },
  goAway(f) {
    const p = f.payload;
    if (f.streamId !== 0 || p.length < 8 || p.length > 8 + MAX_GOAWAY_DEBUG) return null;
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    let debug;
    try { debug = new TextDecoder('utf-8', { fatal: true }).decode(p.subarray(8)); } catch { return null; }
    return { lastStreamId: v.getUint32(0) & 0x7fffffff, code: v.getUint32(4), debug };
  },
  windowUpdate(f) {
    if (f.payload.length !== 4) return null;
    const inc = new DataView(f.payload.buffer, f.payload.byteOffset, 4).getUint32(0) & 0x7fffffff;
    return inc === 0 ? null : inc;
  },
});

// ------------------------------------------------------------------------------------------------------- helpers

/** Hop-by-hop fields (RFC 9110 §7.6.1) and Host: never sent. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding',
  'upgrade', 'proxy-authenticate', 'proxy-authorization', 'host']);

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const NORMALIZED_METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'];

function networkError(message, cause) {
  return new TypeError('PeerFetch: ' + message, cause === undefined ? undefined : { cause });
}

function abortReason(signal) {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

function toBytes(data) {
  if (typeof data === 'string') return new TextEncoder().encode(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A one-shot promise with its resolvers. */
function deferred() {
  let resolve, reject;
  const promise = new Promise((a, b) => { resolve = a; reject = b; });
  promise.catch(() => {}); // rejections are observed by whoever awaits; never "unhandled" here
  return { promise, resolve, reject };
}

/**
 * Normalizes fetch(input, init) into { url, method, headers: Headers, body: null | Uint8Array | ReadableStream,
 * length: number | null, signal }.
 */
async function normalizeRequest(input, init, baseUrl) {
  const isRequest = typeof Request !== 'undefined' && input instanceof Request;
  const url = new URL(isRequest ? input.url : String(input), baseUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`PeerFetch: unsupported URL scheme ${url.protocol}`);
  let method = init?.method ?? (isRequest ? input.method : 'GET');
  if (NORMALIZED_METHODS.includes(method.toUpperCase())) method = method.toUpperCase();
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(method)) throw new TypeError(`PeerFetch: invalid method ${method}`);
  const headers = new Headers(init?.headers ?? (isRequest ? input.headers : undefined));
  const signal = init?.signal ?? (isRequest ? input.signal : null) ?? null;
  let source = init && 'body' in init ? init.body : (isRequest ? input.body : null);
  if (source != null && (method === 'GET' || method === 'HEAD')) throw new TypeError('PeerFetch: a GET or HEAD request cannot have a body');
  let body = null, length = null, type = null, text = false;
  if (source == null) {
    // no body
  } else if (typeof source === 'string') {
    body = new TextEncoder().encode(source); length = body.length; type = 'text/plain;charset=UTF-8'; text = true;
  } else if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    body = toBytes(source).slice(); length = body.length;
  } else if (typeof Blob !== 'undefined' && source instanceof Blob) {
    body = source.stream(); length = source.size; if (source.type) type = source.type;
  } else if (source instanceof ReadableStream) {
    body = source;
  } else {
    // URLSearchParams, FormData and anything else fetch accepts: let the platform serialize it.
    const r = new Response(source);
    body = new Uint8Array(await r.arrayBuffer()); length = body.length; type = r.headers.get('content-type');
    text = source instanceof URLSearchParams;
  }
  if (type && !headers.has('content-type')) headers.set('content-type', type);
  if (length !== null) headers.set('content-length', String(length));
  return { url, method, headers, body, length, signal, text };
}

// ------------------------------------------------------------------------------------------------------- client

/**
 * A PeerFetch client over one RTCDataChannel (reliable and ordered, label `http-proxy` by convention).
 * `client.fetch(input, init)` behaves like the global fetch: it resolves with a standard Response once the head
 * arrives (the body streams), rejects with a TypeError on network failure and with the signal's reason on abort.
 */
export class PeerFetchClient {
  /**
   * @param {RTCDataChannel} channel an open (or opening) data channel; the client owns its message handler.
   * @param {object} [options] see peerfetch.d.ts.
   */
  constructor(channel, options = {}) {
    this.channel = channel;
    this.options = {
      baseUrl: 'http://localhost/',
      maxMessageSize: 65536,
      negotiationTimeout: 3000,
      allowV1: true,
      v1Timeout: 60000,
      streamWindow: DEFAULT_SETTINGS.initialStreamWindow,
      channelWindow: DEFAULT_SETTINGS.initialChannelWindow,
      ...options,
    };
    this.local = { ...DEFAULT_SETTINGS, initialStreamWindow: this.options.streamWindow, initialChannelWindow: this.options.channelWindow };
    /** 'v2', 'v1' or null before negotiation. */
    this.protocol = null;
    this._connecting = null;
    this._rx = null; // how received messages are routed: null/'v1' → v1 inbox, 'negotiating'/'v2' → frames
    this._closed = null; // an Error once the channel is unusable
    this._helloWaiter = null;
    // v2 state
    this._streams = new Map();
    this._nextId = 1;
    this._peer = null;
    this._sendWindow = 0;
    this._recvCredit = this.local.initialChannelWindow;
    this._unacked = 0;
    this._lastPeerId = 0;
    this._peerGoAway = null;
    this._goAwaySent = false;
    this._creditWaiters = [];
    this._slotWaiters = [];
    this._trailers = new WeakMap();
    // v1 state
    this._inbox = [];
    this._inboxWaiter = null;
    this._v1Chain = Promise.resolve();
    this._v1Synced = false;
    // outgoing queue (the channel's bufferedAmount is the back-pressure)
    this._out = [];
    this._drainWaiters = [];

    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = 256 * 1024;
    this._onMessage = e => this._receive(e.data);
    this._onClose = () => this._fail(networkError('the data channel closed'));
    this._onLow = () => this._flush();
    channel.addEventListener('message', this._onMessage);
    channel.addEventListener('close', this._onClose);
    channel.addEventListener('bufferedamountlow', this._onLow);
  }

  /** Largest message we may send (the peer's SDP max-message-size). */
  get maxMessageSize() { return this.options.maxMessageSize > 0 ? this.options.maxMessageSize : 65536; }

  /** Negotiates now (otherwise the first fetch does). Resolves with 'v2' or 'v1'. */
  connect() {
    this._connecting ??= this._negotiate();
    return this._connecting;
  }

  /** The global-fetch-compatible entry point. */
  async fetch(input, init) {
    const req = await normalizeRequest(input, init, this.options.baseUrl);
    if (req.signal?.aborted) throw abortReason(req.signal);
    const protocol = await this.connect();
    if (req.signal?.aborted) throw abortReason(req.signal);
    return protocol === 'v2' ? this._fetchV2(req) : this._fetchV1(req);
  }

  /** The device's GOAWAY ({ lastStreamId, code, debug }) once one arrived, else null. */
  get peerGoAway() { return this._peerGoAway; }

  /** Trailers of a v2 response, once its body has been read to the end (null before, or when there were none). */
  trailers(response) { return this._trailers.get(response) ?? null; }

  /** v2: no new requests from us; running ones finish. */
  goAway(debug = 'client going away') {
    if (this.protocol !== 'v2' || this._goAwaySent || this._closed) return;
    this._goAwaySent = true;
    this._send(encode.goAway(this._lastPeerId, ErrorCode.NO_ERROR, debug));
  }

  /** Fails every pending request and detaches from the channel (the channel itself is left open). */
  close() {
    this._fail(networkError('client closed'));
  }

  // ------------------------------------------------------------------ negotiation

  async _negotiate() {
    if (this.channel.readyState === 'connecting') {
      await new Promise((resolve, reject) => {
        this.channel.addEventListener('open', resolve, { once: true });
        this.channel.addEventListener('close', () => reject(networkError('the data channel closed before opening')), { once: true });
      });
    }
    if (this.channel.readyState !== 'open') throw networkError(`the data channel is ${this.channel.readyState}`);
    if (this._closed) throw this._closed;
    const waiter = deferred();
    this._helloWaiter = waiter;
    this._rx = 'negotiating';
    this._send(encode.hello(true, this.local));
    const timer = setTimeout(() => { if (this._rx === 'negotiating') this._rx = 'v1'; waiter.resolve('timeout'); }, this.options.negotiationTimeout);
    let outcome;
    try { outcome = await waiter.promise; } finally { clearTimeout(timer); this._helloWaiter = null; }
    if (outcome === 'v2') { this.protocol = 'v2'; return 'v2'; }
    if (this.channel.protocol === 'peerfetch/2' || !this.options.allowV1) {
      throw networkError(outcome === 'timeout' ? 'no v2 HELLO from the device' : 'the device speaks only PeerFetch v1');
    }
    this.protocol = 'v1';
    return 'v1';
  }

  // ------------------------------------------------------------------ receive

  _receive(data) {
    if (this._closed) return;
    const isText = typeof data === 'string';
    if (this._rx === 'negotiating' && isText) {
      // A text answer to our HELLO: the device speaks only v1 (it answers HELLO like a bad v1 request).
      this._rx = 'v1';
      this._helloWaiter?.resolve('v1');
    }
    if (this._rx === 'v1' || this._rx === null) {
      this._inbox.push(isText ? data : new Uint8Array(data));
      if (this._inboxWaiter) { const w = this._inboxWaiter; this._inboxWaiter = null; w.resolve(); }
      return;
    }
    if (isText) return this._connectionError(ErrorCode.PROTOCOL_ERROR, 'text message on a v2 channel');
    const frames = splitFrames(new Uint8Array(data));
    if (!frames) return this._connectionError(ErrorCode.FRAME_SIZE_ERROR, 'truncated frame (a frame must not span messages)');
    for (const f of frames) {
      if (this._closed) return;
      this._onFrame(f);
    }
  }

  _onFrame(f) {
    if (this._rx === 'negotiating' && f.type !== FrameType.HELLO) {
      return this._connectionError(ErrorCode.PROTOCOL_ERROR, 'frame before HELLO');
    }
    switch (f.type) {
      case FrameType.HELLO: return this._onHello(f);
      case FrameType.HEADERS: return this._onHeaders(f);
      case FrameType.DATA: return this._onData(f);
      case FrameType.WINDOW_UPDATE: return this._onWindowUpdate(f);
      case FrameType.RESET: return this._onReset(f);
      case FrameType.PING: return this._onPing(f);
      case FrameType.GOAWAY: return this._onGoAway(f);
      default: return undefined; // unknown frame types are ignored
    }
  }

  _onHello(f) {
    if (this._rx !== 'negotiating') return this._connectionError(ErrorCode.PROTOCOL_ERROR, 'second HELLO');
    const h = decode.hello(f);
    if (!h) return this._connectionError(ErrorCode.PROTOCOL_ERROR, 'malformed HELLO');
    if (h.version !== 2) return this._connectionError(ErrorCode.PROTOCOL_ERROR, `unsupported version ${h.version}`);
    if (h.initiator) return this._connectionError(ErrorCode.PROTOCOL_ERROR, 'both ends claim the initiator role');
    this._peer = h.settings;
    this._sendWindow = h.settings.initialChannelWindow;
    this._rx = 'v2';
    this.protocol = 'v2';
    this._helloWaiter.resolve('v2');
  }

  _onHeaders(f) {
    if (f.payload.length > this.local.maxHeaderBlock) return this._connectionError(ErrorCode.FRAME_SIZE_ERROR, 'header block above MaxHeaderBlock');
    const fields = decode.headers(f);
    if (!fields) return this._connectionError(ErrorCode.PROTOCOL_ERROR, 'malformed HEADERS');
    const end = (f.flags & END_STREAM) !== 0;
    const s = this._streams.get(f.streamId);
    if (!s) {
      // The device opening a stream towards us (we serve nothing) or a stream we already closed.
      if (f.streamId % 2 === 0 && f.streamId > this._lastPeerId) {
        this._lastPeerId = f.streamId;
        this._send(encode.reset(f.streamId, ErrorCode.REFUSED_STREAM));
      }
      return undefined;
    }
    if (s.remoteEnded) return this._resetStream(s, ErrorCode.STREAM_CLOSED, networkError('HEADERS after the end of the response'));
    if (!s.head) {
      const status = fields.find(([n]) => n === ':status')?.[1];
      const code = /^[0-9]{3}$/.test(status ?? '') ? Number(status) : NaN;
      if (!(code >= 100 && code <= 999)) return this._resetStream(s, ErrorCode.PROTOCOL_ERROR, networkError('response without a valid :status'));
      if (code < 200) return undefined; // interim responses are skipped, like fetch does
      s.head = { status: code, fields };
      if (end) s.remoteEnded = true;
      this._deliverHead(s);
    } else {
      if (!end || fields.some(([n]) => n.startsWith(':'))) return this._resetStream(s, ErrorCode.PROTOCOL_ERROR, networkError('malformed trailers'));
      s.remoteEnded = true;
      s.trailers = new Headers();
      for (const [n, val] of fields) s.trailers.append(n, val);
    }
    if (s.remoteEnded) this._endBody(s);
    this._maybeRetire(s);
    return undefined;
  }

  _onData(f) {
    if (f.streamId === 0) return this._connectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    const n = f.payload.length;
    if (n > this.local.maxFramePayload) return this._connectionError(ErrorCode.FRAME_SIZE_ERROR, 'DATA above MaxFramePayload');
    if (n > this._recvCredit) return this._connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'channel window exceeded');
    this._recvCredit -= n;
    const end = (f.flags & END_STREAM) !== 0;
    const s = this._streams.get(f.streamId);
    if (!s) {
      if (f.streamId % 2 === 1 && f.streamId >= this._nextId) return this._connectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on a stream never opened');
      this._returnChannelCredit(n); // late data for a stream we closed
      return undefined;
    }
    if (!s.head || s.remoteEnded) {
      this._returnChannelCredit(n);
      return this._resetStream(s, s.remoteEnded ? ErrorCode.STREAM_CLOSED : ErrorCode.PROTOCOL_ERROR, networkError('DATA out of place'));
    }
    if (n > s.recvCredit) {
      this._returnChannelCredit(n);
      return this._resetStream(s, ErrorCode.FLOW_CONTROL_ERROR, networkError('the device exceeded the stream window'));
    }
    s.recvCredit -= n;
    if (n > 0) {
      if (s.bodyCancelled) this._consume(s, n);
      else { s.chunks.push(f.payload); s.buffered += n; }
    }
    if (end) { s.remoteEnded = true; }
    this._wakePull(s);
    this._maybeRetire(s);
    return undefined;
  }

  _onWindowUpdate(f) {
    const inc = decode.windowUpdate(f);
    if (inc === null) return this._connectionError(ErrorCode.PROTOCOL_ERROR, 'malformed WINDOW_UPDATE');
    if (f.streamId === 0) {
      this._sendWindow += inc;
      if (this._sendWindow > 0x7fffffff) return this._connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'channel window above 2^31-1');
    } else {
      const s = this._streams.get(f.streamId);
      if (!s) return undefined;
      s.sendWindow += inc;
      if (s.sendWindow > 0x7fffffff) return this._resetStream(s, ErrorCode.FLOW_CONTROL_ERROR, networkError('stream window above 2^31-1'));
    }
    this._wakeCredit();
    return undefined;
  }

  _onReset(f) {
    const code = decode.reset(f);
    if (code === null) return this._connectionError(ErrorCode.PROTOCOL_ERROR, 'malformed RESET');
    const s = this._streams.get(f.streamId);
    if (!s) return undefined;
    if (code === ErrorCode.NO_ERROR && s.remoteEnded) {
      // The response is complete: the device only asks us to stop sending the request body.
      s.localEnded = true;
      s.stopBody?.();
      this._maybeRetire(s);
      return undefined;
    }
    this._remove(s);
    this._failStream(s, networkError(code === ErrorCode.REFUSED_STREAM ? 'the device refused the request (retryable)' : `the device reset the request (error ${code})`));
    return undefined;
  }

  _onPing(f) {
    const opaque = decode.ping(f);
    if (!opaque) return this._connectionError(ErrorCode.PROTOCOL_ERROR, 'malformed PING');
    if ((f.flags & ACK) === 0 && this._out.length < 1024) this._send(encode.ping(opaque, true));
    return undefined;
  }

  _onGoAway(f) {
    const g = decode.goAway(f);
    if (!g) return this._connectionError(ErrorCode.PROTOCOL_ERROR, 'malformed GOAWAY');
    this._peerGoAway = g;
    for (const s of [...this._streams.values()]) {
      if (s.id > g.lastStreamId) {
        this._remove(s);
        this._failStream(s, networkError(`the device is going away (${g.debug || 'GOAWAY'}); request not processed, retryable`));
      }
    }
    for (const w of this._slotWaiters.splice(0)) w.reject(networkError(`the device is going away (${g.debug || 'GOAWAY'})`));
    return undefined;
  }

  // ------------------------------------------------------------------ v2 fetch

  async _fetchV2(req) {
    const { url, method, headers, body, signal } = req;
    const fields = [[':method', method], [':path', url.pathname + url.search], [':authority', url.host]];
    for (const [n, val] of headers) if (!HOP_BY_HOP.has(n)) fields.push([n, val]);
    const hasBody = body !== null && !(body instanceof Uint8Array && body.length === 0);
    await this._waitForSlot(signal);
    if (this._closed) throw this._closed;
    if (this._peerGoAway || this._goAwaySent) throw networkError('the connection is going away: no new requests');
    const id = this._nextId;
    const headFrame = encode.headers(id, fields, !hasBody);
    if (headFrame.length - HEADER_SIZE > this._peer.maxHeaderBlock || headFrame.length > this.maxMessageSize) {
      throw networkError('request header block too large');
    }
    this._nextId += 2;
    const s = {
      id, url: url.href, head: null, headWaiter: deferred(), chunks: [], buffered: 0, pullWaiter: null,
      recvCredit: this.local.initialStreamWindow, unacked: 0, sendWindow: this._peer.initialStreamWindow,
      localEnded: !hasBody, remoteEnded: false, bodyCancelled: false, controller: null, trailers: null,
      error: null, stopBody: null, response: null, signal, onAbort: null,
    };
    this._streams.set(id, s);
    this._send(headFrame);
    if (signal) {
      s.onAbort = () => this._abort(s, abortReason(signal));
      signal.addEventListener('abort', s.onAbort, { once: true });
    }
    if (hasBody) this._pumpBody(s, body);
    const head = await s.headWaiter.promise;
    return this._makeResponse(s, head);
  }

  async _waitForSlot(signal) {
    while (!this._closed && !this._peerGoAway && this._localStreamCount() >= this._peer.maxConcurrentStreams) {
      const w = deferred();
      this._slotWaiters.push(w);
      const onAbort = () => w.reject(abortReason(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      try { await w.promise; } finally { signal?.removeEventListener('abort', onAbort); }
    }
  }

  _localStreamCount() { return this._streams.size; }

  _makeResponse(s, head) {
    const headers = new Headers();
    for (const [n, val] of head.fields) if (!n.startsWith(':') && !HOP_BY_HOP.has(n)) { try { headers.append(n, val); } catch { /* a value Headers refuses */ } }
    if (head.status < 200 || head.status > 599) {
      this._resetStream(s, ErrorCode.CANCEL, null);
      throw networkError(`status ${head.status} cannot be represented by a Response`);
    }
    let bodyStream = null;
    if (!NULL_BODY_STATUS.has(head.status)) {
      bodyStream = new ReadableStream({
        start: c => { s.controller = c; },
        pull: () => this._pull(s),
        cancel: () => {
          s.bodyCancelled = true;
          this._dropBuffered(s);
          if (this._streams.has(s.id)) this._resetStream(s, ErrorCode.CANCEL, null);
        },
      }, { highWaterMark: 0 });
    } else {
      this._dropBuffered(s);
    }
    const response = new Response(bodyStream, { status: head.status, headers });
    try { Object.defineProperty(response, 'url', { value: s.url }); } catch { /* read-only in some engines */ }
    s.response = response;
    if (s.trailers) this._trailers.set(response, s.trailers);
    if (!bodyStream) this._endBody(s);
    return response;
  }

  /** The application asked for more body: hand over one chunk and return its credit. */
  _pull(s) {
    if (s.bodyClosed) return undefined;
    if (s.chunks.length > 0) {
      const chunk = s.chunks.shift();
      s.buffered -= chunk.length;
      this._consume(s, chunk.length);
      s.controller.enqueue(chunk);
      return undefined;
    }
    if (s.error) { s.controller.error(s.error); return undefined; }
    if (s.remoteEnded) { this._closeBody(s); return undefined; }
    s.pullWaiter = deferred();
    return s.pullWaiter.promise.then(() => this._pull(s));
  }

  _wakePull(s) {
    if (s.pullWaiter) { const w = s.pullWaiter; s.pullWaiter = null; w.resolve(); }
  }

  _closeBody(s) {
    if (s.bodyClosed) return;
    s.bodyClosed = true;
    if (s.trailers && s.response) this._trailers.set(s.response, s.trailers);
    try { s.controller?.close(); } catch { /* already closed */ }
    this._detachSignal(s);
  }

  _endBody(s) {
    if (!s.controller) { if (s.response && s.head && NULL_BODY_STATUS.has(s.head.status)) this._detachSignal(s); return; }
    this._wakePull(s);
  }

  _deliverHead(s) {
    s.headWaiter.resolve(s.head);
  }

  /** Credit back for bytes the application took (stream at half its window, channel at a quarter). */
  _consume(s, n) {
    this._returnChannelCredit(n);
    if (!this._streams.has(s.id) || s.remoteEnded) return;
    s.unacked += n;
    if (s.unacked >= this.local.initialStreamWindow / 2) {
      this._send(encode.windowUpdate(s.id, s.unacked));
      s.recvCredit += s.unacked;
      s.unacked = 0;
    }
  }

  _returnChannelCredit(n) {
    this._unacked += n;
    if (this._unacked >= this.local.initialChannelWindow / 4 && !this._closed) {
      this._send(encode.windowUpdate(0, this._unacked));
      this._recvCredit += this._unacked;
      this._unacked = 0;
    }
  }

  _dropBuffered(s) {
    const n = s.buffered;
    s.chunks.length = 0;
    s.buffered = 0;
    if (n > 0) this._returnChannelCredit(n);
  }

  /** Streams the request body under credit; END_STREAM on an empty DATA frame at the end. */
  async _pumpBody(s, body) {
    const maxPayload = Math.max(1, Math.min(this._peer.maxFramePayload, this.maxMessageSize - HEADER_SIZE));
    let reader = null;
    let stopped = false;
    s.stopBody = () => { stopped = true; reader?.cancel().catch(() => {}); this._wakeCredit(); };
    try {
      const chunks = body instanceof Uint8Array ? [body] : null;
      if (!chunks) reader = body.getReader();
      for (let i = 0; ; i++) {
        let chunk;
        if (chunks) { if (i > 0) break; chunk = chunks[0]; } else {
          const r = await reader.read();
          if (r.done) break;
          chunk = r.value instanceof Uint8Array ? r.value : toBytes(r.value);
        }
        let o = 0;
        while (o < chunk.length) {
          if (stopped || !this._streams.has(s.id)) return;
          const credit = Math.min(s.sendWindow, this._sendWindow);
          if (credit <= 0 || this._out.length > 64) { await this._waitCredit(); continue; }
          const n = Math.min(credit, maxPayload, chunk.length - o);
          this._send(encode.data(s.id, chunk.subarray(o, o + n), false));
          s.sendWindow -= n; this._sendWindow -= n; o += n;
        }
      }
      if (stopped || !this._streams.has(s.id)) return;
      this._send(encode.data(s.id, new Uint8Array(0), true));
      s.localEnded = true;
      this._maybeRetire(s);
    } catch (e) {
      // The body source failed: the request cannot complete.
      if (this._streams.has(s.id)) this._resetStream(s, ErrorCode.CANCEL, networkError('reading the request body failed', e));
    }
  }

  _waitCredit() {
    const w = deferred();
    this._creditWaiters.push(w);
    return w.promise;
  }

  _wakeCredit() {
    for (const w of this._creditWaiters.splice(0)) w.resolve();
  }

  _abort(s, reason) {
    if (this._streams.has(s.id)) this._resetStream(s, ErrorCode.CANCEL, reason);
    else this._failStream(s, reason);
  }

  /** Sends RESET and fails the exchange locally with `error` (null: the application cancelled it itself). */
  _resetStream(s, code, error) {
    if (this._streams.has(s.id)) {
      this._send(encode.reset(s.id, code));
      this._remove(s);
    }
    if (error) this._failStream(s, error);
    else { this._dropBuffered(s); this._detachSignal(s); s.stopBody?.(); }
  }

  _failStream(s, error) {
    s.error ??= error;
    s.stopBody?.();
    this._dropBuffered(s);
    s.headWaiter.reject(error);
    if (s.controller && !s.bodyClosed) {
      s.bodyClosed = true;
      try { s.controller.error(error); } catch { /* already closed */ }
    }
    this._wakePull(s);
    this._detachSignal(s);
  }

  _detachSignal(s) {
    if (s.signal && s.onAbort) { s.signal.removeEventListener('abort', s.onAbort); s.onAbort = null; }
  }

  _maybeRetire(s) {
    if (s.localEnded && s.remoteEnded) this._remove(s);
  }

  _remove(s) {
    if (!this._streams.delete(s.id)) return;
    const w = this._slotWaiters.shift();
    w?.resolve();
    this._wakeCredit();
  }

  _connectionError(code, reason) {
    if (this._closed) return;
    if (this.protocol === 'v2') this._send(encode.goAway(this._lastPeerId, code, reason));
    if (this._helloWaiter) this._helloWaiter.reject(networkError(reason));
    this._fail(networkError('protocol error: ' + reason));
  }

  /** The client is unusable: every pending request fails with `error`. */
  _fail(error) {
    if (this._closed) return;
    this._closed = error;
    this.channel.removeEventListener('message', this._onMessage);
    this.channel.removeEventListener('close', this._onClose);
    this.channel.removeEventListener('bufferedamountlow', this._onLow);
    for (const s of [...this._streams.values()]) { this._streams.delete(s.id); this._failStream(s, error); }
    for (const w of this._slotWaiters.splice(0)) w.reject(error);
    this._helloWaiter?.reject(error);
    this._wakeCredit();
    if (this._inboxWaiter) { const w = this._inboxWaiter; this._inboxWaiter = null; w.reject(error); }
    for (const w of this._drainWaiters.splice(0)) w.resolve();
  }

  // ------------------------------------------------------------------ send (back-pressure: bufferedAmount)

  _send(bytes) {
    if (this.channel.readyState !== 'open') return;
    if (bytes.length > this.maxMessageSize) throw networkError(`message of ${bytes.length} bytes above max-message-size ${this.maxMessageSize}`);
    this._out.push(bytes);
    this._flush();
  }

  _flush() {
    const high = 1 << 20;
    while (this._out.length > 0 && this.channel.readyState === 'open' && this.channel.bufferedAmount < high) {
      const m = this._out.shift();
      try { this.channel.send(m); } catch (e) { this._fail(networkError('send failed', e)); return; }
    }
    if (this._out.length <= 64) this._wakeCredit();
  }

  // ------------------------------------------------------------------ v1

  _fetchV1(req) {
    const run = this._v1Chain.then(() => this._fetchV1Now(req));
    this._v1Chain = run.then(() => {}, () => {});
    return run;
  }

  async _fetchV1Now(req) {
    const { url, method, headers, signal } = req;
    if (this._closed) throw this._closed;
    if (signal?.aborted) throw abortReason(signal);
    const message = { url: url.href, method };
    if (req.body !== null) {
      const type = headers.get('content-type') ?? '';
      const textual = req.text || type.startsWith('text/') || type.includes('json');
      if (!textual) throw new TypeError('PeerFetch: a v1 device accepts only text or JSON request bodies');
      const bytes = req.body instanceof Uint8Array ? req.body : new Uint8Array(await new Response(req.body).arrayBuffer());
      const s = new TextDecoder().decode(bytes);
      if (type.includes('json')) {
        try { message.json = JSON.parse(s); } catch (e) { throw new TypeError('PeerFetch: the JSON request body does not parse', { cause: e }); }
      } else message.data = s;
    }
    let timer = null, onAbort = null;
    const stop = new Promise((_, reject) => {
      timer = setTimeout(() => reject(networkError(`v1 request got no answer within ${this.options.v1Timeout} ms`)), this.options.v1Timeout);
      if (signal) { onAbort = () => reject(abortReason(signal)); signal.addEventListener('abort', onAbort, { once: true }); }
    });
    stop.catch(() => {});
    let clean = false;
    try {
      const work = (async () => {
        if (!this._v1Synced) await this._v1Sync();
        this._v1Synced = false;
        this._send(JSON.stringify(message));
        let header;
        for (;;) {
          const m = await this._v1Next();
          header = parseV1Header(m);
          if (header === null) continue; // "incompatible protocol": ignored, as the original client does
          if (header.status !== 202) break;
        }
        let content = new Uint8Array(0);
        if (header.status !== 204) {
          const m = await this._v1Next();
          content = typeof m === 'string' ? new TextEncoder().encode(m) : m;
        }
        return { header, content };
      })();
      work.catch(() => {});
      const { header, content } = await Promise.race([work, stop]);
      clean = true;
      const h = new Headers();
      const type = header['content-type'];
      if (typeof type === 'string' && type !== 'None') h.set('content-type', type);
      h.set('content-length', String(content.length));
      if (header.status < 200 || header.status > 599) throw networkError(`v1 status ${header.status} cannot be represented by a Response`);
      const response = new Response(NULL_BODY_STATUS.has(header.status) ? null : content, { status: header.status, headers: h });
      try { Object.defineProperty(response, 'url', { value: url.href }); } catch { /* ignore */ }
      return response;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
      this._v1Synced = clean;
      if (!clean) { this._inboxWaiter?.reject(networkError('request abandoned')); this._inboxWaiter = null; }
    }
  }

  /** Sends `ping` and drops every message up to the `pong` body: stale answers are gone after it. */
  async _v1Sync() {
    this._send(JSON.stringify({ url: 'ping?', method: 'GET' }));
    for (let i = 0; i < 1024; i++) {
      const m = await this._v1Next();
      const text = typeof m === 'string' ? m : new TextDecoder().decode(m);
      if (text === 'pong') { this._v1Synced = true; return; }
    }
    throw networkError('the v1 device never answered ping with pong');
  }

  _v1Next() {
    if (this._inbox.length > 0) return Promise.resolve(this._inbox.shift());
    if (this._closed) return Promise.reject(this._closed);
    this._inboxWaiter = deferred();
    return this._inboxWaiter.promise.then(() => this._inbox.shift());
  }
}

function parseV1Header(m) {
  try {
    const o = JSON.parse(typeof m === 'string' ? m : new TextDecoder().decode(m));
    return o !== null && typeof o === 'object' && Number.isInteger(o.status) ? o : null;
  } catch {
    return null;
  }
}

/**
 * Returns a function with the signature of the global fetch that sends every request over `channel`:
 * `const fetch = createFetch(channel, { maxMessageSize: pc.sctp.maxMessageSize })`.
 */
export function createFetch(channel, options) {
  const client = new PeerFetchClient(channel, options);
  const f = (input, init) => client.fetch(input, init);
  f.client = client;
  return f;
}
