// The doorbell story, run by `ospbridge demo --headless` in Chromium (fake camera + microphone). Same modules as the
// web UI (webrtc.js: WHEP/WHIP); every observation goes to POST /api/demo/report, which the demo prints.
import { startWhep, startWhip, receiveStats, sendStats, formatStats } from '/webrtc.js';
import { $, api } from '/page.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function report(step, ok, text, data) {
  const li = document.createElement('li');
  li.textContent = `${ok ? 'ok' : 'FAIL'} ${step}: ${text}`;
  $('log').append(li);
  $('status').textContent = step;
  try { await api('POST', '/api/demo/report', { step, ok, text, data: data ?? null }); } catch { /* the demo times out */ }
}

async function until(what, ms, probe) {
  const end = performance.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (performance.now() > end) throw new Error(what + ' timed out');
    await sleep(250);
  }
}

async function pair(cfg) {
  const id = encodeURIComponent(cfg.deviceId);
  await until('the device in /api/devices', 30000, async () => {
    const r = await api('GET', '/api/devices');
    return r.status === 200 && r.data.some((d) => d.id === cfg.deviceId && d.online);
  });
  const start = await api('POST', `/api/devices/${id}/pair`, {});
  if (start.status === 200) return 'already trusted';
  if (start.status !== 202) throw new Error(`POST pair {} → ${start.status} ${start.data?.error ?? ''}`);
  // A person reads the PIN off the doorbell; here the demo relays what the doorbell printed.
  const pin = await until('the PIN', 30000, async () => {
    const r = await api('GET', '/api/demo/pin');
    return r.status === 200 ? r.data.pin : null;
  });
  const done = await api('POST', `/api/devices/${id}/pair`, { pin });
  if (done.status !== 200) throw new Error(`POST pair {pin} → ${done.status} ${done.data?.error ?? ''}`);
  return `paired with PIN ${pin}`;
}

async function watch(cfg) {
  const t0 = performance.now();
  const session = await startWhep(`/whep/${encodeURIComponent(cfg.deviceId)}`, $('video'));
  try {
    let s;
    await until(`${cfg.frames} decoded frames`, 60000, async () => {
      s = await receiveStats(session.pc);
      $('stats').textContent = formatStats(s);
      return s.framesDecoded >= cfg.frames;
    });
    const secs = (performance.now() - t0) / 1000;
    return { text: `${s.framesDecoded} frames decoded, ${s.width}×${s.height}, ${Math.round(s.fps)} fps, ${s.audioPackets} audio packets (${secs.toFixed(1)} s after POST /whep)`, data: s, session };
  } catch (err) {
    await session.close();
    throw err;
  }
}

async function rest(cfg) {
  const res = await fetch(`/devices/${encodeURIComponent(cfg.deviceId)}/http/api/status`, { credentials: 'same-origin' });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET /api/status → ${res.status} ${body.slice(0, 200)}`);
  const json = JSON.parse(body);
  return { text: `GET /api/status → ${res.status} ${res.headers.get('content-type')} ${JSON.stringify(json)}`, data: json };
}

async function talk(cfg) {
  const mic = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  const session = await startWhip(`/whip/${encodeURIComponent(cfg.deviceId)}`, mic.getAudioTracks()[0]);
  try {
    await until('the talk-back connection', 20000, async () => session.pc.connectionState === 'connected');
    await sleep(cfg.talkSeconds * 1000);
    const s = await sendStats(session.pc);
    if (!s.packetsSent) throw new Error('no audio packets sent');
    return { text: `${cfg.talkSeconds} s of microphone sent: ${s.packetsSent} audio packets, ${s.bytesSent} bytes`, data: s };
  } finally {
    await session.close(); // the device ends the talk-back session and prints what it received
    mic.getTracks().forEach((t) => t.stop());
  }
}

async function step(name, fn) {
  try {
    const r = await fn();
    const text = typeof r === 'string' ? r : r.text;
    await report(name, true, text, typeof r === 'string' ? null : r.data);
    return r;
  } catch (err) {
    await report(name, false, String(err?.message ?? err));
    return null;
  }
}

async function main() {
  const m = location.hash.match(/token=([A-Za-z0-9\-_.~]+)/);
  if (m) {
    history.replaceState(null, '', location.pathname);
    const r = await api('POST', '/api/login', { token: m[1] });
    if (r.status !== 200) { $('status').textContent = 'login failed'; return; }
  }
  const c = await api('GET', '/api/demo');
  if (c.status !== 200) { $('status').textContent = 'not a demo bridge (run `ospbridge demo --headless`)'; return; }
  const cfg = c.data;
  if (await step('pair', () => pair(cfg))) {
    const video = await step('video', () => watch(cfg));
    await step('rest', () => rest(cfg));
    await step('talk', () => talk(cfg));
    if (video?.session) await video.session.close();
  }
  await report('done', true, 'story finished');
}

main().catch((err) => report('done', false, 'page error: ' + (err?.message ?? err)));
