// Types of peerfetch.js — the PeerFetch browser client (docs/peerfetch.md "Browser client").

/** Options of a {@link PeerFetchClient}. */
export interface PeerFetchClientOptions {
  /** Base for relative request URLs; its host is the device-side origin name (`:authority`). Default `http://localhost/`. */
  baseUrl?: string | URL;
  /**
   * Largest message the client sends: the peer's SDP max-message-size, e.g. `pc.sctp.maxMessageSize`
   * (Chromium ↔ OspBridge: 262144). Default 65536 (RFC 8841's value when unknown).
   */
  maxMessageSize?: number;
  /** How long to wait for the device's v2 HELLO before assuming a v1-only device, ms. Default 3000. */
  negotiationTimeout?: number;
  /** Fall back to v1 semantics against a v1-only device (default true; always false on a `peerfetch/2` channel). */
  allowV1?: boolean;
  /** v1: per-request timeout, ms (queue time not included). Default 60000. */
  v1Timeout?: number;
  /** v2: receive window per request, bytes (announced in HELLO). Default 1 MiB. */
  streamWindow?: number;
  /** v2: receive window for the whole channel, bytes (announced in HELLO). Default 8 MiB. */
  channelWindow?: number;
}

/** The device's GOAWAY. */
export interface PeerFetchGoAway {
  lastStreamId: number;
  code: number;
  debug: string;
}

/**
 * A PeerFetch client over one reliable, ordered RTCDataChannel (label `http-proxy` by convention). The client owns the
 * channel's messages (it sets `binaryType = 'arraybuffer'` and listens for `message`, `close`, `bufferedamountlow`).
 */
export class PeerFetchClient {
  constructor(channel: RTCDataChannel, options?: PeerFetchClientOptions);
  readonly channel: RTCDataChannel;
  /** `'v2'`, `'v1'`, or `null` before the first request (or {@link connect}) negotiated it. */
  readonly protocol: 'v2' | 'v1' | null;
  readonly maxMessageSize: number;
  /** The device's GOAWAY once one arrived (no new requests are possible), else null. */
  readonly peerGoAway: PeerFetchGoAway | null;
  /** Sends HELLO and waits for the answer; the first fetch does this implicitly. */
  connect(): Promise<'v2' | 'v1'>;
  /**
   * Same contract as the global `fetch`: resolves with a `Response` when the response head arrives (the body is a
   * `ReadableStream` fed chunk by chunk under v2 credit flow control), rejects with a `TypeError` on network/protocol
   * failure and with `signal.reason` (an `AbortError` DOMException by default) when aborted. Aborting or cancelling the
   * body resets the request on the device, which aborts its origin request.
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** v2 trailers of `response`, available once its body was read to the end; null when none were sent. */
  trailers(response: Response): Headers | null;
  /** v2: send GOAWAY — the device finishes running requests and accepts no new ones from us. */
  goAway(debug?: string): void;
  /** Fails every pending request with a TypeError and detaches from the channel (the channel stays open). */
  close(): void;
}

/** `const fetch = createFetch(channel, options)`: a drop-in `fetch` bound to a new {@link PeerFetchClient} (`fetch.client`). */
export function createFetch(
  channel: RTCDataChannel,
  options?: PeerFetchClientOptions,
): ((input: string | URL | Request, init?: RequestInit) => Promise<Response>) & { client: PeerFetchClient };

// ---- the v2 wire, exported for tests and tools -------------------------------------------------------------------

export const FrameType: Readonly<{ DATA: 0; HEADERS: 1; RESET: 3; HELLO: 4; PING: 6; GOAWAY: 7; WINDOW_UPDATE: 8 }>;
export const ErrorCode: Readonly<{
  NO_ERROR: 0; PROTOCOL_ERROR: 1; INTERNAL_ERROR: 2; FLOW_CONTROL_ERROR: 3; STREAM_CLOSED: 5;
  FRAME_SIZE_ERROR: 6; REFUSED_STREAM: 7; CANCEL: 8; ENHANCE_YOUR_CALM: 11;
}>;

export interface PeerFetchSettings {
  initialStreamWindow: number;
  initialChannelWindow: number;
  maxFramePayload: number;
  maxConcurrentStreams: number;
  maxHeaderBlock: number;
}
export const DEFAULT_SETTINGS: Readonly<PeerFetchSettings>;

/** One frame inside a channel message; `payload` is a view of the message. */
export interface PeerFetchFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
}

/** Header fields as `[name, value]` pairs, pseudo-fields first. */
export type HeaderFields = Array<[string, string]>;

export const encode: Readonly<{
  hello(initiator: boolean, settings?: PeerFetchSettings): Uint8Array;
  headers(streamId: number, fields: HeaderFields, endStream: boolean): Uint8Array;
  data(streamId: number, chunk: Uint8Array, endStream: boolean): Uint8Array;
  reset(streamId: number, code: number): Uint8Array;
  ping(opaque8: Uint8Array, ack: boolean): Uint8Array;
  goAway(lastStreamId: number, code: number, debug?: string): Uint8Array;
  windowUpdate(streamId: number, increment: number): Uint8Array;
}>;

/** Splits a message into whole frames; null when one is truncated. */
export function splitFrames(message: Uint8Array): PeerFetchFrame[] | null;

/** Parsers: null on anything malformed. */
export const decode: Readonly<{
  hello(f: PeerFetchFrame): { version: number; initiator: boolean; settings: PeerFetchSettings } | null;
  headers(f: PeerFetchFrame): HeaderFields | null;
  reset(f: PeerFetchFrame): number | null;
  ping(f: PeerFetchFrame): Uint8Array | null;
  goAway(f: PeerFetchFrame): PeerFetchGoAway | null;
  windowUpdate(f: PeerFetchFrame): number | null;
}>;
