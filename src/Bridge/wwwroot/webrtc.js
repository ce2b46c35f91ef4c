// WHEP (draft-ietf-wish-whep) and WHIP (RFC 9725) in the page, against the bridge's /whep/{id} and /whip/{id}.
// Non-trickle: the offer is POSTed once ICE gathering is complete (or after 2 s), which every WHEP/WHIP server
// accepts; the bridge signals it to the device over LAN signaling and answers with the device's SDP. The session
// resource (Location) is DELETEd on close; `session.restartIce()` restarts ICE with a PATCH (RFC 9725 §4.3.2). Credentials: the UI's same-origin session cookie, or a bearer token.

/** An HTTP failure of a WHEP/WHIP request; `status` is the HTTP status (0: network), `retryAfter` in seconds. */
export class SessionError extends Error {
  constructor(message, status, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); pc.removeEventListener('icegatheringstatechange', check); resolve(); };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

async function errorText(res) {
  try {
    const t = await res.text();
    try { return JSON.parse(t).error ?? t; } catch { return t; }
  } catch { return ''; }
}

/**
 * The ICE servers the bridge hands out for the device of `url` (`/whep/{id}` or `/whip/{id}`): its TURN relay when the
 * browser and the device are on different subnets (docs/bridge.md, "Relay"), else none. Errors mean none.
 */
export async function iceServersFor(url, token) {
  const base = new URL(url, document.baseURI);
  const m = /\/wh[ei]p\/([^/?#]+)$/.exec(base.pathname);
  if (!m) return [];
  const headers = {};
  if (token) headers.Authorization = 'Bearer ' + token;
  try {
    const res = await fetch(new URL('/api/relay/ice-servers/' + m[1], base), { headers, credentials: 'same-origin' });
    if (!res.ok) return [];
    return (await res.json()).iceServers ?? [];
  } catch {
    return [];
  }
}

/**
 * Offers `pc`'s local description to `url` (POST application/sdp), applies the answer.
 * Returns the session URL (absolute) to DELETE on close.
 */
async function exchange(pc, url, token, signal) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 2000);
  const headers = { 'Content-Type': 'application/sdp' };
  if (token) headers.Authorization = 'Bearer ' + token;
  let res;
  try {
    res = await fetch(url, { method: 'POST', headers, body: pc.localDescription.sdp, credentials: 'same-origin', signal });
  } catch (err) {
    throw new SessionError('network error: ' + err.message, 0);
  }
  if (res.status !== 201) {
    const retry = Number(res.headers.get('retry-after'));
    throw new SessionError(`${res.status} ${await errorText(res)}`.trim(), res.status, Number.isFinite(retry) && retry > 0 ? retry : undefined);
  }
  const answer = await res.text();
  const location = res.headers.get('location');
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  return { location: location ? new URL(location, new URL(url, document.baseURI)).href : null, etag: res.headers.get('etag') };
}

/** SDP lines of `sdp` (CRLF or LF). */
function lines(sdp) { return sdp.split(/\r?\n/).filter((l) => l.length > 0); }

/**
 * The ICE-restart fragment (RFC 8840 application/trickle-ice-sdpfrag) of a local offer: its new ice-ufrag/ice-pwd,
 * then per media section its m= line, a=mid and the candidates gathered so far, a=end-of-candidates.
 */
export function restartFragment(offerSdp) {
  const out = [];
  let ufrag = null, pwd = null, section = null;
  const sections = [];
  for (const l of lines(offerSdp)) {
    if (l.startsWith('m=')) { section = { m: l, mid: null, candidates: [] }; sections.push(section); continue; }
    if (l.startsWith('a=ice-ufrag:') && !ufrag) ufrag = l;
    else if (l.startsWith('a=ice-pwd:') && !pwd) pwd = l;
    else if (section && l.startsWith('a=mid:')) section.mid = l;
    else if (section && l.startsWith('a=candidate:')) section.candidates.push(l);
  }
  if (!ufrag || !pwd) throw new Error('the restart offer has no ICE credentials');
  out.push(ufrag, pwd);
  // BUNDLE: one transport, so the candidates of the first section stand for all (Chromium lists them there).
  const first = sections[0];
  if (first) {
    out.push(first.m);
    if (first.mid) out.push(first.mid);
    out.push(...first.candidates.slice(0, 60), 'a=end-of-candidates');
  }
  return out.join('\r\n') + '\r\n';
}

/**
 * The answer `remoteSdp` with the ICE credentials and candidates of `fragment` (the 200 of an ICE-restart PATCH):
 * every media section gets the new a=ice-ufrag/a=ice-pwd, the old candidates go, the new ones (and
 * a=end-of-candidates) are put in the section whose a=mid they name (the first one when none is named).
 */
export function applyRestartFragment(remoteSdp, fragment) {
  let ufrag = null, pwd = null, mid = null;
  const byMid = new Map();
  for (const l of lines(fragment)) {
    if (l.startsWith('a=ice-ufrag:')) ufrag = l;
    else if (l.startsWith('a=ice-pwd:')) pwd = l;
    else if (l.startsWith('m=')) mid = null;
    else if (l.startsWith('a=mid:')) mid = l.slice(6);
    else if (l.startsWith('a=candidate:') || l === 'a=end-of-candidates') {
      const key = mid ?? '';
      if (!byMid.has(key)) byMid.set(key, []);
      byMid.get(key).push(l);
    }
  }
  if (!ufrag || !pwd) throw new Error('the ICE restart answer has no ICE credentials');
  const sections = [[]];
  for (const l of lines(remoteSdp)) {
    if (l.startsWith('m=')) sections.push([]);
    sections[sections.length - 1].push(l);
  }
  const out = [...sections[0].filter((l) => !l.startsWith('a=ice-ufrag:') && !l.startsWith('a=ice-pwd:'))];
  sections.slice(1).forEach((sec, i) => {
    const secMid = (sec.find((l) => l.startsWith('a=mid:')) ?? '').slice(6);
    const kept = sec.filter((l) => !l.startsWith('a=ice-ufrag:') && !l.startsWith('a=ice-pwd:')
      && !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates');
    out.push(kept[0], ufrag, pwd, ...kept.slice(1));
    const mine = [...(byMid.get(secMid) ?? []), ...(i === 0 ? byMid.get('') ?? [] : [])];
    out.push(...mine);
  });
  return out.join('\r\n') + '\r\n';
}

class Session {
  constructor(pc, { location, etag }, token) {
    this.pc = pc;
    this.location = location;
    this.etag = etag;
    this.token = token;
    this.closed = false;
    this.iceRestarts = 0;
    this.restarting = null;
  }

  /**
   * ICE restart (RFC 9725 §4.3.2, the bridge's PATCH): `pc.restartIce()`, a new offer with new ICE credentials, its
   * credentials and candidates PATCHed to the session as application/trickle-ice-sdpfrag with `If-Match: <ETag>`
   * (`*` when the bridge gave none); the 200's fragment (the device's new credentials and candidates) is applied as the
   * answer and its ETag kept. DTLS, SRTP and the media keep going on the old path until a new pair is selected.
   * Concurrent calls share one restart. Throws a SessionError when the bridge refuses (e.g. 404: the session ended).
   */
  restartIce() {
    if (this.closed) return Promise.reject(new SessionError('the session is closed', 0));
    if (!this.location) return Promise.reject(new SessionError('the server gave no session URL: no ICE restart', 0));
    if (!this.restarting) this.restarting = this.#restart().finally(() => { this.restarting = null; });
    return this.restarting;
  }

  async #restart() {
    const pc = this.pc;
    pc.restartIce();
    await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
    await gathered(pc, 2000);
    const headers = { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': this.etag ?? '*' };
    if (this.token) headers.Authorization = 'Bearer ' + this.token;
    let res;
    try {
      res = await fetch(this.location, { method: 'PATCH', headers, body: restartFragment(pc.localDescription.sdp), credentials: 'same-origin' });
    } catch (err) {
      await this.#rollback();
      throw new SessionError('network error: ' + err.message, 0);
    }
    if (res.status !== 200) {
      await this.#rollback();
      throw new SessionError(`ICE restart: ${res.status} ${await errorText(res)}`.trim(), res.status);
    }
    const fragment = await res.text();
    this.etag = res.headers.get('etag') ?? this.etag;
    if (this.closed) return;
    await pc.setRemoteDescription({ type: 'answer', sdp: applyRestartFragment(pc.remoteDescription.sdp, fragment) });
    this.iceRestarts++;
  }

  async #rollback() {
    if (this.closed || this.pc.signalingState !== 'have-local-offer') return;
    try { await this.pc.setLocalDescription({ type: 'rollback' }); } catch { /* closed meanwhile */ }
  }

  /** Closes the peer connection and DELETEs the session resource (errors ignored: the bridge reaps it anyway). */
  async close() {
    if (this.closed) return;
    this.closed = true;
    this.pc.close();
    if (this.location) {
      const headers = {};
      if (this.token) headers.Authorization = 'Bearer ' + this.token;
      try { await fetch(this.location, { method: 'DELETE', headers, credentials: 'same-origin', keepalive: true }); } catch { /* gone */ }
    }
  }
}

/**
 * Plays the device's camera: recvonly video + audio. `video` is an HTMLVideoElement (its srcObject is set when
 * tracks arrive). Returns a Session with `pc` and `close()`.
 */
export async function startWhep(url, video, { token, signal } = {}) {
  const pc = new RTCPeerConnection({ iceServers: await iceServersFor(url, token) });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const stream = new MediaStream();
  pc.addEventListener('track', (e) => {
    stream.addTrack(e.track);
    if (video && video.srcObject !== stream) video.srcObject = stream;
  });
  try {
    return new Session(pc, await exchange(pc, url, token, signal), token);
  } catch (err) {
    pc.close();
    throw err;
  }
}

/**
 * Publishes `track` (the microphone) to the device: sendonly audio (talk-back). Returns a Session.
 */
export async function startWhip(url, track, { token, signal } = {}) {
  const pc = new RTCPeerConnection({ iceServers: await iceServersFor(url, token) });
  pc.addTransceiver(track, { direction: 'sendonly' });
  try {
    return new Session(pc, await exchange(pc, url, token, signal), token);
  } catch (err) {
    pc.close();
    throw err;
  }
}

/** Inbound video numbers of `pc`: {width, height, fps, framesDecoded, audioPackets} (zeros before the first frame). */
export async function receiveStats(pc) {
  const out = { width: 0, height: 0, fps: 0, framesDecoded: 0, audioPackets: 0, bytes: 0 };
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    const kind = s.kind ?? s.mediaType;
    if (kind === 'video') {
      out.width = s.frameWidth ?? 0;
      out.height = s.frameHeight ?? 0;
      out.fps = s.framesPerSecond ?? 0;
      out.framesDecoded = s.framesDecoded ?? 0;
      out.bytes += s.bytesReceived ?? 0;
    } else if (kind === 'audio') {
      out.audioPackets = s.packetsReceived ?? 0;
      out.bytes += s.bytesReceived ?? 0;
    }
  });
  return out;
}

/** Outbound audio numbers of `pc`: {packetsSent, bytesSent}. */
export async function sendStats(pc) {
  const out = { packetsSent: 0, bytesSent: 0 };
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === 'outbound-rtp' && (s.kind ?? s.mediaType) === 'audio') {
      out.packetsSent += s.packetsSent ?? 0;
      out.bytesSent += s.bytesSent ?? 0;
    }
  });
  return out;
}

/** "640×480 · 30 fps · 1234 frames decoded" */
export function formatStats(s) {
  if (!s.framesDecoded) return 'waiting for the first frame…';
  return `${s.width}×${s.height} · ${Math.round(s.fps)} fps · ${s.framesDecoded} frames decoded`;
}
