using System.Net.Sockets;
using Concentus;
using OspBridge.Bridge.Commands;
using OspBridge.Media.Sources;
using OspBridge.Testing.Logging;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.Interop.Tests.WebRtc;

/// <summary>
/// Issue 12 must-show: headless Chromium (in its own network namespace) plays the H.264 + Opus our
/// RTCPeerConnection sends from the ffmpeg test camera, keeps decoding with 5 % of our RTP dropped by a user-space
/// relay (NACK), gets a keyframe within 1 s of each PLI/FIR, and sends its fake microphone's Opus to our receiver.
/// </summary>
[Collection("Chromium WebRTC")]
public class ChromiumMediaTests(ITestOutputHelper output) : ChromiumPeerTestBase(output)
{
    private static void RequireFfmpeg()
    {
        if (WebRtcCommand.WhyNoFfmpeg() is { } why) throw new InvalidOperationException("media interop cannot run: " + why);
    }

    [Fact]
    public async Task Chromium_plays_our_h264_and_opus()
    {
        RequireFfmpeg();
        await using var h = await ChromiumHarness.StartAsync();
        try
        {
            var r = await RunCameraAsync(h, lossPercent: 0);
            // the test camera's resolution (MediaSource "test": 640x360), as its SPS says and as Chromium decodes it
            var expected = new MediaSourceOptions();
            Assert.Equal((expected.TestWidth, expected.TestHeight), (r.SourceWidth, r.SourceHeight));
            Assert.Equal(r.SourceWidth, r.Width);
            Assert.Equal(r.SourceHeight, r.Height);
            Assert.True(r.FramesDecodedIn5s >= 100, $"framesDecoded grew by {r.FramesDecodedIn5s} in 5 s (need ≥ 100)");
            Assert.True(r.AudioSamples > 48000 * 3, $"Chromium decoded only {r.AudioSamples} audio samples");
            Assert.True(r.Freezes == 0, $"Chromium counted {r.Freezes} freezes (camera frames more than 80 ms apart, at ms:gap: {r.SourceGaps})");
            AssertKeyframesFollowRequests(r);
        }
        finally { DumpLog(150); }
    }

    [Fact]
    public async Task Nack_keeps_chromium_decoding_with_5_percent_loss()
    {
        RequireFfmpeg();
        await using var h = await ChromiumHarness.StartAsync();
        try
        {
            var r = await RunCameraAsync(h, lossPercent: 5);
            Assert.True(r.RelayDropped > 20, $"the relay dropped only {r.RelayDropped} RTP packets");
            Assert.True(r.NackCount > 0, "Chromium sent no NACK");
            Assert.True(r.Retransmitted > 0, "we retransmitted nothing");
            Assert.True(r.FramesDecodedIn5s >= 100, $"framesDecoded grew by {r.FramesDecodedIn5s} in 5 s under 5 % loss (need ≥ 100)");
            AssertKeyframesFollowRequests(r);
        }
        finally { DumpLog(150); }
    }

    /// <summary>
    /// The relay black-holes 1100 consecutive video packets (and every retransmission of them) about a second in:
    /// NACK cannot repair that, so Chromium asks for a keyframe (PLI/FIR); each request must be followed by a keyframe
    /// we send within 1 s, and decoding resumes.
    /// </summary>
    [Fact]
    public async Task Pli_from_chromium_yields_a_keyframe_within_1s()
    {
        RequireFfmpeg();
        await using var h = await ChromiumHarness.StartAsync();
        try
        {
            var r = await RunCameraAsync(h, lossPercent: 0, blackhole: true);
            Assert.True(r.RelayDropped >= 1100, $"the relay black-holed only {r.RelayDropped} packets");
            Assert.True(r.KeyframeRequests.Count > 0, "Chromium sent no PLI/FIR");
            Assert.True(r.ChromiumPli + r.ChromiumFir > 0, "Chromium's getStats counts no PLI/FIR");
            AssertKeyframesFollowRequests(r);
            Assert.True(r.KeyframesDecodedAfterRequest, "no keyframe decoded after the first keyframe request");
        }
        finally { DumpLog(150); }
    }

    private void AssertKeyframesFollowRequests(CameraRun r)
    {
        Output.WriteLine($"keyframe requests {r.KeyframeRequests.Count}, keyframes sent {r.KeyframesSent.Count}");
        foreach (var req in r.KeyframeRequests)
        {
            if (req > r.SendingStopped - TimeSpan.FromSeconds(1)) continue; // no time left to answer
            var next = r.KeyframesSent.FirstOrDefault(k => k >= req);
            Assert.True(next != default && next - req <= TimeSpan.FromSeconds(1), $"keyframe request at {req} not followed by a keyframe within 1 s");
        }
    }

    private sealed record CameraRun(int Width, int Height, long FramesDecodedIn5s, long AudioSamples, long NackCount, long Retransmitted,
        int Freezes, long RelayDropped, List<TimeSpan> KeyframeRequests, List<TimeSpan> KeyframesSent, TimeSpan SendingStopped)
    {
        public long ChromiumPli { get; init; }
        public long ChromiumFir { get; init; }
        public bool KeyframesDecodedAfterRequest { get; init; }
        public int SourceWidth { get; init; }
        public int SourceHeight { get; init; }
        public string SourceGaps { get; init; } = "";
    }

    private async Task<CameraRun> RunCameraAsync(ChromiumHarness h, int lossPercent, bool blackhole = false)
    {
        await h.Page.EvaluateAsync(MediaJs);
        string offer = await h.Page.EvaluateAsync<string>("() => M.offer({ recvVideo: true, recvAudio: true })");
        await using var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [h.OurHost.IPv4] }, Options(h));
        await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Offer, offer));
        var video = await pc.AddTrackAsync(MediaKind.Video);
        var audio = await pc.AddTrackAsync(MediaKind.Audio);
        await pc.SetLocalDescriptionAsync(await pc.CreateAnswerAsync());
        await pc.WaitForGatheringCompleteAsync();
        string answer = pc.LocalDescription!.Sdp;
        await using var relay = lossPercent > 0 || blackhole ? LossyRelay.Start(h, answer, lossPercent) : null;
        // 1100 consecutive sequence numbers lost for good: more than libwebrtc's NACK list holds (1000), so Chromium
        // gives up on NACK and asks for a keyframe (with the 0.5 s GOP a short hole is healed by the next IDR unasked)
        if (blackhole) relay!.BlackholeAfter(video.Transceiver.Info.LocalSsrc, packets: 300, count: 1100);
        if (relay is not null) answer = relay.RewrittenAnswer;
        Output.WriteLine(answer);
        foreach (var t in pc.GetTransceivers()) Output.WriteLine($"mid {t.Mid} {t.Kind} {t.CurrentDirection} {t.Codec?.RtpMap} fmtp {t.Codec?.Fmtp}");
        Assert.Equal(RTCRtpTransceiverDirection.SendOnly, video.Transceiver.CurrentDirection);
        Assert.Equal("H264", video.Transceiver.Codec?.Name);
        Assert.Equal("opus", audio.Transceiver.Codec?.Name);

        var clock = Stopwatch.StartNew();
        var requests = new List<TimeSpan>();
        var keyframes = new List<TimeSpan>();
        video.KeyframeRequested += () => { lock (requests) requests.Add(clock.Elapsed); };
        // the one test camera (640x360, 0.5 s GOP) at a fixed 1.5 Mbit/s: enough RTP packets per second that the
        // black-hole test's 1100-packet hole passes within the run (x264's default CRF gives ~100 packets/s at 360p)
        await using var camera = MediaSource.Create("test", new MediaSourceOptions { LoggerFactory = new LogLinesFactory(Log), TestBitrateKbps = 1500 });
        var gapClock = Stopwatch.StartNew();
        double lastFrameMs = -1; var gapList = new List<(double at, double gap)>();
        camera.FrameReceived = f =>
        {
            if (f.Codec == MediaCodec.H264)
            {
                double nowMs = gapClock.Elapsed.TotalMilliseconds;
                if (lastFrameMs >= 0 && nowMs - lastFrameMs > 80) lock (gapList) gapList.Add((nowMs, nowMs - lastFrameMs));
                lastFrameMs = nowMs;
                if (video.WriteFrame(f) && f.IsKeyframe) lock (keyframes) keyframes.Add(clock.Elapsed);
            }
            else audio.WriteFrame(f);
        };
        await camera.StartAsync(CancellationToken.None);
        await h.Page.EvaluateAsync("sdp => M.accept(sdp)", answer);

        // wait for the first decoded frame, then measure 5 s
        using var cts = new CancellationTokenSource(Step);
        Stats s = await PollAsync(h, x => x.VideoFramesDecoded > 0, cts.Token);
        long start = s.VideoFramesDecoded;
        Output.WriteLine($"at first decode: {s.Raw}");
        await Task.Delay(TimeSpan.FromSeconds(5), cts.Token);
        s = await PollAsync(h, x => x.Width > 0, cts.Token);
        long decodedIn5s = s.VideoFramesDecoded - start;
        bool keyAfter = false;
        if (blackhole)
        {
            // Decoding must resume with a keyframe after the hole: wait (bounded) for the first keyframe request and for
            // the relay to have black-holed all 1100 sequence numbers (keyframes sent inside the hole are lost too), then
            // (bounded) for Chromium to decode a keyframe it had not decoded when the hole ended.
            int RequestCount() { lock (requests) return requests.Count; }
            for (int i = 0; i < 150 && (RequestCount() == 0 || relay!.Dropped < 1100); i++)
                await Task.Delay(100, cts.Token);
            s = await PollAsync(h, x => x.Width > 0, cts.Token);
            long k0 = s.KeyFramesDecoded;
            for (int i = 0; i < 10 && !keyAfter; i++)
            {
                await Task.Delay(200, cts.Token);
                s = await PollAsync(h, x => x.Width > 0, cts.Token);
                keyAfter = RequestCount() > 0 && s.KeyFramesDecoded > k0;
            }
        }
        var sendingStopped = clock.Elapsed;
        var info = await video.Transceiver.GetStatsAsync();
        Output.WriteLine($"chromium: {s.Raw}");
        string gaps;
        lock (gapList) gaps = string.Join(", ", gapList.Select(g => $"{g.at:F0}:{g.gap:F0}"));
        Output.WriteLine("camera frames more than 80 ms apart (ms since start:gap ms): " + gaps);
        Output.WriteLine($"ours: sent {info.Stats.PacketsSent} rtx {info.Stats.Retransmitted} nack {info.Stats.NackReceived} pli {info.Stats.PliReceived} fir {info.Stats.FirReceived} relay dropped {relay?.Dropped}");
        List<TimeSpan> req, key;
        lock (requests) req = [.. requests];
        lock (keyframes) key = [.. keyframes];
        return new CameraRun(s.Width, s.Height, decodedIn5s, s.AudioSamples, s.NackCount, info.Stats.Retransmitted,
            s.Freezes, relay?.Dropped ?? 0, req, key, sendingStopped)
        { ChromiumPli = s.Pli, ChromiumFir = s.Fir, KeyframesDecodedAfterRequest = keyAfter, SourceWidth = camera.Info.Width, SourceHeight = camera.Info.Height, SourceGaps = gaps };
    }

    /// <summary>Chromium's fake microphone (a 440 Hz WAV we generate) → our RTCRtpReceiver: ≥ 5 s of Opus, decoded with Concentus, tone found.</summary>
    [Fact]
    public async Task Chromium_fake_microphone_reaches_our_receiver()
    {
        try
        {
            await using var call = await CallFromFakeMicrophoneAsync("tone", 20);
            var track = call.Track;
            Assert.Equal(MediaKind.Audio, track.Transceiver.Kind);
            Assert.Equal(RTCRtpTransceiverDirection.RecvOnly, track.Transceiver.CurrentDirection);
            Assert.Equal("opus", track.Transceiver.Codec?.Name);

            var decoder = OpusCodecFactory.CreateDecoder(48000, 1);
            var pcm = new List<short>(48000 * 8);
            var frame = new short[5760];
            int packets = 0;
            using var cts = new CancellationTokenSource(Step);
            await foreach (var f in track.Transceiver.Receiver.ReadAllAsync(cts.Token))
            {
                Assert.Equal(MediaCodec.Opus, f.Codec);
                int n = decoder.Decode(f.Data.Span, frame, frame.Length, false);
                pcm.AddRange(frame.AsSpan(0, n));
                packets++;
                if (pcm.Count >= 48000 * 6) break; // 6 s: skip the first second (jitter, ramp-up), analyse 5 s
            }
            Output.WriteLine($"{packets} Opus packets, {pcm.Count} samples");
            var analysed = pcm.Skip(48000).Take(48000 * 5).Select(x => (double)x).ToArray();
            Assert.Equal(48000 * 5, analysed.Length);
            double rms = Math.Sqrt(analysed.Sum(x => x * x) / analysed.Length);
            Assert.True(rms > 300, $"decoded audio is near silence (rms {rms:F0})");
            int bestHz = 0;
            double best = 0;
            for (int hz = 100; hz <= 4000; hz += 5)
            {
                double p = Goertzel(analysed.AsSpan(0, 48000), 48000, hz);
                if (p > best) { best = p; bestHz = hz; }
            }
            Output.WriteLine($"rms {rms:F0}, strongest tone {bestHz} Hz");
            Assert.InRange(bestHz, 435, 445);
            var stats = await track.Transceiver.GetStatsAsync();
            Assert.True(stats.Stats.PacketsReceived >= 250, $"only {stats.Stats.PacketsReceived} RTP packets received");
        }
        finally
        {
            DumpLog(150);
        }
    }

    /// <summary>The test camera's log lines (ffmpeg stderr, restarts) into the test's log.</summary>
    private sealed class LogLinesFactory(List<string> log) : Microsoft.Extensions.Logging.ILoggerFactory
    {
        public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
        {
        }

        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => new LineLogger(s => { lock (log) log.Add(s); });

        public void Dispose()
        {
        }
    }

    /// <summary>Power of <paramref name="hz"/> in <paramref name="x"/> (Goertzel's algorithm).</summary>
    private static double Goertzel(ReadOnlySpan<double> x, int rate, double hz)
    {
        double w = 2 * Math.PI * hz / rate, c = 2 * Math.Cos(w), s1 = 0, s2 = 0;
        foreach (double v in x)
        {
            double s0 = v + c * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        return s1 * s1 + s2 * s2 - c * s1 * s2;
    }

    private sealed record Stats(string Raw, int Width, int Height, long VideoFramesDecoded, long AudioSamples, long NackCount, int Freezes)
    {
        public long KeyFramesDecoded { get; init; }
        public long Pli { get; init; }
        public long Fir { get; init; }
    }

    private static async Task<Stats> PollAsync(ChromiumHarness h, Func<Stats, bool> until, CancellationToken ct)
    {
        while (true)
        {
            string json = await h.Page.EvaluateAsync<string>("() => M.stats()");
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            long Get(string kind, string name) => root.TryGetProperty(kind, out var k) && k.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? (long)v.GetDouble() : 0;
            var s = new Stats(json, root.GetProperty("w").GetInt32(), root.GetProperty("h").GetInt32(), Get("video", "framesDecoded"),
                Get("audio", "totalSamplesReceived"), Get("video", "nackCount"), (int)Get("video", "freezeCount"))
            { KeyFramesDecoded = Get("video", "keyFramesDecoded"), Pli = Get("video", "pliCount"), Fir = Get("video", "firCount") };
            if (until(s)) return s;
            await Task.Delay(100, ct);
        }
    }

    /// <summary>
    /// A user-space UDP relay in our namespace between Chromium and our socket that drops <c>lossPercent</c> % of the
    /// RTP (not RTCP, STUN or DTLS) we send, with a fixed seed. The answer's candidates are rewritten to the relay,
    /// so Chromium only reaches us through it; we learn the relay's inner socket as a peer-reflexive candidate.
    /// </summary>
    private sealed class LossyRelay : IAsyncDisposable
    {
        private readonly Socket _outer, _inner;
        private readonly IPEndPoint _ours;
        private readonly int _loss;
        private readonly Random _random = new(12);
        private readonly CancellationTokenSource _cts = new();
        private readonly Task _a, _b;
        private EndPoint? _chromium;
        private long _dropped;
        private uint _holeSsrc;
        private int _holeAfter = -1, _holeCount, _seen;
        private int _holeStart = -1;

        /// <summary>After <paramref name="packets"/> RTP packets of <paramref name="ssrc"/>, drops the next <paramref name="count"/> sequence numbers for good (retransmissions too).</summary>
        public void BlackholeAfter(uint ssrc, int packets, int count)
        {
            lock (_random) { _holeSsrc = ssrc; _holeAfter = packets; _holeCount = count; }
        }

        private bool InHole(ReadOnlySpan<byte> p)
        {
            if (_holeAfter < 0 || System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(p.Slice(8)) != _holeSsrc) return false;
            int seq = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(p.Slice(2));
            if (_holeStart < 0)
            {
                if (++_seen < _holeAfter) return false;
                _holeStart = seq;
            }
            return (ushort)(seq - _holeStart) < _holeCount;
        }

        public string RewrittenAnswer { get; }
        public long Dropped => Interlocked.Read(ref _dropped);

        private LossyRelay(ChromiumHarness h, string answer, int loss)
        {
            _loss = loss;
            var line = answer.Split('\n').First(l => l.StartsWith("a=candidate:", StringComparison.Ordinal)).TrimEnd('\r');
            var p = line.Split(' ');
            _ours = new IPEndPoint(IPAddress.Parse(p[4]), int.Parse(p[5], CultureInfo.InvariantCulture));
            (_outer, _inner) = h.OurHost.RunInNamespace(() =>
            {
                var o = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                o.Bind(new IPEndPoint(h.OurHost.IPv4, 0));
                var i = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                i.Bind(new IPEndPoint(h.OurHost.IPv4, 0));
                return (o, i);
            });
            int relayPort = ((IPEndPoint)_outer.LocalEndPoint!).Port;
            RewrittenAnswer = string.Join('\n', answer.Split('\n').Where(l => !l.StartsWith("a=candidate:", StringComparison.Ordinal) || l.TrimEnd('\r') == line)
                .Select(l => l.TrimEnd('\r') == line ? string.Join(' ', p.Take(5).Append(relayPort.ToString(CultureInfo.InvariantCulture)).Concat(p.Skip(6))) + "\r" : l));
            _a = Task.Run(() => PumpAsync(fromChromium: true));
            _b = Task.Run(() => PumpAsync(fromChromium: false));
        }

        public static LossyRelay Start(ChromiumHarness h, string answer, int loss) => new(h, answer, loss);

        private async Task PumpAsync(bool fromChromium)
        {
            var buf = new byte[2048];
            var from = fromChromium ? _outer : _inner;
            var any = new IPEndPoint(IPAddress.Any, 0);
            try
            {
                for (long n = 0; n < 10_000_000 && !_cts.IsCancellationRequested; n++)
                {
                    var r = await from.ReceiveFromAsync(buf, SocketFlags.None, any, _cts.Token);
                    if (fromChromium)
                    {
                        _chromium = r.RemoteEndPoint;
                        await _inner.SendToAsync(buf.AsMemory(0, r.ReceivedBytes), SocketFlags.None, _ours, _cts.Token);
                        continue;
                    }
                    if (_chromium is null) continue;
                    bool rtp = r.ReceivedBytes > 12 && buf[0] is >= 128 and <= 191 && buf[1] is not (>= 192 and <= 223);
                    bool drop;
                    lock (_random) drop = rtp && (InHole(buf.AsSpan(0, r.ReceivedBytes)) || (_loss > 0 && _random.Next(100) < _loss));
                    if (drop) { Interlocked.Increment(ref _dropped); continue; }
                    await _outer.SendToAsync(buf.AsMemory(0, r.ReceivedBytes), SocketFlags.None, _chromium, _cts.Token);
                }
            }
            catch (OperationCanceledException) { }
            catch (SocketException) { }
            catch (ObjectDisposedException) { }
        }

        public async ValueTask DisposeAsync()
        {
            await _cts.CancelAsync();
            _outer.Dispose();
            _inner.Dispose();
            await Task.WhenAll(_a, _b).WaitAsync(TimeSpan.FromSeconds(5));
            _cts.Dispose();
        }
    }

    internal const string MediaJs = """
        () => {
          window.M = {
            pc: null, video: null, kinds: [],
            async offer(o) {
              const pc = new RTCPeerConnection();
              this.pc = pc;
              const v = document.createElement('video');
              v.muted = true; v.autoplay = true; v.playsInline = true;
              document.body.appendChild(v);
              this.video = v;
              const ms = new MediaStream();
              pc.ontrack = e => { ms.addTrack(e.track); v.srcObject = ms; v.play().catch(() => {}); this.kinds.push(e.track.kind); };
              if (o.recvVideo) pc.addTransceiver('video', { direction: 'recvonly' });
              if (o.recvAudio) pc.addTransceiver('audio', { direction: 'recvonly' });
              if (o.mic) {
                const s = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
                pc.addTransceiver(s.getAudioTracks()[0], { direction: 'sendonly', streams: [s] });
              }
              await pc.setLocalDescription(await pc.createOffer());
              if (pc.iceGatheringState !== 'complete')
                await new Promise(r => pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') r(); }));
              return pc.localDescription.sdp;
            },
            async accept(sdp) { await this.pc.setRemoteDescription({ type: 'answer', sdp }); return true; },
            async stats() {
              const r = await this.pc.getStats();
              const out = { w: this.video ? this.video.videoWidth : 0, h: this.video ? this.video.videoHeight : 0, state: this.pc.connectionState };
              r.forEach(s => {
                if (s.type === 'inbound-rtp') out[s.kind] = {
                  framesDecoded: s.framesDecoded || 0, keyFramesDecoded: s.keyFramesDecoded || 0, packetsReceived: s.packetsReceived || 0,
                  packetsLost: s.packetsLost || 0, nackCount: s.nackCount || 0, pliCount: s.pliCount || 0, firCount: s.firCount || 0,
                  freezeCount: s.freezeCount || 0, totalFreezesDuration: s.totalFreezesDuration || 0, framesDropped: s.framesDropped || 0, framesReceived: s.framesReceived || 0, jbDelay: s.jitterBufferDelay || 0, jbCount: s.jitterBufferEmittedCount || 0, totalSamplesReceived: s.totalSamplesReceived || 0, jitter: s.jitter || 0,
                };
              });
              return JSON.stringify(out);
            },
          };
          return true;
        }
        """;
}
