// werift peer for OspBridge interop tests. Usage: node werift-peer.mjs offer|answer
// Signalling on stdin/stdout: one JSON line {"type","sdp"} each way (as `ospbridge webrtc` speaks).
// werift is the tester: it sends text and binary messages on channel 'echo', checks the echoes byte for byte,
// closes the channel and prints "WERIFT OK" (exit 0); anything else exits 1. Diagnostics go to stderr.
import { RTCPeerConnection } from "werift";
import { createInterface } from "node:readline";
import { randomBytes } from "node:crypto";

const role = process.argv[2];
const log = (...a) => console.error("werift:", ...a);
const fail = (msg) => { log("FAIL", msg); process.exit(1); };
setTimeout(() => fail("timeout"), 60_000).unref();

const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

const pc = new RTCPeerConnection({ iceUseIpv6: false, iceServers: [] }); // no STUN server: nothing may leave the test LAN
pc.connectionStateChange.subscribe((s) => log("connection", s));

async function gathered() {
  if (pc.iceGatheringState !== "complete")
    await new Promise((r) => pc.iceGatheringStateChange.subscribe((s) => s === "complete" && r()));
  return pc.localDescription.sdp;
}

async function runTests(dc) {
  const pending = [];
  dc.onMessage.subscribe((data) => { const p = pending.shift(); if (p) p(data); });
  const roundTrip = (msg) => new Promise((resolve) => { pending.push(resolve); dc.send(msg); });
  const text = "hello from werift ✓";
  const t = await roundTrip(text);
  if (typeof t !== "string" || t !== text) fail("text echo differs: " + t);
  for (const size of [1, 100, 1200, 16384, 65536]) {
    const b = randomBytes(size);
    const r = await roundTrip(b);
    if (!Buffer.isBuffer(r) || !r.equals(b)) fail(`binary echo of ${size} bytes differs`);
  }
  log("echo checks passed");
  dc.close();
  await new Promise((r) => setTimeout(r, 500));
  console.log("WERIFT OK");
  await pc.close();
  process.exit(0);
}

if (role === "offer") {
  const dc = pc.createDataChannel("echo");
  dc.stateChanged.subscribe((s) => { log("channel", s); if (s === "open") runTests(dc); });
  await pc.setLocalDescription(await pc.createOffer());
  console.log(JSON.stringify({ type: "offer", sdp: await gathered() }));
  const answer = JSON.parse(await nextLine());
  await pc.setRemoteDescription(answer);
} else if (role === "answer") {
  pc.onDataChannel.subscribe((dc) => {
    log("remote channel", dc.label, dc.readyState);
    if (dc.readyState === "open") runTests(dc);
    else dc.stateChanged.subscribe((s) => s === "open" && runTests(dc));
  });
  const offer = JSON.parse(await nextLine());
  await pc.setRemoteDescription(offer);
  await pc.setLocalDescription(await pc.createAnswer());
  console.log(JSON.stringify({ type: "answer", sdp: await gathered() }));
} else {
  fail("usage: node werift-peer.mjs offer|answer");
}
