// OspBridge web UI: no framework, no build step. Same origin as the API and the signaling (Chromium Local
// Network Access: a page from another origin may not reach a LAN/loopback address).
const $ = (id) => document.getElementById(id);
const state = { devices: new Map(), current: null, events: null };

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
  const res = await fetch(path, init);
  let data = null;
  try { data = await res.json(); } catch { /* empty */ }
  return { status: res.status, data };
}

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
  loadTokens();
  window.addEventListener('hashchange', route);
  route();
}

function listen() {
  const es = new EventSource('/api/devices/events');
  state.events = es;
  es.addEventListener('open', () => setStatus('live'));
  es.addEventListener('error', () => setStatus('reconnecting…'));
  es.addEventListener('devices', (e) => {
    state.devices.clear();
    for (const d of JSON.parse(e.data)) state.devices.set(d.id, d);
    renderDevices(); renderDevice();
  });
  es.addEventListener('device', (e) => {
    const d = JSON.parse(e.data);
    state.devices.set(d.id, d);
    renderDevices(); renderDevice();
  });
}

function renderDevices() {
  const ul = $('devices');
  ul.replaceChildren();
  for (const d of state.devices.values()) {
    const li = document.createElement('li');
    li.dataset.id = d.id;
    const name = document.createElement('a');
    name.href = '#/device/' + encodeURIComponent(d.id);
    name.textContent = d.name;
    name.className = 'device-name';
    const badges = document.createElement('span');
    badges.innerHTML = '';
    for (const [on, text] of [[d.online, d.online ? 'online' : 'offline'], [d.paired, d.paired ? 'paired' : 'not paired']]) {
      const b = document.createElement('span');
      b.className = 'badge ' + (on ? 'on' : 'off');
      b.textContent = text;
      badges.append(b, ' ');
    }
    li.append(name, badges);
    ul.append(li);
  }
  show('no-devices', state.devices.size === 0);
}

function route() {
  const m = location.hash.match(/^#\/device\/(.+)$/);
  state.current = m ? decodeURIComponent(m[1]) : null;
  show('devices-section', !state.current);
  show('tokens-section', !state.current);
  show('device', !!state.current);
  $('pair-msg').textContent = '';
  show('pair-form', false);
  renderDevice();
}

function renderDevice() {
  const d = state.current && state.devices.get(state.current);
  if (!d) { if (state.current) $('device-title').textContent = 'Unknown device'; return; }
  $('device-title').textContent = d.name;
  $('device-id').textContent = d.id + ' · ' + d.fp;
  $('device-state').textContent = (d.online ? 'online' : 'offline') + ', ' + (d.paired ? 'paired' : 'not paired')
    + (d.capabilities.length ? ' · ' + d.capabilities.join(', ') : '');
  show('pair-start', !d.paired && d.online);
  show('explorer', d.paired);
  show('unpair', d.paired);
}

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

$('unpair').addEventListener('click', async () => {
  if (!confirm('Unpair this device?')) return;
  await api('DELETE', `/api/devices/${encodeURIComponent(state.current)}/pair`);
});

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

async function loadTokens() {
  const r = await api('GET', '/api/tokens');
  if (r.status !== 200) return;
  const ul = $('tokens');
  ul.replaceChildren();
  for (const t of r.data) {
    const li = document.createElement('li');
    const label = document.createElement('span');
    label.textContent = `${t.name} (${new Date(t.created).toLocaleString()})`;
    const b = document.createElement('button');
    b.textContent = 'Revoke';
    b.className = 'danger';
    b.addEventListener('click', async () => { await api('DELETE', `/api/tokens/${encodeURIComponent(t.id)}`); loadTokens(); });
    li.append(label, b);
    ul.append(li);
  }
}

start();
