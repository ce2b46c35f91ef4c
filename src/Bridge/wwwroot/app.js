// OspBridge web UI: no framework, no build step. Same origin as the API and the signaling (Chromium Local
// Network Access: a page from another origin may not reach a LAN/loopback address).
import { startWhep, startWhip, receiveStats, sendStats, formatStats } from './webrtc.js';
import { $, api } from './page.js';

const state = {
  devices: new Map(), current: null, events: null, grants: new Map(), withheld: new Set(), self: null,
  // live camera (WHEP) and talk-back (WHIP) of the device page
  camera: null, cameraWanted: true, cameraTimer: null, retryTimer: null, restartTimer: null, iceRetryTimer: null, starting: false,
  talk: null, mic: null, talkStarting: null, talkTimer: null,
};

function show(id, on) { $(id).hidden = !on; }
function setStatus(text) { $('status').textContent = text; }

async function login(token) {
  const r = await api('POST', '/api/login', { token });
  if (r.status !== 200) { $('login-error').textContent = 'Wrong token.'; return false; }
  return true;
}

async function start() {
  const m = location.hash.match(/token=([A-Za-z0-9\-_.~]+)/);
  if (m) {
    history.replaceState(null, '', location.pathname); // the token leaves the address bar
    await login(m[1]);
  }
  const r = await api('GET', '/api/devices');
  if (r.status === 401) { setStatus('not logged in'); show('login', true); return; }
  show('login', false);
  for (const d of r.data) state.devices.set(d.id, d);
  renderDevices();
  listen();
  loadAccess();
  window.addEventListener('hashchange', route);
  route();
}

function listen() {
  const es = new EventSource('/api/devices/events');
  state.events = es;
  es.addEventListener('open', () => setStatus('live'));
  es.addEventListener('error', () => setStatus('reconnecting…'));
  // this browser's token was revoked (here or from another browser): the stream ends; back to the login form
  es.addEventListener('revoked', () => { es.close(); location.reload(); });
  es.addEventListener('devices', (e) => {
    state.devices.clear();
    for (const d of JSON.parse(e.data)) state.devices.set(d.id, d);
    renderDevices(); renderDevice();
  });
  es.addEventListener('device', (e) => {
    const d = JSON.parse(e.data);
    const before = state.devices.get(d.id);
    state.devices.set(d.id, d);
    if (!before || before.paired !== d.paired) loadGrants();
    renderDevices(); renderDevice();
  });
}

function badge(on, text) {
  const b = document.createElement('span');
  b.className = 'badge ' + (on ? 'on' : 'off');
  b.textContent = text;
  return b;
}

function deviceLink(d) {
  const name = document.createElement('a');
  name.href = '#/device/' + encodeURIComponent(d.id);
  name.textContent = d.name;
  name.className = 'device-name';
  return name;
}

function renderDevices() {
  const ul = $('devices');
  ul.replaceChildren();
  const peers = $('peers');
  peers.replaceChildren();
  for (const d of state.devices.values()) {
    const li = document.createElement('li');
    li.dataset.id = d.id;
    const badges = document.createElement('span');
    badges.className = 'badges';
    badges.append(badge(d.online, d.online ? 'online' : 'offline'), ' ', badge(d.paired, d.paired ? 'paired' : 'not paired'));
    li.append(deviceLink(d), badges);
    ul.append(li);
    if (d.paired) {
      const p = document.createElement('li');
      p.dataset.id = d.id;
      const fp = document.createElement('span');
      fp.className = 'muted fp';
      fp.textContent = d.fp;
      const revoke = document.createElement('button');
      revoke.textContent = 'Revoke';
      revoke.className = 'danger revoke';
      revoke.addEventListener('click', () => unpair(d));
      const grants = document.createElement('ul');
      grants.className = 'grants';
      for (const g of state.grants.get(d.id) ?? []) grants.append(grantItem(d, g));
      if (state.withheld.has(d.id)) grants.append(allowItem(d));
      p.append(deviceLink(d), fp, revoke, grants);
      peers.append(p);
    }
  }
  show('no-devices', state.devices.size === 0);
  show('no-peers', peers.childElementCount === 0);
}

async function unpair(d) {
  if (!confirm(`Revoke the pairing with ${d.name}? It must pair again with a new PIN.`)) return;
  const r = await api('DELETE', `/api/devices/${encodeURIComponent(d.id)}/pair`);
  if (r.status === 200) { d.paired = false; renderDevices(); renderDevice(); }
}

function route() {
  const m = location.hash.match(/^#\/device\/(.+)$/);
  state.current = m ? decodeURIComponent(m[1]) : null;
  show('devices-section', !state.current);
  show('peers-section', !state.current);
  show('tokens-section', !state.current);
  stopCamera();
  stopTalk();
  state.cameraWanted = true;
  $('camera-msg').textContent = '';
  show('device', !!state.current);
  $('pair-msg').textContent = '';
  show('pair-form', false);
  renderDevice();
}

function renderDevice() {
  const d = state.current && state.devices.get(state.current);
  if (!d) {
    if (state.current) $('device-title').textContent = 'Unknown device';
    show('camera', false); show('talk', false); show('explorer', false); show('unpair', false); show('pair-start', false);
    return;
  }
  $('device-title').textContent = d.name;
  $('device-id').textContent = d.id + ' · ' + d.fp;
  $('device-state').textContent = (d.online ? 'online' : 'offline') + ', ' + (d.paired ? 'paired' : 'not paired')
    + (d.capabilities.length ? ' · ' + d.capabilities.join(', ') : '');
  show('pair-start', !d.paired && d.online);
  show('explorer', d.paired);
  show('unpair', d.paired);
  show('camera', d.paired);
  show('talk', d.paired);
  $('talk-button').disabled = !d.online;
  if (d.paired && d.online) {
    if (state.cameraWanted && !state.camera && !state.starting && !state.retryTimer) startCamera();
  } else {
    if (state.camera) stopCamera();
    if (state.talk) stopTalk();
    if (d.paired) $('camera-msg').textContent = 'The device is offline; the camera comes back when it does.';
  }
  $('camera-toggle').textContent = state.camera || state.starting ? 'Stop' : 'Play';
}

// ---- live camera: WHEP /whep/{id} ----

function deviceUrl(kind) { return `/${kind}/${encodeURIComponent(state.current)}`; }

async function startCamera() {
  const id = state.current;
  state.starting = true;
  clearTimeout(state.retryTimer); state.retryTimer = null;
  $('camera-msg').textContent = 'Connecting to the camera…';
  $('camera-stats').textContent = '';
  renderCameraButton();
  try {
    const session = await startWhep(deviceUrl('whep'), $('video'));
    if (state.current !== id || !state.cameraWanted) { session.close(); return; }
    state.camera = session;
    // sessions started and ICE restarts, for tests and support (a restart keeps the session: the count stays)
    $('camera-stats').dataset.sessions = String(Number($('camera-stats').dataset.sessions || 0) + 1);
    $('camera-stats').dataset.iceRestarts = '0';
    session.pc.addEventListener('connectionstatechange', () => {
      const s = session.pc.connectionState;
      if (state.camera !== session) return;
      console.info('camera: connection ' + s);
      clearTimeout(state.restartTimer); state.restartTimer = null;
      if (s === 'connected') { $('camera-msg').textContent = ''; session.quickRetries = 0; }
      // The path broke (Wi-Fi roam, address change, NAT rebinding): ICE restart over the same session first — a
      // disconnected connection may recover by itself, so wait 3 s; failed restarts at once.
      else if (s === 'disconnected') state.restartTimer = setTimeout(() => restartCamera('the connection was lost'), 3000);
      else if (s === 'failed') restartCamera('the connection failed');
      else if (s === 'closed') { stopCamera(); $('camera-msg').textContent = 'The camera connection closed.'; scheduleCameraRetry(5); }
    });
    show('camera-reconnect', true);
    $('camera-msg').textContent = 'Waiting for video…';
    state.cameraTimer = setInterval(updateCameraStats, 1000);
  } catch (err) {
    if (state.current !== id) return;
    if (err.status === 409) { $('camera-msg').textContent = `The camera is offline (${err.message}); retrying.`; scheduleCameraRetry(err.retryAfter ?? 5); }
    else if (err.status === undefined || err.status === 0 || err.status === 429 || err.status >= 500) {
      $('camera-msg').textContent = `Camera failed: ${err.message}; retrying.`;
      scheduleCameraRetry(err.retryAfter ?? 10);
    } else { state.cameraWanted = false; $('camera-msg').textContent = 'Camera failed: ' + err.message; }
  } finally {
    state.starting = false;
    renderCameraButton();
  }
}

/**
 * ICE restart of the camera's session (`pc.restartIce()` + PATCH, webrtc.js); when the bridge refuses or the
 * connection is still not up 20 s later, a new session instead.
 */
async function restartCamera(why) {
  const session = state.camera;
  if (!session || session.restarting) return;
  console.info('camera: ICE restart, ' + why);
  $('camera-msg').textContent = `Reconnecting (${why}): ICE restart…`;
  try {
    await session.restartIce();
    if (state.camera !== session) return;
    $('camera-stats').dataset.iceRestarts = String(session.iceRestarts);
    console.info(`camera: ICE restart ${session.iceRestarts} answered`);
    $('camera-msg').textContent = 'ICE restarted; waiting for the new path…';
    // A restart made while the path was still down gets no answer to any of its checks, and nothing checks again until
    // the browser declares the connection failed (~15 s; session 8 measured it). So restart once more after 5 s
    // without a path, twice at most per outage — the path may be back by then (a roam, a cable, a router reboot).
    clearTimeout(state.iceRetryTimer);
    state.iceRetryTimer = setTimeout(() => {
      state.iceRetryTimer = null;
      if (state.camera !== session || session.pc.connectionState === 'connected') return;
      if ((session.quickRetries ?? 0) >= 2) return;
      session.quickRetries = (session.quickRetries ?? 0) + 1;
      restartCamera('no path 5 s after the ICE restart');
    }, 5000);
    clearTimeout(state.restartTimer);
    state.restartTimer = setTimeout(() => {
      state.restartTimer = null;
      if (state.camera !== session) return;
      if (session.pc.connectionState === 'connected') { $('camera-msg').textContent = ''; return; }
      console.info('camera: no path 20 s after the ICE restart (' + session.pc.connectionState + '): new session');
      stopCamera(); $('camera-msg').textContent = 'The ICE restart did not reconnect; starting a new session.'; scheduleCameraRetry(1);
    }, 20000);
  } catch (err) {
    if (state.camera !== session) return;
    console.info('camera: ICE restart failed: ' + err.message);
    stopCamera();
    $('camera-msg').textContent = `ICE restart failed (${err.message}); starting a new session.`;
    scheduleCameraRetry(err.status === 429 ? 10 : 2);
  }
}

function scheduleCameraRetry(seconds) {
  clearTimeout(state.retryTimer);
  state.retryTimer = setTimeout(() => { state.retryTimer = null; renderDevice(); }, Math.min(60, seconds) * 1000);
}

async function updateCameraStats() {
  const session = state.camera;
  if (!session) return;
  const s = await receiveStats(session.pc);
  $('camera-stats').textContent = formatStats(s);
  $('camera-stats').dataset.framesDecoded = String(s.framesDecoded);
  $('camera-stats').dataset.connection = session.pc.connectionState;
  $('camera-stats').dataset.width = String(s.width);
  $('camera-stats').dataset.height = String(s.height);
  if (s.framesDecoded && $('camera-msg').textContent === 'Waiting for video…') $('camera-msg').textContent = '';
}

function stopCamera() {
  clearInterval(state.cameraTimer); state.cameraTimer = null;
  clearTimeout(state.restartTimer); state.restartTimer = null;
  clearTimeout(state.iceRetryTimer); state.iceRetryTimer = null;
  show('camera-reconnect', false);
  clearTimeout(state.retryTimer); state.retryTimer = null;
  if (state.camera) { state.camera.close(); state.camera = null; }
  $('video').srcObject = null;
  $('camera-stats').textContent = '';
  renderCameraButton();
}

function renderCameraButton() { $('camera-toggle').textContent = state.camera || state.starting ? 'Stop' : 'Play'; }

$('camera-reconnect').addEventListener('click', () => restartCamera('asked'));

$('camera-toggle').addEventListener('click', () => {
  if (state.camera || state.starting) { state.cameraWanted = false; stopCamera(); $('camera-msg').textContent = 'Stopped.'; }
  else { state.cameraWanted = true; renderDevice(); }
});

// ---- talk-back: WHIP /whip/{id}, push-to-talk (the microphone track is enabled only while the button is held) ----

async function ensureTalk() {
  if (state.talk) return state.talk;
  if (state.talkStarting) return state.talkStarting;
  const id = state.current;
  state.talkStarting = (async () => {
    $('talk-msg').textContent = 'Opening the microphone…';
    if (!navigator.mediaDevices?.getUserMedia) throw new Error('this page is not a secure context (use https or localhost): no microphone');
    const mic = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    const track = mic.getAudioTracks()[0];
    $('talk-msg').textContent = 'Connecting to the device…';
    let session;
    try { session = await startWhip(deviceUrl('whip'), track); }
    catch (err) { mic.getTracks().forEach((t) => t.stop()); throw err; }
    if (state.current !== id) { session.close(); mic.getTracks().forEach((t) => t.stop()); throw new Error('left the device'); }
    state.mic = mic;
    state.talk = session;
    show('talk-hangup', true);
    state.talkTimer = setInterval(async () => {
      if (!state.talk) return;
      const s = await sendStats(state.talk.pc);
      $('talk-msg').dataset.packetsSent = String(s.packetsSent);
      const held = $('talk-button').getAttribute('aria-pressed') === 'true';
      $('talk-msg').textContent = (held ? 'Talking' : 'Connected (muted)') + ` · ${s.packetsSent} audio packets sent`;
    }, 1000);
    return session;
  })();
  try { return await state.talkStarting; }
  finally { state.talkStarting = null; }
}

async function talkDown(e) {
  e.preventDefault();
  $('talk-button').setAttribute('aria-pressed', 'true');
  $('talk-button').classList.add('active');
  try {
    await ensureTalk();
    const held = $('talk-button').getAttribute('aria-pressed') === 'true';
    state.mic?.getAudioTracks().forEach((t) => { t.enabled = held; });
    $('talk-msg').textContent = held ? 'Talking…' : 'Connected (muted)';
  } catch (err) {
    $('talk-msg').textContent = 'Talk failed: ' + err.message;
    talkUp();
  }
}

function talkUp() {
  $('talk-button').setAttribute('aria-pressed', 'false');
  $('talk-button').classList.remove('active');
  state.mic?.getAudioTracks().forEach((t) => { t.enabled = false; });
}

function stopTalk() {
  clearInterval(state.talkTimer); state.talkTimer = null;
  if (state.talk) { state.talk.close(); state.talk = null; }
  if (state.mic) { state.mic.getTracks().forEach((t) => t.stop()); state.mic = null; }
  talkUp();
  show('talk-hangup', false);
}

$('talk-button').addEventListener('pointerdown', talkDown);
$('talk-button').addEventListener('pointerup', talkUp);
$('talk-button').addEventListener('pointerleave', () => { if ($('talk-button').getAttribute('aria-pressed') === 'true') talkUp(); });
$('talk-button').addEventListener('pointercancel', talkUp);
$('talk-button').addEventListener('contextmenu', (e) => e.preventDefault());
$('talk-button').addEventListener('keydown', (e) => { if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) talkDown(e); });
$('talk-button').addEventListener('keyup', (e) => { if (e.key === ' ' || e.key === 'Enter') talkUp(); });
$('talk-hangup').addEventListener('click', () => { stopTalk(); $('talk-msg').textContent = 'Hung up.'; });
window.addEventListener('pagehide', () => { stopCamera(); stopTalk(); });

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (await login($('login-token').value)) { $('login-token').value = ''; start(); }
});

$('back').addEventListener('click', (e) => { e.preventDefault(); location.hash = ''; });

$('pair-start').addEventListener('click', async () => {
  $('pair-msg').textContent = 'Asking the device…';
  const r = await api('POST', `/api/devices/${encodeURIComponent(state.current)}/pair`, {});
  if (r.status === 202) { $('pair-msg').textContent = 'Type the PIN the device shows.'; show('pair-form', true); $('pin').focus(); }
  else if (r.status === 200) { $('pair-msg').textContent = 'Paired.'; }
  else { $('pair-msg').textContent = 'Pairing failed: ' + (r.data?.error ?? r.status); }
});

$('pair-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('pair-msg').textContent = 'Checking…';
  const r = await api('POST', `/api/devices/${encodeURIComponent(state.current)}/pair`, { pin: $('pin').value });
  $('pin').value = '';
  if (r.status === 200) { $('pair-msg').textContent = 'Paired.'; show('pair-form', false); }
  else if (r.status === 403) { $('pair-msg').textContent = 'Wrong PIN. Start again.'; show('pair-form', false); }
  else { $('pair-msg').textContent = 'Pairing failed: ' + (r.data?.error ?? r.status); }
});

$('unpair').addEventListener('click', () => { const d = state.devices.get(state.current); if (d) unpair(d); });

$('rest-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const method = $('rest-method').value;
  let path = $('rest-path').value.trim() || '/';
  if (!path.startsWith('/')) path = '/' + path;
  const headers = {};
  for (const line of $('rest-headers').value.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  const init = { method, headers, credentials: 'same-origin' };
  if (!['GET', 'HEAD'].includes(method) && $('rest-body').value) init.body = $('rest-body').value;
  const t0 = performance.now();
  show('rest-result', true);
  $('rest-status').textContent = '…';
  let res;
  try { res = await fetch(`/devices/${encodeURIComponent(state.current)}/http${path}`, init); }
  catch (err) { $('rest-status').textContent = 'failed: ' + err; return; }
  const type = res.headers.get('content-type') ?? '';
  $('rest-status').textContent = `${res.status} ${res.statusText}`;
  $('rest-headers-out').textContent = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
  const img = $('rest-image');
  if (img.src) URL.revokeObjectURL(img.src);
  img.hidden = true;
  if (type.startsWith('image/')) {
    img.src = URL.createObjectURL(await res.blob());
    img.hidden = false;
    $('rest-body-out').textContent = '';
  } else {
    const text = await res.text();
    let pretty = text;
    if (type.includes('json')) { try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch { /* as is */ } }
    $('rest-body-out').textContent = pretty;
  }
  $('rest-time').textContent = `${Math.round(performance.now() - t0)} ms`;
});

// ---- access: each paired device's app grants (/api/grants) and the browsers with a token (/api/tokens) ----

function loadAccess() { loadGrants(); loadTokens(); }

function grantItem(d, g) {
  const li = document.createElement('li');
  li.dataset.app = g.app;
  const label = document.createElement('span');
  label.className = 'grant-app';
  label.textContent = `${g.app} · granted ${new Date(g.granted).toLocaleString()}`;
  const b = document.createElement('button');
  b.textContent = 'Revoke grant';
  b.className = 'danger revoke-grant';
  b.addEventListener('click', async () => {
    if (!confirm(`Revoke ${g.app}'s use of ${d.name}? The pairing stays.`)) return;
    const r = await api('DELETE', `/api/devices/${encodeURIComponent(d.id)}/grants?app=${encodeURIComponent(g.app)}`);
    if (r.status === 401) { location.reload(); return; }
    loadGrants();
  });
  li.append(label, b);
  return li;
}

// the bridge's own grant was revoked: it does not use the device until allowed again (POST …/pair with {})
function allowItem(d) {
  const li = document.createElement('li');
  li.className = 'withheld';
  const label = document.createElement('span');
  label.className = 'grant-app';
  label.textContent = 'this bridge may not use it (its grant was revoked)';
  const b = document.createElement('button');
  b.textContent = 'Allow';
  b.className = 'allow-bridge';
  b.addEventListener('click', async () => {
    const r = await api('POST', `/api/devices/${encodeURIComponent(d.id)}/pair`, {});
    if (r.status === 401) { location.reload(); return; }
    loadGrants();
  });
  li.append(label, b);
  return li;
}

async function loadGrants() {
  const r = await api('GET', '/api/grants');
  if (r.status !== 200) return;
  state.grants = new Map(r.data.map((d) => [d.id, d.grants]));
  state.withheld = new Set(r.data.filter((d) => d.withheld).map((d) => d.id));
  renderDevices();
}

async function loadTokens() {
  const [r, self] = await Promise.all([api('GET', '/api/tokens'), api('GET', '/api/tokens/self')]);
  if (r.status !== 200) return;
  state.self = self.status === 200 ? self.data.id : null;
  const ul = $('tokens');
  ul.replaceChildren();
  for (const t of r.data) {
    const li = document.createElement('li');
    li.dataset.id = t.id;
    const label = document.createElement('span');
    label.textContent = `${t.name} (${new Date(t.created).toLocaleString()})` + (t.id === state.self ? ' — this browser' : '');
    const b = document.createElement('button');
    b.textContent = 'Revoke';
    b.className = 'danger revoke-token';
    b.addEventListener('click', async () => {
      const own = t.id === state.self;
      if (!confirm(own ? 'Revoke this browser\'s own access? You will have to log in again.' : `Revoke the access of ${t.name}?`)) return;
      const res = await api('DELETE', `/api/tokens/${encodeURIComponent(t.id)}`);
      if (own || res.status === 401) { location.reload(); return; }
      loadTokens();
    });
    li.append(label, b);
    ul.append(li);
  }
  show('no-tokens', r.data.length === 0);
}

start();
