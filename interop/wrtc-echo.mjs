// Data-channel echo peer on libwebrtc (@roamhq/wrtc, pinned in package.json + lockfile): the reference echoing peer
// of the `webrtc echo` bench (bench/OspBridge.Bench/WebRtcEchoBench.cs).
//
// Protocol on stdin/stdout, one JSON line each way per connection:
//   in:  {"offer": "<sdp>", "ip": "<address that replaces .local host candidates, optional>"}
//   out: {"answer": "<sdp>"}                       (after ICE gathering completed)
// Every message on every data channel is sent back unchanged on the same channel. Each connection closes when the
// offerer's channel closes or when the next offer arrives. Exits when stdin ends. Bounded: one connection at a time,
// an answer within 30 s or the process exits 1.
import wrtc from '@roamhq/wrtc';
import readline from 'node:readline';

const { RTCPeerConnection } = wrtc;
let pc = null;

const gathered = p => new Promise(r => {
  if (p.iceGatheringState === 'complete') return r();
  p.onicegatheringstatechange = () => { if (p.iceGatheringState === 'complete') r(); };
});

async function answer({ offer, ip }) {
  if (pc) { pc.close(); pc = null; }
  const local = new RTCPeerConnection({ iceServers: [] });
  pc = local;
  local.ondatachannel = e => {
    const ch = e.channel;
    ch.binaryType = 'arraybuffer';
    ch.onmessage = m => { try { ch.send(m.data); } catch (err) { console.error('echo send: ' + err); } };
    ch.onclose = () => { if (pc === local) { local.close(); pc = null; } };
  };
  const sdp = ip ? offer.replace(/[0-9a-f-]{36}\.local/g, ip) : offer;
  await local.setRemoteDescription({ type: 'offer', sdp });
  await local.setLocalDescription(await local.createAnswer());
  const timer = setTimeout(() => { console.error('ICE gathering did not complete in 30 s'); process.exit(1); }, 30000);
  await gathered(local);
  clearTimeout(timer);
  process.stdout.write(JSON.stringify({ answer: local.localDescription.sdp }) + '\n');
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', line => {
  if (!line.trim()) return;
  answer(JSON.parse(line)).catch(err => { console.error('answer: ' + (err?.stack ?? err)); process.exit(1); });
});
rl.on('close', () => { if (pc) pc.close(); setTimeout(() => process.exit(0), 100); });
