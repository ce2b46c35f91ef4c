using System.Buffers.Binary;
using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Rtp;
using OspBridge.WebRtc.Rtp.Rtcp;
using OspBridge.WebRtc.Tests.Rtp;

namespace OspBridge.WebRtc.Tests.Media;

/// <summary>Runs alone: the fuzz test's heap bound is measured process-wide (another test's buffers, e.g. SendBufferFullTests' 16 MiB, would count).</summary>
[CollectionDefinition(nameof(RtpStreamTests), DisableParallelization = true)]
public sealed class RtpStreamCollection;

/// <summary>RtpSendStream / RtpReceiveStream: headers, retransmission (plain and RTX), keyframe requests, SR/RR, A.1/A.8, NACK recovery under loss, fuzz.</summary>
[Collection(nameof(RtpStreamTests))]
public class RtpStreamTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly DateTimeOffset Origin = new(2026, 12, 6, 0, 0, 0, TimeSpan.Zero);

    private static RtpSendStream Sender(ulong seed, MediaCodec codec = MediaCodec.H264, byte? rtx = null, int maxPacket = 1200) => new(new RtpSendStreamOptions
    {
        Random = new SeededRandomNumberGenerator(seed),
        Codec = codec,
        PayloadType = 102,
        RtxPayloadType = rtx,
        MaxPacketSize = maxPacket,
        MidExtensionId = 4,
        Mid = "0",
        WallClockOrigin = Origin,
    });

    private static RtpReceiveStream Receiver(ulong seed, MediaCodec codec = MediaCodec.H264, byte? rtx = null, uint remote = 0) => new(new RtpReceiveStreamOptions
    {
        Random = new SeededRandomNumberGenerator(seed),
        Codec = codec,
        RtxPayloadType = rtx,
        RemoteSsrc = remote,
    });

    private static byte[] AccessUnit(Random rnd, int size, bool key)
    {
        var nal = new byte[size];
        rnd.NextBytes(nal);
        for (int i = 0; i < nal.Length; i++)
        {
            if (nal[i] == 0)
                nal[i] = 7;
        }
        nal[0] = (byte)(key ? 0x65 : 0x41);
        byte[] sps = [0x67, 0x42, 0xc0, 0x1f], pps = [0x68, 0xce, 0x3c, 0x80];
        return key ? [0, 0, 0, 1, .. sps, 0, 0, 0, 1, .. pps, 0, 0, 0, 1, .. nal] : [0, 0, 0, 1, .. nal];
    }

    private static List<byte[]> Drain(RtpSendStream s, TimeSpan now, List<byte[]>? rtcp = null)
    {
        var list = new List<byte[]>();
        var buf = new byte[1500];
        while (s.TryPollTransmit(buf, now, out int n, out bool isRtcp))
            (isRtcp ? rtcp ?? [] : list).Add(buf.AsSpan(0, n).ToArray());
        return list;
    }

    [Fact]
    public void Send_stream_writes_consecutive_packets_with_one_timestamp_marker_last_and_the_mid_extension()
    {
        var s = Sender(1);
        var au = AccessUnit(new Random(1), 5000, key: true);
        int count = s.SendFrame(new EncodedFrame(MediaCodec.H264, au, TimeSpan.FromMilliseconds(500), true), TimeSpan.Zero);
        var packets = Drain(s, TimeSpan.Zero);
        Assert.Equal(count, packets.Count);
        Assert.True(count >= 5);
        var d = new H264Depacketizer();
        for (int i = 0; i < packets.Count; i++)
        {
            Assert.True(RtpHeader.TryRead(packets[i], out var h));
            Assert.True(packets[i].Length <= 1200);
            Assert.Equal(s.Ssrc, h.Ssrc);
            Assert.Equal(102, h.PayloadType);
            Assert.Equal((ushort)(packets.Count == 0 ? 0 : RtpHeaderSeq(packets[0]) + i), h.SequenceNumber);
            Assert.Equal(s.Clock.ToRtp(TimeSpan.FromMilliseconds(500)), h.Timestamp);
            Assert.Equal(s.Clock.Offset + 45_000u, h.Timestamp);
            Assert.Equal(i == packets.Count - 1, h.Marker);
            var ext = new RtpExtensionReader(h.ExtensionProfile, h.ExtensionData(packets[i]));
            Assert.True(ext.TryRead(out byte id, out var value));
            Assert.Equal(4, id);
            Assert.Equal("0"u8.ToArray(), value.ToArray());
            bool done = d.TryAdd(h.Payload(packets[i]), h.SequenceNumber, h.Timestamp, h.Marker, out var frame, out var info);
            if (done)
            {
                Assert.Equal(au, frame.ToArray());
                Assert.True(info.IsKeyframe && info.HasParameterSets);
            }
        }
        Assert.Equal(count, s.Statistics.PacketsSent);
        // a second stream from another seed starts elsewhere
        var other = Sender(2);
        Assert.NotEqual(s.Ssrc, other.Ssrc);
        Assert.NotEqual(s.Clock.Offset, other.Clock.Offset);
        Assert.NotEqual(s.NextSequenceNumber, other.NextSequenceNumber);
    }

    private static ushort RtpHeaderSeq(byte[] p) => BinaryPrimitives.ReadUInt16BigEndian(p.AsSpan(2));

    private static byte[] Nack(uint media, params ushort[] lost)
    {
        var b = new byte[256];
        Assert.True(GenericNack.TryWrite(b, 0x1234, media, lost, out int n));
        return b[..n];
    }

    [Fact]
    public void Nack_resends_the_buffered_packet_and_not_aged_or_unknown_ones()
    {
        var s = Sender(3);
        var rnd = new Random(3);
        s.SendFrame(new EncodedFrame(MediaCodec.H264, AccessUnit(rnd, 3000, true), TimeSpan.Zero, true), TimeSpan.Zero);
        var first = Drain(s, TimeSpan.Zero);
        ushort seq0 = RtpHeaderSeq(first[0]);
        s.ReceiveRtcp(Nack(s.Ssrc, seq0, (ushort)(seq0 + 2), (ushort)(seq0 + 100)), TimeSpan.FromMilliseconds(50));
        var again = Drain(s, TimeSpan.FromMilliseconds(50));
        Assert.Equal(2, again.Count);
        Assert.Equal(first[0], again[0]);
        Assert.Equal(first[2], again[1]);
        Assert.Equal(2, s.Statistics.PacketsRetransmitted);
        Assert.Equal(1, s.Statistics.NackedPacketsUnavailable); // seq0+100 was never sent
        // a NACK for another SSRC is ignored
        s.ReceiveRtcp(Nack(s.Ssrc + 1, seq0), TimeSpan.FromMilliseconds(60));
        Assert.Empty(Drain(s, TimeSpan.FromMilliseconds(60)));
        // past RetransmissionMaxAge (1 s) nothing is resent
        s.ReceiveRtcp(Nack(s.Ssrc, seq0), TimeSpan.FromMilliseconds(1001));
        Assert.Empty(Drain(s, TimeSpan.FromMilliseconds(1001)));
        Assert.Equal(2, s.Statistics.NackedPacketsUnavailable);
    }

    [Fact]
    public void Rtx_retransmission_follows_rfc_4588_and_the_receiver_unwraps_it()
    {
        var s = Sender(4, rtx: 103);
        Assert.NotEqual(0u, s.RtxSsrc);
        var au = AccessUnit(new Random(4), 2500, true);
        s.SendFrame(new EncodedFrame(MediaCodec.H264, au, TimeSpan.Zero, true), TimeSpan.Zero);
        var packets = Drain(s, TimeSpan.Zero);
        Assert.Equal(4, packets.Count); // STAP-A (SPS, PPS) + 3 FU-A
        ushort lostSeq = RtpHeaderSeq(packets[2]);
        s.ReceiveRtcp(Nack(s.Ssrc, lostSeq), TimeSpan.FromMilliseconds(30));
        var rtx = Drain(s, TimeSpan.FromMilliseconds(30)).Single();
        Assert.True(RtpHeader.TryRead(rtx, out var h));
        Assert.True(RtpHeader.TryRead(packets[2], out var o));
        Assert.Equal(103, h.PayloadType);
        Assert.Equal(s.RtxSsrc, h.Ssrc);
        Assert.Equal(o.Timestamp, h.Timestamp);
        Assert.Equal(o.Marker, h.Marker);
        var payload = h.Payload(rtx);
        Assert.Equal(lostSeq, BinaryPrimitives.ReadUInt16BigEndian(payload)); // OSN
        Assert.Equal(o.Payload(packets[2]).ToArray(), payload[2..].ToArray());

        var r = Receiver(5, rtx: 103, remote: s.Ssrc);
        Assert.True(r.ReceiveRtp(packets[0], TimeSpan.FromMilliseconds(10)));
        Assert.True(r.ReceiveRtp(packets[1], TimeSpan.FromMilliseconds(10)));
        Assert.True(r.ReceiveRtp(packets[3], TimeSpan.FromMilliseconds(11)));
        Assert.False(r.TryPollFrame(TimeSpan.FromMilliseconds(11), out _));
        Assert.Equal(1, r.PendingNacks);
        var fb = new byte[1500];
        Assert.False(r.TryPollTransmit(fb, TimeSpan.FromMilliseconds(12), out _)); // NackDelay (5 ms) not over
        Assert.True(r.TryPollTransmit(fb, TimeSpan.FromMilliseconds(16), out int fbLength));
        Assert.True(GenericNack.TryRead(fb.AsSpan(0, fbLength), out var sentNack));
        Assert.Equal(s.Ssrc, sentNack.Header.MediaSsrc);
        Assert.Equal((lostSeq, (ushort)0), sentNack.Item(0));
        Assert.True(r.ReceiveRtp(rtx, TimeSpan.FromMilliseconds(40)));
        Assert.False(r.TryPollFrame(TimeSpan.FromMilliseconds(40), out _)); // start-up hold: 50 ms after the first packet
        Assert.Equal(TimeSpan.FromMilliseconds(60), r.NextDeadline);
        Assert.True(r.TryPollFrame(TimeSpan.FromMilliseconds(60), out var frame));
        Assert.Equal(au, frame.Data.ToArray());
        Assert.True(frame.IsKeyframe);
        Assert.Equal(1, r.Statistics.PacketsRecovered);
        Assert.Equal(0, r.PendingNacks);
    }

    [Fact]
    public void Pli_and_fir_raise_a_rate_limited_keyframe_request_and_remb_a_bitrate_event()
    {
        var s = Sender(6);
        var b = new byte[64];
        Assert.True(PictureLossIndication.TryWrite(b, 9, s.Ssrc, out int n));
        s.ReceiveRtcp(b.AsSpan(0, n), TimeSpan.FromMilliseconds(100));
        s.ReceiveRtcp(b.AsSpan(0, n), TimeSpan.FromMilliseconds(200)); // within 300 ms: merged
        Assert.True(FullIntraRequest.TryWrite(b, 9, s.Ssrc, 1, out n));
        s.ReceiveRtcp(b.AsSpan(0, n), TimeSpan.FromMilliseconds(450));
        Assert.True(PictureLossIndication.TryWrite(b, 9, s.Ssrc + 1, out n)); // other SSRC
        s.ReceiveRtcp(b.AsSpan(0, n), TimeSpan.FromMilliseconds(900));
        Assert.True(ReceiverEstimatedMaxBitrate.TryWrite(b, 9, 2_000_000, [s.Ssrc], out n));
        s.ReceiveRtcp(b.AsSpan(0, n), TimeSpan.FromMilliseconds(950));
        var events = new List<RtpSendStreamEvent>();
        while (s.TryPollEvent(out var e))
            events.Add(e);
        Assert.Equal(
            [new(RtpSendStreamEventKind.KeyframeRequested), new(RtpSendStreamEventKind.KeyframeRequested), new(RtpSendStreamEventKind.BitrateEstimate, 2_000_000)],
            events);
        Assert.Equal(3, s.Statistics.KeyframeRequests);
    }

    [Fact]
    public void Sender_and_receiver_reports_round_trip_with_ntp_lsr_dlsr_and_rtt()
    {
        var s = Sender(7);
        var r = Receiver(8);
        var oneWay = TimeSpan.FromMilliseconds(20);
        var rnd = new Random(7);
        var srs = new List<byte[]>();
        TimeSpan now = TimeSpan.Zero;
        for (int f = 0; f < 45; f++, now += TimeSpan.FromMilliseconds(33))
        {
            s.SendFrame(new EncodedFrame(MediaCodec.H264, AccessUnit(rnd, 1500, f == 0), TimeSpan.FromMilliseconds(33 * f), f == 0), now);
            if (s.NextDeadline is { } due && now >= due)
                s.HandleDeadline(now);
            foreach (var p in Drain(s, now, srs))
                Assert.True(r.ReceiveRtp(p, now + oneWay));
            while (r.TryPollFrame(now + oneWay, out _))
            {
            }
        }
        // SR at 1.023 s: NTP of the wall clock input, RTP extrapolated from the last frame
        var srPacket = Assert.Single(srs);
        Assert.True(SenderReport.TryRead(srPacket, out var sr));
        var srAt = TimeSpan.FromMilliseconds(33 * 31);
        Assert.Equal(NtpTime.FromWallClock(Origin + srAt), sr.NtpTimestamp);
        Assert.Equal(s.Clock.ToRtp(srAt), sr.RtpTimestamp);
        Assert.Equal(65u, sr.PacketCount); // frames 0-31: FU-A in 2 packets each, plus the keyframe's SPS+PPS STAP-A
        r.ReceiveRtcp(srPacket, srAt + oneWay);
        Assert.True(r.TryPollEvent(out var ev));
        Assert.Equal(RtpReceiveStreamEventKind.SenderReport, ev.Kind);
        // the receiver's report, 200 ms after the SR arrived, carries LSR and DLSR
        var rrAt = srAt + oneWay + TimeSpan.FromMilliseconds(200);
        var buf = new byte[1500];
        byte[]? rr = null;
        for (var t = rrAt; rr is null && t < rrAt + TimeSpan.FromSeconds(2); t += TimeSpan.FromMilliseconds(1))
        {
            if (r.TryPollTransmit(buf, t, out int n))
            {
                rr = buf[..n];
                rrAt = t;
            }
        }
        Assert.NotNull(rr);
        var reader = new RtcpCompoundReader(rr);
        Assert.True(reader.TryRead(out _, out var first));
        Assert.True(ReceiverReport.TryRead(first, out var report));
        var block = report.Report(0);
        Assert.Equal(s.Ssrc, block.Ssrc);
        Assert.Equal(NtpTime.Middle(sr.NtpTimestamp), block.LastSenderReport);
        Assert.Equal(0, block.CumulativeLost);
        s.ReceiveRtcp(rr, rrAt + oneWay);
        var rtt = s.Statistics.RoundTripTime;
        Assert.NotNull(rtt);
        output.WriteLine($"RTT {rtt!.Value.TotalMilliseconds} ms");
        Assert.InRange(rtt.Value.TotalMilliseconds, 39.9, 40.1); // 2 × 20 ms, within DLSR's 1/65536 s
    }

    [Fact]
    public void Receiver_validates_sequence_numbers_as_rfc_3550_a1_probation_wrap_and_restart()
    {
        var r = Receiver(9, MediaCodec.Pcmu, remote: 0x42);
        static byte[] Packet(ushort seq, uint ts)
        {
            var b = new byte[12 + 160];
            new RtpHeader { PayloadType = 0, SequenceNumber = seq, Timestamp = ts, Ssrc = 0x42 }.TryWrite(b, out _);
            b[12] = 1;
            return b;
        }
        var now = TimeSpan.Zero;
        ushort seq = 65530;
        uint ts = 0;
        for (int i = 0; i < 20; i++, seq++, ts += 160, now += TimeSpan.FromMilliseconds(20))
            r.ReceiveRtp(Packet(seq, ts), now);
        var st = r.Statistics;
        Assert.Equal(19, st.PacketsReceived); // the first packet is the probation packet (MIN_SEQUENTIAL = 2)
        Assert.Equal(65536u + 13, st.ExtendedHighestSequence); // wrapped once; 65530 + 19 = 65549 = 1·65536 + 13
        Assert.Equal(0, st.CumulativeLost);
        int frames = 0;
        while (r.TryPollFrame(now, out _))
            frames++;
        Assert.Equal(20, frames);
        // a jump of 20 000 is refused once, then accepted as a restart when the next one follows it
        Assert.False(r.ReceiveRtp(Packet(20_000, 9999), now));
        Assert.True(r.ReceiveRtp(Packet(20_001, 10159), now));
        Assert.True(r.TryPollEvent(out var e));
        Assert.Equal(RtpReceiveStreamEventKind.SourceRestarted, e.Kind);
        Assert.Equal(20_001u, r.Statistics.ExtendedHighestSequence);
        Assert.True(r.TryPollFrame(now, out var f));
        Assert.Equal(MediaCodec.Pcmu, f.Codec);
        // duplicates and late packets are discarded
        Assert.False(r.ReceiveRtp(Packet(20_001, 10159), now));
        long discarded = r.Statistics.PacketsDiscarded;
        Assert.True(discarded >= 2);
    }

    [Fact]
    public void Interarrival_jitter_follows_the_rfc_3550_a8_estimator()
    {
        // PCMU, 20 ms packets (160 units), arrival delays 0, 5, 0, 10, 0 ms -> |D| = 40, 40, 80, 80 units.
        // A.8: jitter += |D| - ((jitter + 8) >> 4) (scaled by 16): 40, 77, 152, 222 -> reported 222 >> 4 = 13
        // (the real-valued J += (|D| - J)/16 gives 2.5, 4.84, 9.54, 13.94).
        var r = Receiver(10, MediaCodec.Pcmu, remote: 7);
        int[] delayMs = [0, 5, 0, 10, 0];
        for (int i = 0; i < delayMs.Length; i++)
        {
            var b = new byte[12 + 160];
            new RtpHeader { SequenceNumber = (ushort)(100 + i), Timestamp = (uint)(1000 + 160 * i), Ssrc = 7 }.TryWrite(b, out _);
            r.ReceiveRtp(b, TimeSpan.FromMilliseconds(20 * i + delayMs[i]));
        }
        Assert.Equal(13u, r.Statistics.Jitter);
        double j = 0;
        foreach (int d in new[] { 40, 40, 80, 80 })
            j += (d - j) / 16;
        Assert.Equal(13, (int)j);
    }

    [Fact]
    public void Receiver_sends_a_rate_limited_pli_while_it_has_no_keyframe()
    {
        var s = Sender(11);
        var r = Receiver(12);
        var rnd = new Random(11);
        var buf = new byte[1500];
        int plis = 0;
        var now = TimeSpan.Zero;
        for (int f = 0; f < 40; f++, now += TimeSpan.FromMilliseconds(33))
        {
            bool key = f == 35; // the sender only produces a keyframe at frame 35
            s.SendFrame(new EncodedFrame(MediaCodec.H264, AccessUnit(rnd, 800, key), TimeSpan.FromMilliseconds(33 * f), key), now);
            foreach (var p in Drain(s, now))
                r.ReceiveRtp(p, now);
            while (r.TryPollFrame(now, out var frame))
                Assert.True(f >= 35);
            while (r.TryPollTransmit(buf, now, out int n))
            {
                var reader = new RtcpCompoundReader(buf.AsSpan(0, n));
                while (reader.TryRead(out var h, out var pkt))
                {
                    if (h.PacketType == 206 && h.Count == PictureLossIndication.Format && PictureLossIndication.TryRead(pkt, out var fb))
                    {
                        Assert.Equal(s.Ssrc, fb.MediaSsrc);
                        plis++;
                    }
                }
            }
        }
        // delta frames 0..34 over 1.15 s with PLIs at most every 500 ms: 3 PLIs (t = 0, 0.5, 1.0 s)
        Assert.Equal(3, plis);
        Assert.Equal(5, r.Statistics.FramesDelivered);
        Assert.Equal(35, r.Statistics.FramesDropped);
    }

    [Theory]
    [InlineData(false, 1201)]
    [InlineData(true, 1202)]
    public void Five_percent_loss_both_ways_every_frame_is_recovered_by_nack(bool useRtx, int seed)
    {
        var rnd = new Random(seed);
        var s = Sender((ulong)seed, rtx: useRtx ? (byte)103 : null);
        var r = Receiver((ulong)seed + 1, rtx: useRtx ? (byte)103 : null);
        var delay = TimeSpan.FromMilliseconds(20);
        var toReceiver = new List<(TimeSpan At, byte[] Data)>();
        var toSender = new List<(TimeSpan At, byte[] Data)>();
        var frames = new List<byte[]>();
        var got = new List<byte[]>();
        var buf = new byte[1500];
        int sent = 0, lost = 0;
        void Put(List<(TimeSpan, byte[])> q, TimeSpan now, ReadOnlySpan<byte> d)
        {
            // The first few datagrams are not dropped: a receiver cannot NACK what came before its first packet,
            // and a lost start of the first keyframe would only be repaired by the next keyframe.
            if (sent++ >= 5 && rnd.NextDouble() < 0.05)
            {
                lost++;
                return;
            }
            q.Add((now + delay + TimeSpan.FromMilliseconds(rnd.Next(3)), d.ToArray())); // a little reordering
        }
        var step = TimeSpan.FromMilliseconds(1);
        for (var now = TimeSpan.Zero; now < TimeSpan.FromSeconds(12); now += step)
        {
            int ms = (int)now.TotalMilliseconds;
            if (ms % 33 == 0 && frames.Count < 300)
            {
                bool key = frames.Count % 60 == 0;
                var au = AccessUnit(rnd, rnd.Next(2_000, 40_000), key);
                frames.Add(au);
                s.SendFrame(new EncodedFrame(MediaCodec.H264, au, TimeSpan.FromMilliseconds(ms), key), now);
            }
            if (s.NextDeadline is { } sd && now >= sd)
                s.HandleDeadline(now);
            while (s.TryPollTransmit(buf, now, out int n, out _))
                Put(toReceiver, now, buf.AsSpan(0, n));
            foreach (var (at, data) in toReceiver.Where(x => x.At <= now).OrderBy(x => x.At).ToList())
            {
                if (RtpHeader.IsRtcp(data))
                    r.ReceiveRtcp(data, now);
                else
                    r.ReceiveRtp(data, now);
            }
            toReceiver.RemoveAll(x => x.At <= now);
            if (r.NextDeadline is { } rd && now >= rd)
                r.HandleDeadline(now);
            while (r.TryPollFrame(now, out var f))
                got.Add(f.Data.ToArray());
            while (r.TryPollTransmit(buf, now, out int n))
                Put(toSender, now, buf.AsSpan(0, n));
            foreach (var (_, data) in toSender.Where(x => x.At <= now).ToList())
                s.ReceiveRtcp(data, now);
            toSender.RemoveAll(x => x.At <= now);
            if (s.Statistics.RoundTripTime is { } rtt)
                r.RoundTripTime = rtt;
        }
        var rs = r.Statistics;
        output.WriteLine($"rtx={useRtx}: {sent} datagrams, {lost} lost; receiver {rs}; sender {s.Statistics}");
        Assert.True(lost > 0.03 * sent);
        Assert.Equal(frames.Count, got.Count);
        for (int i = 0; i < frames.Count; i++)
            Assert.Equal(frames[i], got[i]);
        Assert.True(rs.PacketsRecovered > 50);
        Assert.Equal(0, rs.FramesDropped);
        Assert.True(s.Statistics.PacketsRetransmitted >= rs.PacketsRecovered);
        Assert.NotNull(s.Statistics.RoundTripTime);
    }

    [Fact]
    public void Fuzz_mutated_rtp_and_rtcp_into_both_streams_never_throw_and_stay_bounded()
    {
        var s = Sender(13, rtx: 103);
        var r = Receiver(14, rtx: 103);
        var rnd = new Random(3550);
        s.SendFrame(new EncodedFrame(MediaCodec.H264, AccessUnit(rnd, 20_000, true), TimeSpan.Zero, true), TimeSpan.Zero);
        var corpus = Drain(s, TimeSpan.Zero);
        var b = new byte[256];
        GenericNack.TryWrite(b, 1, s.Ssrc, [RtpHeaderSeq(corpus[0]), (ushort)(RtpHeaderSeq(corpus[0]) + 3)], out int n);
        corpus.Add(b[..n]);
        PictureLossIndication.TryWrite(b, 1, s.Ssrc, out n);
        corpus.Add(b[..n]);
        ReceiverEstimatedMaxBitrate.TryWrite(b, 1, 1_000_000, [s.Ssrc], out n);
        corpus.Add(b[..n]);
        SenderReport.TryWrite(b, s.Ssrc, 1, 2, 3, 4, [new ReceptionReport(s.Ssrc, 1, 2, 3, 4, 5, 6)], out n);
        corpus.Add(b[..n]);
        var buf = new byte[4096];
        var outBuf = new byte[1500];
        long before = GC.GetTotalMemory(true);
        var now = TimeSpan.Zero;
        for (int i = 0; i < 100_000; i++)
        {
            now += TimeSpan.FromMilliseconds(1);
            RtpFuzzTests.Mutate(rnd, corpus[rnd.Next(corpus.Count)], buf, out int len);
            var span = buf.AsSpan(0, len);
            if (i % 2 == 0)
                r.ReceiveRtp(span, now);
            else
                r.ReceiveRtcp(span, now);
            s.ReceiveRtcp(span, now);
            r.HandleDeadline(now);
            while (r.TryPollFrame(now, out _))
            {
            }
            int polls = 0;
            while (r.TryPollTransmit(outBuf, now, out _) && polls++ < 10)
            {
            }
            polls = 0;
            while (s.TryPollTransmit(outBuf, now, out _, out _) && polls++ < 2000)
            {
            }
            while (s.TryPollEvent(out _) | r.TryPollEvent(out _))
            {
            }
        }
        long grown = GC.GetTotalMemory(true) - before;
        output.WriteLine($"receiver {r.Statistics}; sender {s.Statistics}; heap growth {grown} B");
        Assert.True(r.Statistics.PacketsDiscarded > 1000);
        Assert.True(grown < 16 * 1024 * 1024, $"heap grew {grown} B");
    }
}
