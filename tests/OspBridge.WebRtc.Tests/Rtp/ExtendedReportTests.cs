using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Rtp.Rtcp;

namespace OspBridge.WebRtc.Tests.Rtp;

/// <summary>
/// RFC 3611 XR: RRTR and DLRR wire format (golden bytes, also in docs/media.md), malformed blocks, and the RTT a
/// receive-only stream measures with them (RtpReceiveStream sends RRTR, RtpSendStream answers DLRR with its SR).
/// </summary>
public class ExtendedReportTests(Xunit.Abstractions.ITestOutputHelper output)
{
    // XR from SSRC 0x11223344 with one RRTR, NTP 0x0000000A_80000000 (10.5 s)
    internal const string RrtrGolden = "80cf0004 11223344 04000002 0000000a 80000000";

    // XR from SSRC 0x55667788 with one DLRR: receiver 0x11223344, LRR 0x000a8000, DLRR 0x00008000 (0.5 s)
    internal const string DlrrGolden = "80cf0005 55667788 05000003 11223344 000a8000 00008000";

    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", "", StringComparison.Ordinal));

    [Fact]
    public void Rrtr_matches_the_golden_bytes_and_reads_back()
    {
        var buf = new byte[64];
        Assert.True(ReceiverReferenceTime.TryWrite(buf, 0x11223344, 0x0000000A_80000000, out int n));
        Assert.Equal(Hex(RrtrGolden), buf[..n]);
        Assert.True(ExtendedReport.TryRead(buf.AsSpan(0, n), out var xr));
        Assert.Equal(0x11223344u, xr.Ssrc);
        var blocks = xr.Blocks;
        Assert.True(blocks.TryRead(out byte type, out var block));
        Assert.Equal(ReceiverReferenceTime.BlockType, type);
        Assert.True(ReceiverReferenceTime.TryRead(block, out ulong ntp));
        Assert.Equal(0x0000000A_80000000ul, ntp);
        Assert.Equal(0x000A8000u, NtpTime.Middle(ntp));
        Assert.False(blocks.TryRead(out _, out _));
        Assert.False(blocks.IsMalformed);
        Assert.False(ReceiverReferenceTime.TryWrite(new byte[19], 1, 1, out _));
    }

    [Fact]
    public void Dlrr_matches_the_golden_bytes_and_reads_back()
    {
        var buf = new byte[128];
        Assert.True(DelaySinceLastReceiverReport.TryWrite(buf, 0x55667788, [new DlrrSubBlock(0x11223344, 0x000a8000, 0x8000)], out int n));
        Assert.Equal(Hex(DlrrGolden), buf[..n]);
        Assert.True(ExtendedReport.TryRead(buf.AsSpan(0, n), out var xr));
        var blocks = xr.Blocks;
        Assert.True(blocks.TryRead(out byte type, out var block));
        Assert.Equal(DelaySinceLastReceiverReport.BlockType, type);
        Assert.True(DelaySinceLastReceiverReport.TryRead(block, out var dlrr));
        Assert.Equal(1, dlrr.Count);
        Assert.Equal(new DlrrSubBlock(0x11223344, 0x000a8000, 0x8000), dlrr.SubBlock(0));
        Assert.Equal(TimeSpan.FromMilliseconds(500), NtpTime.FromCompact(dlrr.SubBlock(0).DelaySinceLastReceiverReport));
        Assert.False(DelaySinceLastReceiverReport.TryWrite(buf, 1, [], out _));
        Assert.False(DelaySinceLastReceiverReport.TryWrite(buf, 1, new DlrrSubBlock[DelaySinceLastReceiverReport.MaxSubBlocks + 1], out _));
    }

    [Fact]
    public void Malformed_blocks_are_refused_and_stop_the_walk()
    {
        // block length runs past the packet
        var bad = Hex("80cf0003 11223344 04000009 00000000");
        Assert.True(ExtendedReport.TryRead(bad, out var xr));
        var blocks = xr.Blocks;
        Assert.False(blocks.TryRead(out _, out _));
        Assert.True(blocks.IsMalformed);
        // DLRR whose length is not a multiple of 3 words; RRTR with the wrong length; unknown block types skipped
        var mixed = Hex("80cf0009 11223344 05000002 00000001 00000002 2a000001 deadbeef 04000002 00000001 00000002");
        Assert.True(ExtendedReport.TryRead(mixed, out xr));
        blocks = xr.Blocks;
        Assert.True(blocks.TryRead(out byte t1, out var b1));
        Assert.Equal(5, t1);
        Assert.False(DelaySinceLastReceiverReport.TryRead(b1, out _));
        Assert.True(blocks.TryRead(out byte t2, out var b2));
        Assert.Equal(42, t2);
        Assert.False(ReceiverReferenceTime.TryRead(b2, out _));
        Assert.True(blocks.TryRead(out _, out var b3));
        Assert.True(ReceiverReferenceTime.TryRead(b3, out ulong ntp));
        Assert.Equal(0x0000000100000002ul, ntp);
        Assert.False(blocks.IsMalformed);
        // not an XR / too short
        Assert.False(ExtendedReport.TryRead(Hex("80c90001 11223344"), out _));
        Assert.False(ExtendedReport.TryRead(Hex("80cf0000"), out _));
    }

    [Fact]
    public void A_receive_only_stream_measures_the_rtt_with_rrtr_and_dlrr_and_paces_nacks_with_it()
    {
        var s = new RtpSendStream(new RtpSendStreamOptions { Random = new SeededRandomNumberGenerator(3), Codec = MediaCodec.Opus, PayloadType = 111, WallClockOrigin = new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero) });
        var r = new RtpReceiveStream(new RtpReceiveStreamOptions { Random = new SeededRandomNumberGenerator(4), Codec = MediaCodec.Opus, PayloadType = 111, Remb = false });
        var oneWay = TimeSpan.FromMilliseconds(35);
        var buf = new byte[1500];
        var toReceiver = new List<(TimeSpan At, byte[] Data, bool Rtcp)>();
        var toSender = new List<(TimeSpan At, byte[] Data)>();
        int rrtrSeen = 0, dlrrSeen = 0;
        for (var now = TimeSpan.Zero; now < TimeSpan.FromSeconds(6); now += TimeSpan.FromMilliseconds(5))
        {
            if (now.Ticks % TimeSpan.FromMilliseconds(20).Ticks == 0)
                s.SendFrame(new EncodedFrame(MediaCodec.Opus, new byte[] { 0xfc, 1, 2, 3 }, now, true), now);
            if (s.NextDeadline is { } due && now >= due)
                s.HandleDeadline(now);
            while (s.TryPollTransmit(buf, now, out int n, out bool isRtcp))
            {
                toReceiver.Add((now + oneWay, buf[..n], isRtcp));
                if (isRtcp && ContainsBlock(buf.AsSpan(0, n), DelaySinceLastReceiverReport.BlockType))
                    dlrrSeen++;
            }
            foreach (var (at, data, rtcp) in toReceiver.Where(p => p.At <= now).ToList())
            {
                if (rtcp) r.ReceiveRtcp(data, now);
                else r.ReceiveRtp(data, now);
                toReceiver.Remove((at, data, rtcp));
            }
            while (r.TryPollFrame(now, out _))
            {
            }
            if (r.NextDeadline is { } rd && now >= rd)
                r.HandleDeadline(now);
            while (r.TryPollTransmit(buf, now, out int n))
            {
                toSender.Add((now + oneWay, buf[..n]));
                if (ContainsBlock(buf.AsSpan(0, n), ReceiverReferenceTime.BlockType))
                    rrtrSeen++;
            }
            foreach (var (at, data) in toSender.Where(p => p.At <= now).ToList())
            {
                s.ReceiveRtcp(data, now);
                toSender.Remove((at, data));
            }
        }
        output.WriteLine($"RRTR sent {rrtrSeen}, DLRR sent {dlrrSeen}, sender saw {s.Statistics.RrtrReceived} RRTR, measured RTT {r.MeasuredRoundTripTime?.TotalMilliseconds} ms");
        Assert.True(rrtrSeen >= 3, $"RRTR blocks sent: {rrtrSeen}");
        Assert.True(dlrrSeen >= 2, $"DLRR blocks sent: {dlrrSeen}");
        Assert.NotNull(r.MeasuredRoundTripTime);
        // 2 × 35 ms; the 5 ms step quantizes when each side acts, DLRR covers the sender's hold time exactly
        Assert.InRange(r.MeasuredRoundTripTime!.Value.TotalMilliseconds, 69.9, 75.1);
        Assert.Null(r.RoundTripTime); // nobody set it: the NACK pacing uses the measured value
    }

    [Fact]
    public void Nack_retries_are_paced_by_the_measured_rtt()
    {
        // a DLRR answering our RRTR with RTT 300 ms: a lost packet is NACKed again only after 300 ms, not the 100 ms default
        var r = new RtpReceiveStream(new RtpReceiveStreamOptions { Random = new SeededRandomNumberGenerator(5), Codec = MediaCodec.Opus, PayloadType = 111, Remb = false, ReportInterval = TimeSpan.FromMilliseconds(100) });
        var buf = new byte[1500];
        var rtp = new byte[] { 0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0xfc };
        for (ushort seq = 1; seq <= 3; seq++)
        {
            rtp[2] = (byte)(seq >> 8);
            rtp[3] = (byte)seq;
            Assert.True(r.ReceiveRtp(rtp, TimeSpan.FromMilliseconds(seq)));
        }
        // RR + RRTR
        ulong? rrtrNtp = null;
        var t = TimeSpan.FromMilliseconds(3);
        for (; rrtrNtp is null && t < TimeSpan.FromSeconds(1); t += TimeSpan.FromMilliseconds(1))
        {
            if (r.TryPollTransmit(buf, t, out int n))
                rrtrNtp = FindRrtr(buf.AsSpan(0, n));
        }
        Assert.NotNull(rrtrNtp);
        var sentAt = t - TimeSpan.FromMilliseconds(1);
        var dlrrAt = sentAt + TimeSpan.FromMilliseconds(300);
        DelaySinceLastReceiverReport.TryWrite(buf, 9, [new DlrrSubBlock(r.LocalSsrc, NtpTime.Middle(rrtrNtp!.Value), 0)], out int len);
        r.ReceiveRtcp(buf.AsSpan(0, len), dlrrAt);
        Assert.NotNull(r.MeasuredRoundTripTime);
        Assert.InRange(r.MeasuredRoundTripTime!.Value.TotalMilliseconds, 299.9, 300.1);
        // a hole at seq 4: first NACK after 5 ms, the retry one measured RTT later
        rtp[3] = 5;
        var lossAt = dlrrAt + TimeSpan.FromMilliseconds(1);
        Assert.True(r.ReceiveRtp(rtp, lossAt));
        var nacks = new List<TimeSpan>();
        for (var now = lossAt; now < lossAt + TimeSpan.FromMilliseconds(700); now += TimeSpan.FromMilliseconds(1))
        {
            while (r.TryPollTransmit(buf, now, out int n))
            {
                var reader = new RtcpCompoundReader(buf.AsSpan(0, n));
                while (reader.TryRead(out var h, out _))
                {
                    if (h.PacketType == (byte)RtcpPacketType.TransportFeedback)
                        nacks.Add(now - lossAt);
                }
            }
        }
        output.WriteLine("NACKs at " + string.Join(", ", nacks.Select(n => $"{n.TotalMilliseconds} ms")));
        Assert.True(nacks.Count >= 2, $"NACKs: {nacks.Count}");
        Assert.InRange((nacks[1] - nacks[0]).TotalMilliseconds, 299, 302);
    }

    private static bool ContainsBlock(ReadOnlySpan<byte> compound, byte blockType)
    {
        var reader = new RtcpCompoundReader(compound);
        while (reader.TryRead(out _, out var p))
        {
            if (!ExtendedReport.TryRead(p, out var xr))
                continue;
            var blocks = xr.Blocks;
            while (blocks.TryRead(out byte type, out _))
            {
                if (type == blockType)
                    return true;
            }
        }
        return false;
    }

    private static ulong? FindRrtr(ReadOnlySpan<byte> compound)
    {
        var reader = new RtcpCompoundReader(compound);
        while (reader.TryRead(out _, out var p))
        {
            if (!ExtendedReport.TryRead(p, out var xr))
                continue;
            var blocks = xr.Blocks;
            while (blocks.TryRead(out _, out var block))
            {
                if (ReceiverReferenceTime.TryRead(block, out ulong ntp))
                    return ntp;
            }
        }
        return null;
    }
}
