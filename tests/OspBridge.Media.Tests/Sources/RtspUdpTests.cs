using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using OspBridge.Media.Hub;
using OspBridge.Media.Rtsp;
using OspBridge.Media.Sources;
using OspBridge.Media.Writers;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Rtp.Rtcp;

namespace OspBridge.Media.Tests.Sources;

/// <summary>
/// RTSP over UDP (RFC 2326 <c>client_port</c>): against GStreamer's RTSP server (real UDP on 127.0.0.1, and its
/// TCP-only mode that answers 461), and against a scripted server in this file that checks our receiver reports
/// (extended highest sequence, LSR from its SR), drops datagrams from another address, and goes silent on UDP so the
/// client must fall back to TCP-interleaved.
/// </summary>
public class RtspUdpTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Transport_query_parameter_is_ours_and_removed_from_the_request_uri()
    {
        var u = RtspUri.Parse("rtsp://cam.local:8554/live?channel=1&transport=udp&subtype=0");
        Assert.Equal(RtspTransport.Udp, u.Transport);
        Assert.Equal("rtsp://cam.local:8554/live?channel=1&subtype=0", u.RequestUri);
        Assert.Equal(RtspTransport.Tcp, RtspUri.Parse("rtsp://cam/x?transport=TCP").Transport);
        Assert.Equal("rtsp://cam:554/x", RtspUri.Parse("rtsp://cam/x?transport=tcp").RequestUri);
        Assert.Null(RtspUri.Parse("rtsp://cam/x?a=b").Transport);
        var bad = Assert.Throws<MediaException>(() => RtspUri.Parse("rtsp://u:secret@cam/x?transport=sctp"));
        Assert.DoesNotContain("secret", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gstreamer_camera_over_udp_gives_decodable_h264_and_opus_and_gets_receiver_reports()
    {
        int port = Tools.FreeTcpPort();
        await using var server = await RtspStandIn.StartAsync(port);
        var logs = new List<string>();
        var source = (RtspSource)MediaSource.Create(server.Url + "?transport=udp", new MediaSourceOptions { LoggerFactory = Tools.Logs(logs) });
        await using var hub = new MediaHub(source);
        await using var sink = await hub.AddSinkAsync();
        var (video, audio, keyframes, written, dir, file) = await Tools.RecordAsync(sink, "ospb-rtsp-udp-");
        output.WriteLine($"{video} video ({keyframes} key), {audio} audio; transport {source.Transport}, {source.UdpRtpDatagrams} RTP datagrams, " +
            $"{source.UdpRtcpSent} RTCP sent, fallbacks {source.UdpFallbacks} ({source.UdpFallbackReason}); {hub.Source.Info}");
        output.WriteLine(string.Join('\n', logs));
        Assert.Equal(RtspTransport.Udp, source.Transport);
        Assert.Equal(0, source.UdpFallbacks);
        Assert.True(source.UdpRtpDatagrams > 100, $"{source.UdpRtpDatagrams} RTP datagrams over UDP");
        Assert.True(source.UdpRtcpSent >= 2, $"{source.UdpRtcpSent} RTCP packets sent (the first empty RR per track, then periodic RRs)");
        Assert.True(keyframes >= 2, $"{keyframes} keyframes");
        Assert.True(audio > 20, $"{audio} Opus frames");
        Assert.Equal((640, 360), (hub.Source.Info.Width, hub.Source.Info.Height));
        var (w, h, frames) = await Tools.ProbeVideoAsync(file);
        Assert.Equal((640, 360), (w, h));
        Assert.InRange(frames, written * 95 / 100, written * 105 / 100);
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Udp_answered_461_falls_back_to_tcp_interleaved_at_once()
    {
        int port = Tools.FreeTcpPort();
        await using var server = await RtspStandIn.StartAsync(port, protocols: "tcp");
        var source = (RtspSource)MediaSource.Create(server.Url, new MediaSourceOptions { RtspUseTcp = false, InitialBackoff = TimeSpan.FromSeconds(20) });
        await using var hub = new MediaHub(source);
        await using var sink = await hub.AddSinkAsync();
        int keyframes = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        await foreach (var f in sink.ReadAllAsync(cts.Token))
        {
            if (f.Codec == MediaCodec.H264 && f.IsKeyframe && ++keyframes >= 2)
                break;
        }
        output.WriteLine($"transport {source.Transport}, fallbacks {source.UdpFallbacks}: {source.UdpFallbackReason}; sessions {source.Sessions}");
        Assert.Equal(2, keyframes);
        Assert.Equal(RtspTransport.Tcp, source.Transport);
        Assert.Equal(1, source.UdpFallbacks);
        Assert.Contains("461", source.UdpFallbackReason, StringComparison.Ordinal);
        Assert.Equal(1, source.Sessions); // the 461 came before PLAY; the 20 s back-off was not waited
    }

    [Fact]
    public async Task Receiver_reports_carry_our_reception_state_and_foreign_datagrams_are_dropped()
    {
        await using var camera = new ScriptedRtspCamera(silentUdp: false);
        var logs = new List<string>();
        var source = (RtspSource)MediaSource.Create(camera.Url + "?transport=udp", new MediaSourceOptions { RtspRequestTimeout = TimeSpan.FromSeconds(20), LoggerFactory = Tools.Logs(logs) });
        var frames = new List<(int Length, TimeSpan Timestamp)>();
        var got = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        source.FrameReceived = f =>
        {
            lock (frames)
            {
                frames.Add((f.Data.Length, f.Timestamp));
                if (frames.Count >= 50)
                    got.TrySetResult();
            }
        };
        await source.StartAsync(CancellationToken.None);
        try
        {
            var waited = await Task.WhenAny(got.Task, Task.Delay(TimeSpan.FromSeconds(60)));
            Assert.True(waited == got.Task, $"{frames.Count} frames; {source.UdpRtpDatagrams} RTP datagrams, {source.UdpForeignDatagrams} foreign, state {source.State}, setups {string.Join(" | ", camera.SetupTransports)}; log: {string.Join('\n', logs)}");
            var rr = await camera.ReceiverReportAfterSenderReport.Task.WaitAsync(TimeSpan.FromSeconds(60));
            output.WriteLine($"RR: ssrc {rr.Ssrc:x8} ext-highest {rr.ExtendedHighestSequence} lost {rr.CumulativeLost} lsr {rr.LastSenderReport:x8} dlsr {rr.DelaySinceLastSenderReport}; " +
                $"foreign datagrams sent {camera.ForeignSent}; first RR {camera.EmptyReports}");
            Assert.Equal(ScriptedRtspCamera.Ssrc, rr.Ssrc);
            Assert.Equal(camera.SrMiddle, rr.LastSenderReport);
            Assert.InRange(rr.ExtendedHighestSequence, (uint)ScriptedRtspCamera.FirstSequence + 40, (uint)ScriptedRtspCamera.FirstSequence + 400);
            Assert.Equal(0, rr.CumulativeLost);
            Assert.True(camera.EmptyReports >= 1, "no empty RR right after PLAY");
        }
        finally
        {
            await source.StopAsync(CancellationToken.None);
        }
        lock (frames)
        {
            // every frame is one of ours (a 40-byte payload, 20 ms apart); the foreign 99-byte datagrams never made it
            Assert.All(frames, f => Assert.Equal(ScriptedRtspCamera.PayloadSize, f.Length));
            for (int i = 1; i < frames.Count; i++)
                Assert.Equal(TimeSpan.FromMilliseconds(20), frames[i].Timestamp - frames[i - 1].Timestamp);
        }
        Assert.True(camera.ForeignSent > 0);
        Assert.Equal(RtspTransport.Udp, source.Transport);
    }

    [Fact]
    public async Task Silent_udp_falls_back_to_tcp_after_the_udp_timeout()
    {
        await using var camera = new ScriptedRtspCamera(silentUdp: true);
        var options = new MediaSourceOptions { RtspUseTcp = false, RtspUdpTimeout = TimeSpan.FromSeconds(1.5), InitialBackoff = TimeSpan.FromSeconds(30) };
        var source = (RtspSource)MediaSource.Create(camera.Url, options);
        var got = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int count = 0;
        source.FrameReceived = f =>
        {
            if (Interlocked.Increment(ref count) >= 20)
                got.TrySetResult();
        };
        await source.StartAsync(CancellationToken.None);
        try
        {
            await got.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            await source.StopAsync(CancellationToken.None);
        }
        string setups = string.Join(" | ", camera.SetupTransports);
        output.WriteLine($"SETUP transports: {setups}; reason {source.UdpFallbackReason}; teardowns {camera.Teardowns}");
        Assert.Equal(RtspTransport.Tcp, source.Transport);
        Assert.Equal(1, source.UdpFallbacks);
        Assert.Contains("no RTP datagram", source.UdpFallbackReason, StringComparison.Ordinal);
        Assert.StartsWith("RTP/AVP;unicast;client_port=", camera.SetupTransports[0], StringComparison.Ordinal);
        Assert.StartsWith("RTP/AVP/TCP;unicast;interleaved=0-1", camera.SetupTransports[1], StringComparison.Ordinal);
        Assert.True(camera.Teardowns >= 1, "the silent UDP session was not torn down");
        int even = int.Parse(camera.SetupTransports[0]["RTP/AVP;unicast;client_port=".Length..].Split('-')[0], CultureInfo.InvariantCulture);
        Assert.Equal(0, even % 2);
    }

    /// <summary>
    /// A one-track (Opus, PT 111) RTSP server on 127.0.0.1 scripted for these tests: UDP SETUP answered with
    /// <c>server_port</c>; after PLAY, 20 ms RTP packets (SSRC <see cref="Ssrc"/>, 40-byte payloads) to the client's RTP
    /// port, an SR after 10 packets, and every 5th packet a 99-byte packet from 127.0.0.2 (must be dropped). With
    /// <c>silentUdp</c> nothing is sent over UDP, and a later TCP SETUP gets the packets interleaved.
    /// </summary>
    private sealed class ScriptedRtspCamera : IAsyncDisposable
    {
        public const uint Ssrc = 0x5eed1234;
        public const ushort FirstSequence = 65500; // wraps during the test
        public const int PayloadSize = 40;
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _cts = new();
        private readonly bool _silentUdp;
        private readonly Task _accept;
        private readonly List<IDisposable> _owned = [];

        public ScriptedRtspCamera(bool silentUdp)
        {
            _silentUdp = silentUdp;
            _listener.Start();
            _accept = Task.Run(AcceptAsync);
        }

        public string Url => $"rtsp://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/cam";

        public List<string> SetupTransports { get; } = [];

        public int Teardowns { get; private set; }

        public int ForeignSent { get; private set; }

        public int EmptyReports { get; private set; }

        public uint SrMiddle { get; private set; }

        public TaskCompletionSource<ReceptionReport> ReceiverReportAfterSenderReport { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private async Task AcceptAsync()
        {
            var sessions = new List<Task>();
            try
            {
                for (int i = 0; i < 8; i++)
                {
                    var client = await _listener.AcceptTcpClientAsync(_cts.Token);
                    lock (_owned)
                        _owned.Add(client);
                    sessions.Add(Task.Run(() => ServeAsync(client)));
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
            await Task.WhenAll(sessions.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        }

        private async Task ServeAsync(TcpClient client)
        {
            var stream = client.GetStream();
            var buffer = new byte[64 * 1024];
            int length = 0;
            int clientRtp = 0;
            bool interleaved = false;
            Task? media = null;
            var writeLock = new SemaphoreSlim(1, 1);
            try
            {
                while (!_cts.IsCancellationRequested)
                {
                    int n = await stream.ReadAsync(buffer.AsMemory(length), _cts.Token);
                    if (n == 0)
                        return;
                    length += n;
                    while (true)
                    {
                        if (length > 0 && buffer[0] == RtspInterleavedFrame.Marker)
                        {
                            var st = RtspInterleavedFrame.TryRead(buffer.AsSpan(0, length), out _, out _, out int used);
                            if (st != RtspReadStatus.Complete)
                                break;
                            buffer.AsSpan(used, length - used).CopyTo(buffer);
                            length -= used;
                            continue;
                        }
                        var status = RtspRequest.TryRead(buffer.AsSpan(0, length), out var request, out int consumed);
                        if (status != RtspReadStatus.Complete)
                            break;
                        buffer.AsSpan(consumed, length - consumed).CopyTo(buffer);
                        length -= consumed;
                        var response = new RtspResponse(200, "OK");
                        response.Headers.Add("CSeq", request!.Headers.Get("CSeq") ?? "0");
                        switch (request.Method)
                        {
                            case "OPTIONS":
                                response.Headers.Add("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER");
                                break;
                            case "DESCRIBE":
                                response.Headers.Add("Content-Type", "application/sdp");
                                response.Headers.Add("Content-Base", Url + "/");
                                response.Body = Encoding.ASCII.GetBytes("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=scripted\r\nt=0 0\r\na=control:*\r\n" +
                                    "m=audio 0 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=control:track1\r\n");
                                break;
                            case "SETUP":
                                string transport = request.Headers.Get("Transport") ?? "";
                                lock (SetupTransports)
                                    SetupTransports.Add(transport);
                                response.Headers.Add("Session", "42;timeout=60");
                                if (transport.Contains("client_port=", StringComparison.Ordinal))
                                {
                                    clientRtp = int.Parse(transport.Split("client_port=")[1].Split('-')[0], CultureInfo.InvariantCulture);
                                    var rtcp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
                                    lock (_owned)
                                        _owned.Add(rtcp);
                                    int rtcpPort = ((IPEndPoint)rtcp.Client.LocalEndPoint!).Port;
                                    response.Headers.Add("Transport", $"RTP/AVP;unicast;client_port={clientRtp}-{clientRtp + 1};server_port={rtcpPort - 1}-{rtcpPort}");
                                    _ = Task.Run(() => ReadReportsAsync(rtcp));
                                }
                                else
                                {
                                    interleaved = true;
                                    response.Headers.Add("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1");
                                }
                                break;
                            case "PLAY":
                                if (interleaved)
                                    media = SendInterleavedAsync(stream, writeLock);
                                else if (!_silentUdp)
                                    media = SendUdpAsync(clientRtp);
                                break;
                            case "TEARDOWN":
                                Teardowns++;
                                break;
                        }
                        await writeLock.WaitAsync(_cts.Token);
                        try
                        {
                            await stream.WriteAsync(response.ToBytes(), _cts.Token);
                        }
                        finally
                        {
                            writeLock.Release();
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
            }
        }

        private static int WritePacket(Span<byte> p, ushort seq, uint timestamp, int payload, byte fill)
        {
            p[0] = 0x80;
            p[1] = 111;
            BinaryPrimitives.WriteUInt16BigEndian(p[2..], seq);
            BinaryPrimitives.WriteUInt32BigEndian(p[4..], timestamp);
            BinaryPrimitives.WriteUInt32BigEndian(p[8..], Ssrc);
            p.Slice(12, payload).Fill(fill);
            p[12] = 0x08; // Opus TOC: SILK NB 20 ms, one frame
            return 12 + payload;
        }

        private async Task SendUdpAsync(int clientRtp)
        {
            using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            using var foreign = new UdpClient(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
            var target = new IPEndPoint(IPAddress.Loopback, clientRtp);
            byte[] packet = new byte[1500];
            ushort seq = FirstSequence;
            uint ts = 1000;
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
            for (int i = 0; i < 3000 && await timer.WaitForNextTickAsync(_cts.Token); i++, seq++, ts += 960)
            {
                int n = WritePacket(packet, seq, ts, PayloadSize, 0x11);
                await udp.SendAsync(packet.AsMemory(0, n), target, _cts.Token);
                if (i % 5 == 2)
                {
                    // same SSRC, the next sequence number: a spoofer on the LAN; must not get into the stream
                    n = WritePacket(packet, (ushort)(seq + 1), ts + 960, 99, 0x66);
                    await foreign.SendAsync(packet.AsMemory(0, n), target, _cts.Token);
                    ForeignSent++;
                }
                if (i == 10)
                {
                    ulong ntp = 0x0000_1234_8000_0000UL + (ulong)i;
                    SrMiddle = (uint)(ntp >> 16);
                    var rtcpTarget = new IPEndPoint(IPAddress.Loopback, clientRtp + 1);
                    SenderReport.TryWrite(packet, Ssrc, ntp, ts, (uint)i, (uint)(i * PayloadSize), [], out int sr);
                    await udp.SendAsync(packet.AsMemory(0, sr), rtcpTarget, _cts.Token);
                }
            }
        }

        private async Task SendInterleavedAsync(NetworkStream stream, SemaphoreSlim writeLock)
        {
            byte[] packet = new byte[1500];
            byte[] frame = new byte[1600];
            ushort seq = FirstSequence;
            uint ts = 1000;
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
            for (int i = 0; i < 3000 && await timer.WaitForNextTickAsync(_cts.Token); i++, seq++, ts += 960)
            {
                int n = WritePacket(packet, seq, ts, PayloadSize, 0x22);
                RtspInterleavedFrame.TryWrite(frame, 0, packet.AsSpan(0, n), out int written);
                await writeLock.WaitAsync(_cts.Token);
                try
                {
                    await stream.WriteAsync(frame.AsMemory(0, written), _cts.Token);
                }
                finally
                {
                    writeLock.Release();
                }
            }
        }

        private async Task ReadReportsAsync(UdpClient rtcp)
        {
            try
            {
                for (int i = 0; i < 1000; i++)
                {
                    var r = await rtcp.ReceiveAsync(_cts.Token);
                    if (!ReceiverReport.TryRead(r.Buffer, out var rr))
                        continue;
                    if (rr.ReportCount == 0)
                    {
                        EmptyReports++;
                        continue;
                    }
                    var block = rr.Report(0);
                    if (SrMiddle != 0 && block.LastSenderReport != 0)
                        ReceiverReportAfterSenderReport.TrySetResult(block);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _cts.CancelAsync();
            _listener.Stop();
            lock (_owned)
            {
                foreach (var d in _owned)
                    d.Dispose();
            }
            await _accept;
            _cts.Dispose();
        }
    }
}
