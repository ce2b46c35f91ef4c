using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using OspBridge.Media.Rtsp;

namespace OspBridge.Media.Tests.Rtsp;

/// <summary>
/// The RTSP/UDP receive loop under a fake clock: the reorder release and the receiver report happen at the stream's own
/// deadline (a timer armed at <c>RtpReceiveStream.NextDeadline</c>), not at a polling tick (issue 8 §2: the session used
/// to poll its streams every 20 ms, which released a frame whose deadline was at 107 ms only at 120 ms).
/// </summary>
public sealed class RtspUdpReceiverTests
{
    private const string PcmuSdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    private static readonly TimeSpan Sync = TimeSpan.FromSeconds(10); // real-time bound for the loop to answer

    [Fact]
    public async Task Reorder_wait_releases_at_the_streams_deadline_not_at_a_tick()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero));
        long start = time.GetTimestamp();
        using var random = RandomNumberGenerator.Create();
        using var track = RtspUdpTrack.Open(IPAddress.Loopback, IPAddress.Loopback, RtspSessionDescription.Parse(PcmuSdp).Media[0], random);
        Assert.True(track.Configure(null)); // a terse server: no RTCP port, so nothing is sent
        var frames = new List<(TimeSpan At, byte Tag)>();
        using var delivered = new SemaphoreSlim(0);
        await using var receiver = new RtspUdpReceiver([track], f =>
        {
            frames.Add((time.GetElapsedTime(start), f.Frame.Data.Span[0]));
            delivered.Release();
        }, () => { }, time, NullLogger.Instance, "test");
        receiver.Start();
        using var cts = new CancellationTokenSource(Sync);

        Assert.True(receiver.Post(track, rtcp: false, Rtp(100)));
        Assert.True(receiver.Post(track, rtcp: false, Rtp(101)));
        await receiver.SyncAsync(cts.Token);
        Assert.Empty(frames); // start-up: the first packets wait MaxReorderWait (50 ms) for earlier ones

        time.Advance(TimeSpan.FromMilliseconds(49));
        await receiver.SyncAsync(cts.Token);
        Assert.Empty(frames);
        // From here on only the loop's timer may wake it: a sync call would run a pass of its own (which polls frames)
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(await delivered.WaitAsync(Sync) && await delivered.WaitAsync(Sync), "the start-up release did not happen at 50 ms");
        await receiver.SyncAsync(cts.Token);
        Assert.Equal([(Ms(50), (byte)100), (Ms(50), (byte)101)], frames);

        time.Advance(TimeSpan.FromMilliseconds(7)); // 57 ms: 103 arrives, 102 is missing
        Assert.True(receiver.Post(track, rtcp: false, Rtp(103)));
        await receiver.SyncAsync(cts.Token);
        Assert.Equal(2, frames.Count);
        time.Advance(TimeSpan.FromMilliseconds(49)); // 106 ms: 102 may still come
        await receiver.SyncAsync(cts.Token);
        Assert.Equal(2, frames.Count);
        time.Advance(TimeSpan.FromMilliseconds(1)); // 107 ms = 57 + 50: 102 given up, 103 out — at the deadline, not at a 20 ms tick
        Assert.True(await delivered.WaitAsync(Sync), "103 was not released at its 107 ms deadline");
        await receiver.SyncAsync(cts.Token);
        Assert.Equal(3, frames.Count);
        Assert.Equal((Ms(107), (byte)103), frames[2]);
        Assert.Equal(0, receiver.DroppedDatagrams);
    }

    [Fact]
    public async Task Receiver_report_goes_to_the_servers_rtcp_port_at_its_deadline_and_late_packets_arrive_in_order()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero));
        using var random = RandomNumberGenerator.Create();
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int serverRtcp = ((IPEndPoint)server.LocalEndPoint!).Port;
        using var track = RtspUdpTrack.Open(IPAddress.Loopback, IPAddress.Loopback, RtspSessionDescription.Parse(PcmuSdp).Media[0], random);
        Assert.True(track.Configure($"RTP/AVP;unicast;client_port={track.ClientRtpPort}-{track.ClientRtpPort + 1};server_port={serverRtcp - 1}-{serverRtcp}"));
        var tags = new List<byte>();
        int rtcpSent = 0;
        await using var receiver = new RtspUdpReceiver([track], f => tags.Add(f.Frame.Data.Span[0]), () => rtcpSent++, time, NullLogger.Instance, "test");
        receiver.Start();
        using var cts = new CancellationTokenSource(Sync);

        foreach (ushort seq in (ushort[])[11, 10, 13, 12])
            Assert.True(receiver.Post(track, rtcp: false, Rtp(seq)));
        await receiver.SyncAsync(cts.Token);
        time.Advance(TimeSpan.FromMilliseconds(999)); // start-up wait over; the first report is due 1 s after the first packet
        await receiver.SyncAsync(cts.Token);
        Assert.Equal([10, 11, 12, 13], tags);
        Assert.Equal(0, rtcpSent);
        Assert.Equal(0, server.Available);

        time.Advance(TimeSpan.FromMilliseconds(1)); // only the loop's timer wakes it now
        var buffer = new byte[1500];
        int n = await server.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        await receiver.SyncAsync(cts.Token);
        Assert.Equal(1, rtcpSent);
        Assert.True(n >= 8, $"{n} octets");
        Assert.Equal(201, buffer[1]); // a compound starting with a receiver report (RFC 3550 §6.4.2)
        Assert.Equal(track.Stream.LocalSsrc, BinaryPrimitives.ReadUInt32BigEndian(buffer.AsSpan(4)));
        Assert.Equal(1, track.Counters.RtcpSent);
    }

    [Fact]
    public async Task A_sequence_jump_before_the_first_frame_does_not_spin_the_loop()
    {
        // 1000, then 1600 (beyond the 512-packet ring): the head is skipped while nothing was delivered yet, and the
        // stream's start-up deadline (50 ms) stays in the past until the skipped head's own wait ends (~100 ms). The
        // system clock on purpose: a fake clock does not fire the zero-delay timer a spinning loop re-arms.
        using var random = RandomNumberGenerator.Create();
        using var track = RtspUdpTrack.Open(IPAddress.Loopback, IPAddress.Loopback, RtspSessionDescription.Parse(PcmuSdp).Media[0], random);
        Assert.True(track.Configure(null));
        var frames = new List<byte>();
        using var delivered = new SemaphoreSlim(0);
        await using var receiver = new RtspUdpReceiver([track], f =>
        {
            frames.Add(f.Frame.Data.Span[0]);
            delivered.Release();
        }, () => { }, TimeProvider.System, NullLogger.Instance, "test");
        receiver.Start();
        Assert.True(receiver.Post(track, rtcp: false, Rtp(1000)));
        Assert.True(receiver.Post(track, rtcp: false, Rtp(1600)));
        Assert.True(await delivered.WaitAsync(Sync), "1600 was not released after the skipped head's wait");
        Assert.Equal([(byte)(1600 & 0xff)], frames);
        long wakeups = receiver.Counters.Wakeups;
        Assert.True(wakeups < 50, $"{wakeups} wake-ups for two datagrams and a 100 ms wait");
    }

    [Fact]
    public async Task A_pli_owed_after_a_dropped_delta_frame_goes_out_at_once_without_a_retry_tick()
    {
        // Video waits for a keyframe: at the end of the start-up hold (50 ms) the delta frame is dropped and a PLI is
        // owed. RtpReceiveStream.NextDeadline names that as due now, so the loop's next pass sends it at 50 ms — before
        // session 12 the receiver needed a "frames were handed out" flag and a 5 ms stale-deadline retry for this.
        const string h264Sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero));
        using var random = RandomNumberGenerator.Create();
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int serverRtcp = ((IPEndPoint)server.LocalEndPoint!).Port;
        using var track = RtspUdpTrack.Open(IPAddress.Loopback, IPAddress.Loopback, RtspSessionDescription.Parse(h264Sdp).Media[0], random);
        Assert.True(track.Configure($"RTP/AVP;unicast;client_port={track.ClientRtpPort}-{track.ClientRtpPort + 1};server_port={serverRtcp - 1}-{serverRtcp}"));
        int frames = 0, rtcpSent = 0;
        await using var receiver = new RtspUdpReceiver([track], _ => frames++, () => rtcpSent++, time, NullLogger.Instance, "test");
        receiver.Start();
        using var cts = new CancellationTokenSource(Sync);

        var delta = new byte[12 + 20];
        delta[0] = 0x80;
        delta[1] = 0x80 | 96; // marker: the whole frame
        BinaryPrimitives.WriteUInt16BigEndian(delta.AsSpan(2), 7);
        BinaryPrimitives.WriteUInt32BigEndian(delta.AsSpan(4), 90_000);
        BinaryPrimitives.WriteUInt32BigEndian(delta.AsSpan(8), 0x1234_5678);
        delta[12] = 0x41; // a non-IDR slice
        Assert.True(receiver.Post(track, rtcp: false, delta));
        await receiver.SyncAsync(cts.Token);
        time.Advance(TimeSpan.FromMilliseconds(49));
        await receiver.SyncAsync(cts.Token);
        Assert.Equal(0, rtcpSent);

        time.Advance(TimeSpan.FromMilliseconds(1)); // 50 ms: only the loop's timer wakes it
        var buffer = new byte[1500];
        int n = await server.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        await receiver.SyncAsync(cts.Token);
        Assert.Equal(0, frames); // the delta frame was dropped
        Assert.Equal(1, rtcpSent);
        Assert.Equal(1, track.Stream.Statistics.PlisSent);
        // RR, SDES, then PSFB (206) with FMT 1 (PLI)
        int at = 0;
        bool pli = false;
        while (at + 4 <= n)
        {
            if (buffer[at + 1] == 206 && (buffer[at] & 0x1f) == 1)
                pli = true;
            at += (BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(at + 2)) + 1) * 4;
        }
        Assert.True(pli, "the compound carries no PLI");
    }

    private static TimeSpan Ms(int ms) => TimeSpan.FromMilliseconds(ms);

    /// <summary>A PCMU packet (payload type 0, 160 samples) whose first payload octet is the low byte of its sequence number.</summary>
    private static byte[] Rtp(ushort seq)
    {
        var p = new byte[12 + 160];
        p[0] = 0x80;
        p[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), seq);
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(4), (uint)(seq * 160));
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(8), 0x1234_5678);
        p[12] = (byte)seq;
        return p;
    }
}
