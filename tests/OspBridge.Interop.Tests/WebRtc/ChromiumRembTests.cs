using OspBridge.Testing.Logging;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Interop.Tests.WebRtc;

/// <summary>
/// Congestion feedback to a publishing browser (issue 12): Chromium's fake camera at 1280×720 is published on two peer
/// connections at once, one to our peer connection sending REMB, one to ours with REMB switched off. Chromium's send
/// side has no TWCC from us, so without REMB its estimate is loss-based only (+8 %/s from its start rate); our REMB
/// lets it ramp. Asserted in the same run: the REMB connection's outbound <c>targetBitrate</c> and the selected pair's
/// <c>availableOutgoingBitrate</c> (getStats) are well above the other's.
/// </summary>
[Collection("Chromium WebRTC")]
public class ChromiumRembTests(ITestOutputHelper output) : ChromiumPeerTestBase(output)
{
    [Fact]
    public async Task Our_remb_lets_a_chromium_publisher_ramp_its_bitrate()
    {
        await using var h = await ChromiumHarness.StartAsync("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream");
        await h.Page.EvaluateAsync(PublishJs);
        var offers = await h.Page.EvaluateAsync<string[]>("() => P.offer(2, 1280, 720)");
        Assert.Equal(2, offers.Length);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ours = new List<RTCPeerConnection>();
        var transceivers = new List<RTCRtpTransceiver>();
        var drains = new List<Task>();
        try
        {
            for (int i = 0; i < 2; i++)
            {
                bool remb = i == 0;
                var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [h.OurHost.IPv4] }, new RTCPeerConnectionOptions
                {
                    SocketFactory = h.OurSockets,
                    SendRemb = remb,
                    Logger = Logger(remb ? "[remb] " : "[plain] "),
                });
                ours.Add(pc);
                var tracks = new List<RTCTrackEvent>();
                pc.OnTrack += e => { lock (tracks) tracks.Add(e); };
                await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Offer, offers[i])).WaitAsync(Step);
                await pc.SetLocalDescriptionAsync(await pc.CreateAnswerAsync()).WaitAsync(Step);
                await pc.WaitForGatheringCompleteAsync().WaitAsync(Step);
                RTCTrackEvent track;
                lock (tracks) track = Assert.Single(tracks);
                Assert.Equal(MediaKind.Video, track.Transceiver.Kind);
                transceivers.Add(track.Transceiver);
                Assert.Contains("goog-remb", pc.LocalDescription!.Sdp, StringComparison.Ordinal);
                drains.Add(Task.Run(async () =>
                {
                    try { await foreach (var _ in track.Transceiver.Receiver.ReadAllAsync(cts.Token)) { } }
                    catch (OperationCanceledException) { }
                }));
                await h.Page.EvaluateAsync("([i, sdp]) => P.accept(i, sdp)", new object[] { i, pc.LocalDescription!.Sdp }).WaitAsync(Step);
            }

            // 12 s of publishing, sampled every second: the highest target/available bitrate each connection reached
            var best = new (double Target, double Available)[2];
            for (int s = 0; s < 12; s++)
            {
                await h.Page.WaitForTimeoutAsync(1000);
                string raw = await h.Page.EvaluateAsync<string>("() => P.stats()");
                using var doc = JsonDocument.Parse(raw);
                for (int i = 0; i < 2; i++)
                {
                    var e = doc.RootElement[i];
                    double target = e.GetProperty("targetBitrate").GetDouble(), available = e.GetProperty("availableOutgoingBitrate").GetDouble();
                    best[i] = (Math.Max(best[i].Target, target), Math.Max(best[i].Available, available));
                }
                Output.WriteLine($"t={s + 1}s {raw}");
            }
            var withRemb = await transceivers[0].GetStatsAsync();
            var without = await transceivers[1].GetStatsAsync();
            Output.WriteLine($"REMB sent by ours: {withRemb.Stats.BitrateEstimateSent} bit/s (plain: {without.Stats.BitrateEstimateSent?.ToString() ?? "none"}); " +
                $"received: remb {withRemb.Stats.BytesReceived} B, plain {without.Stats.BytesReceived} B");
            Output.WriteLine($"best: with REMB target {best[0].Target / 1e3:F0} kbit/s available {best[0].Available / 1e3:F0} kbit/s; " +
                $"without target {best[1].Target / 1e3:F0} kbit/s available {best[1].Available / 1e3:F0} kbit/s");
            Assert.NotNull(withRemb.Stats.BitrateEstimateSent);
            Assert.Null(without.Stats.BitrateEstimateSent);
            Assert.True(without.Stats.BytesReceived > 0 && withRemb.Stats.BytesReceived > 0, "no video reached one of our receivers");
            Assert.True(best[0].Available > 1_000_000, $"with our REMB availableOutgoingBitrate stayed at {best[0].Available / 1e3:F0} kbit/s");
            Assert.True(best[0].Available > 1.5 * best[1].Available,
                $"availableOutgoingBitrate with REMB {best[0].Available / 1e3:F0} kbit/s, without {best[1].Available / 1e3:F0} kbit/s");
            Assert.True(best[0].Target > 1.5 * best[1].Target,
                $"targetBitrate with REMB {best[0].Target / 1e3:F0} kbit/s, without {best[1].Target / 1e3:F0} kbit/s");
        }
        finally
        {
            await cts.CancelAsync();
            foreach (var pc in ours) await pc.DisposeAsync();
            await Task.WhenAll(drains).WaitAsync(Step);
            DumpLog(60);
        }
    }

    private const string PublishJs = """
        () => {
          window.P = {
            pcs: [],
            async offer(n, w, h) {
              const s = await navigator.mediaDevices.getUserMedia({ video: { width: w, height: h, frameRate: 30 } });
              const out = [];
              for (let i = 0; i < n; i++) {
                const pc = new RTCPeerConnection();
                this.pcs.push(pc);
                pc.addTransceiver(s.getVideoTracks()[0], { direction: 'sendonly', streams: [s] });
                await pc.setLocalDescription(await pc.createOffer());
                if (pc.iceGatheringState !== 'complete')
                  await new Promise(r => pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') r(); }));
                out.push(pc.localDescription.sdp);
              }
              return out;
            },
            async accept(i, sdp) { await this.pcs[i].setRemoteDescription({ type: 'answer', sdp }); return true; },
            async stats() {
              const all = [];
              for (const pc of this.pcs) {
                const r = await pc.getStats();
                const o = { state: pc.connectionState, targetBitrate: 0, availableOutgoingBitrate: 0, bytesSent: 0, w: 0, h: 0, limit: '', codec: '' };
                r.forEach(s => {
                  if (s.type === 'outbound-rtp' && s.kind === 'video') {
                    o.targetBitrate = s.targetBitrate || 0; o.bytesSent = s.bytesSent || 0; o.w = s.frameWidth || 0; o.h = s.frameHeight || 0;
                    o.limit = s.qualityLimitationReason || ''; o.codec = s.codecId || '';
                  }
                  if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') o.availableOutgoingBitrate = s.availableOutgoingBitrate || 0;
                });
                all.push(o);
              }
              return JSON.stringify(all);
            },
          };
          return true;
        }
        """;
}
