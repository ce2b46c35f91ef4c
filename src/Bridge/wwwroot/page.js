// What both pages (the web UI app.js and the doorbell demo demo/demo.js) need besides WebRTC: element lookup and
// the JSON API call (same origin, the session cookie).

export const $ = (id) => document.getElementById(id);

// One JSON request to the bridge's API: { status, data } (data null when the body is empty or not JSON).
export async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
  const res = await fetch(path, init);
  let data = null;
  try { data = await res.json(); } catch { /* empty */ }
  return { status: res.status, data };
}
