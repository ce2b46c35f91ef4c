using System.Net;
using OspBridge.Net.Simulation;
using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Rtp;
using OspBridge.WebRtc.Rtp.Rtcp;
using OspBridge.WebRtc.Tracks;
using OspBridge.Testing;

using static OspBridge.WebRtc.Tests.PeerConnection.CoreNegotiation;

namespace OspBridge.WebRtc.Tests.PeerConnection;

/// <summary>
/// Two PeerConnectionCores (the cores of two RTCPeerConnections) with audio + video on the VirtualNetwork, in virtual
/// time: the media path is the sans-IO RtpSendStream/RtpReceiveStream pair — NACK repair under loss, PLI round trip,
/// RR/SR with RTT, the audio jitter buffer putting reordered packets back in order and concealing lost ones.
/// </summary>
public sealed class PeerConnectionMediaTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private sealed class Pair : CorePair
    {
        public int VideoA, AudioA, VideoB = -1, AudioB = -1;
        public List<EncodedFrame> VideoReceived { get; } = [];
        public List<EncodedFrame> AudioReceived { get; } = [];
        public List<TimeSpan> KeyframeRequests { get; } = [];
        public int RtpReceivedEvents;
    }

    /// <summary>A sends video + audio (sendonly), B receives; offer/answer, candidates, then DTLS-SRTP up.</summary>
    private static Pair Connect(VirtualLinkOptions link, int seed)
    {
        var net = new VirtualNetwork();
        var a = NewCore((ulong)seed);
        var b = NewCore((ulong)seed + 1);
        Pair? p = null;
        var na = net.Add<PeerConnectionEvent>("A", a, e => OnA(p!, e), EpA);
        var nb = net.Add<PeerConnectionEvent>("B", b, e => OnB(p!, e), EpB);
        net.Connect(na, nb, link, link with { Seed = link.Seed + 1 });
        p = new Pair { Net = net, A = a, B = b, NodeA = na, NodeB = nb };
        p.VideoA = a.AddTransceiver(MediaKind.Video, RTCRtpTransceiverDirection.SendOnly);
        p.AudioA = a.AddTransceiver(MediaKind.Audio, RTCRtpTransceiverDirection.SendOnly);
        Offer(a, net.Now);
        Answer(a, b, net.Now);
        // video retransmissions go over RTX (RFC 4588): our offer has it, our answer accepts it
        Assert.Contains("a=ssrc-group:FID ", a.LocalDescription!.Sdp, StringComparison.Ordinal);
        Assert.Contains(" rtx/90000", b.LocalDescription!.Sdp, StringComparison.Ordinal);
        for (int i = 0; i < b.TransceiverCount; i++)
        {
            var t = b.GetTransceiver(i);
            if (t.Kind == MediaKind.Video) p.VideoB = i;
            else p.AudioB = i;
        }
        Assert.True(p.VideoB >= 0 && p.AudioB >= 0);
        Assert.Equal(RTCRtpTransceiverDirection.RecvOnly, b.GetTransceiver(p.VideoB).CurrentDirection);
        Assert.Equal(RTCRtpTransceiverDirection.SendOnly, a.GetTransceiver(p.VideoA).CurrentDirection);
        Assert.True(RunUntilMediaConnected(net, a, b), $"A {a.ConnectionState}/{a.DtlsState}, B {b.ConnectionState}/{b.DtlsState}");
        return p;
    }

    private static void OnA(Pair p, PeerConnectionEvent e)
    {
        if (e.Kind == PeerConnectionEventKind.KeyframeRequested && e.Transceiver == p.VideoA) p.KeyframeRequests.Add(p.Net.Now);
    }

    private static void OnB(Pair p, PeerConnectionEvent e)
    {
        if (e.Kind != PeerConnectionEventKind.RtpReceived) return;
        p.RtpReceivedEvents++;
        var list = e.Transceiver == p.VideoB ? p.VideoReceived : p.AudioReceived;
        while (p.B.TryReadFrame(e.Transceiver, out var f)) list.Add(f with { Data = f.Data.ToArray() });
    }

    private static byte[] AccessUnit(Random rnd, int index, bool key, int size)
    {
        var nal = new byte[size];
        rnd.NextBytes(nal);
        for (int i = 0; i < nal.Length; i++) if (nal[i] < 4) nal[i] = 4; // no emulated start codes
        nal[0] = (byte)(key ? 0x65 : 0x41);
        nal[1] = (byte)index;
        nal[2] = (byte)(index >> 8);
        byte[] sps = [0x67, 0x42, 0xc0, 0x1f], pps = [0x68, 0xce, 0x3c, 0x80];
        return key ? [0, 0, 0, 1, .. sps, 0, 0, 0, 1, .. pps, 0, 0, 0, 1, .. nal] : [0, 0, 0, 1, .. nal];
    }

    private static byte[] OpusPacket(int index) => [0x78, (byte)index, (byte)(index >> 8), 1, 2, 3, 4, 5];

    private static bool IsSrtp(ReadOnlyMemory<byte> d) => d.Length > 0 && d.Span[0] is >= 128 and <= 191;

    private static bool IsRtcpPacket(ReadOnlyMemory<byte> d) => d.Length > 1 && RtpHeader.IsRtcp(d.Span);

    [Fact]
    public void Five_percent_loss_receiver_nacks_sender_retransmits_every_video_frame_completes_and_audio_plays_in_order()
    {
        var p = Connect(new VirtualLinkOptions { Delay = TimeSpan.FromMilliseconds(15), ReorderRate = 0.05, Seed = 21 }, seed: 31);
        // 5 % of SRTP/SRTCP datagrams lost in both directions (NACKs, RRs and retransmissions too), seeded. The first 10
        // RTP packets from A go through: a receiver cannot NACK what came before its first packet.
        var loss = new Random(5);
        int rtpFromA = 0, droppedRtp = 0, droppedRtcp = 0;
        p.Net.Rewrite = (from, _, d) =>
        {
            if (!IsSrtp(d)) return [d];
            bool rtcp = IsRtcpPacket(d);
            if (from == p.NodeA && !rtcp && rtpFromA++ < 10) return [d];
            if (loss.NextDouble() >= 0.05) return [d];
            if (rtcp) droppedRtcp++; else droppedRtp++;
            return [];
        };
        var rnd = new Random(8);
        var video = new List<byte[]>();
        var audio = new List<byte[]>();
        var start = p.Net.Now;
        for (int ms = 0; ms < 10_000; ms++)
        {
            var now = p.Net.Now;
            if (ms % 33 == 0 && video.Count < 300)
            {
                bool key = video.Count % 60 == 0;
                var au = AccessUnit(rnd, video.Count, key, key ? 25_000 : rnd.Next(1_000, 9_000));
                video.Add(au);
                Assert.True(p.A.SendFrame(p.VideoA, new EncodedFrame(MediaCodec.H264, au, now - start, key), now));
            }
            if (ms % 20 == 0 && audio.Count < 500)
            {
                var op = OpusPacket(audio.Count);
                audio.Add(op);
                Assert.True(p.A.SendFrame(p.AudioA, new EncodedFrame(MediaCodec.Opus, op, now - start, true), now));
            }
            p.Net.RunFor(TimeSpan.FromMilliseconds(1));
        }
        p.Net.RunFor(TimeSpan.FromSeconds(2));

        var tx = p.A.GetTransceiver(p.VideoA).Stats;
        var rx = p.B.GetTransceiver(p.VideoB).Stats;
        var arx = p.B.GetTransceiver(p.AudioB).Stats;
        output.WriteLine($"dropped rtp {droppedRtp} rtcp {droppedRtcp}; video tx {tx}; video rx {rx}; audio rx {arx}; RtpReceived events {p.RtpReceivedEvents}");
        Assert.True(droppedRtp > 0.03 * (tx.PacketsSent + tx.Retransmitted), $"only {droppedRtp} RTP datagrams dropped");
        // video: every frame, byte-exact and in order, with its timestamp (RTP clock, 90 kHz)
        Assert.Equal(video.Count, p.VideoReceived.Count);
        for (int i = 0; i < video.Count; i++)
        {
            Assert.Equal(video[i], p.VideoReceived[i].Data.ToArray());
            Assert.Equal(i % 60 == 0, p.VideoReceived[i].IsKeyframe);
            Assert.Equal(TimeSpan.FromMilliseconds(33 * i).TotalMilliseconds, p.VideoReceived[i].Timestamp.TotalMilliseconds, 0.1);
        }
        Assert.True(rx.NackSent > 0, "B sent no NACK");
        Assert.True(tx.NackReceived > 0 && tx.Retransmitted > 0, "A retransmitted nothing");
        Assert.True(rx.PacketsRecovered >= 20, $"recovered {rx.PacketsRecovered}");
        Assert.Equal(0, rx.FramesDropped);
        Assert.Equal(0, rx.PacketsGivenUp);
        // receiver reports reached the sender: RTT from LSR/DLSR ≈ 2 × 15 ms
        Assert.NotNull(tx.RoundTripTime);
        Assert.InRange(tx.RoundTripTime!.Value.TotalMilliseconds, 28, 80);
        Assert.True(rx.Jitter < 90 * 25, $"jitter {rx.Jitter}"); // < 25 ms at 90 kHz (reorder delay ≤ 20 ms)
        // audio: no NACK for Opus; the jitter buffer plays what came in RTP timestamp order, conceals the rest —
        // with 5 % of datagrams held back up to 20 ms by the link, later ones overtake them
        Assert.True(p.Net.Link(p.NodeA, p.NodeB).Reordered > 50, $"only {p.Net.Link(p.NodeA, p.NodeB).Reordered} datagrams reordered");
        var order = p.AudioReceived.Select(f => f.Data.Span[1] | (f.Data.Span[2] << 8)).ToList();
        for (int i = 1; i < order.Count; i++) Assert.True(order[i] > order[i - 1], $"audio out of order at {i}: {order[i - 1]} then {order[i]}");
        foreach (var f in p.AudioReceived)
        {
            int idx = f.Data.Span[1] | (f.Data.Span[2] << 8);
            Assert.Equal(audio[idx], f.Data.ToArray());
            Assert.Equal(20.0 * (idx - order[0]), f.Timestamp.TotalMilliseconds, 0.1);
        }
        Assert.InRange(p.AudioReceived.Count, 440, 499);
        Assert.True(arx.FramesConcealed >= audio.Count - p.AudioReceived.Count - 2, $"concealed {arx.FramesConcealed}");
        Assert.Equal(0, arx.NackSent);
    }

    [Fact]
    public void Pli_round_trip_request_keyframe_reaches_the_sender_and_a_broken_frame_makes_the_receiver_ask_by_itself()
    {
        var p = Connect(new VirtualLinkOptions { Delay = TimeSpan.FromMilliseconds(10), Seed = 3 }, seed: 41);
        var rnd = new Random(2);
        var start = p.Net.Now;
        int sent = 0;
        bool keyNext = true;
        var keyframesSent = new List<TimeSpan>();
        void SendFrames(int count)
        {
            for (int i = 0; i < count; i++)
            {
                var now = p.Net.Now;
                if (p.KeyframeRequests.Count > 0 && p.KeyframeRequests[^1] > (keyframesSent.Count > 0 ? keyframesSent[^1] : TimeSpan.MinValue)) keyNext = true;
                bool key = keyNext;
                keyNext = false;
                if (key) keyframesSent.Add(now);
                Assert.True(p.A.SendFrame(p.VideoA, new EncodedFrame(MediaCodec.H264, AccessUnit(rnd, sent, key, key ? 8_000 : 3_000), now - start, key), now));
                sent++;
                p.Net.RunFor(TimeSpan.FromMilliseconds(33));
            }
        }
        SendFrames(10);
        Assert.Equal(10, p.VideoReceived.Count);
        Assert.Empty(p.KeyframeRequests);

        // 1. the application asks (RTCRtpReceiver.RequestKeyframe): a PLI reaches A's send stream → KeyframeRequested
        Assert.True(p.B.RequestKeyframe(p.VideoB));
        SendFrames(3);
        Assert.Single(p.KeyframeRequests);
        Assert.Equal(1, p.A.GetTransceiver(p.VideoA).Stats.PliReceived);
        Assert.Equal(1, p.B.GetTransceiver(p.VideoB).Stats.PliSent);
        Assert.Equal(2, keyframesSent.Count);
        Assert.True(keyframesSent[1] - p.KeyframeRequests[0] < TimeSpan.FromMilliseconds(40));
        Assert.Equal(13, p.VideoReceived.Count);

        // 2. a frame that cannot be completed (all its packets lost, beyond NACK: the retransmission ring is told
        // nothing — we drop the packets and every retransmission of them): the receiver drops the broken frame, holds
        // delta frames back and sends PLIs by itself until a keyframe comes
        int before = p.VideoReceived.Count;
        var victim = AccessUnit(rnd, sent, false, 5_000);
        var victimSsrc = p.A.GetTransceiver(p.VideoA).LocalSsrc;
        var audioSsrc = p.A.GetTransceiver(p.AudioA).LocalSsrc;
        bool dropping = true;
        var victimSeqs = new HashSet<ushort>();
        p.Net.Rewrite = (from, _, d) =>
        {
            if (from != p.NodeA || !IsSrtp(d) || IsRtcpPacket(d) || !dropping) return [d];
            // SRTP keeps the RTP header in the clear: sequence number at offset 2
            ushort seq = (ushort)((d.Span[2] << 8) | d.Span[3]);
            uint ssrc = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(d.Span[8..]);
            // RTX retransmissions (RFC 4588, own SSRC; the original sequence number is in the encrypted payload): all dropped
            bool rtx = ssrc != victimSsrc && ssrc != audioSsrc;
            return (ssrc == victimSsrc && victimSeqs.Contains(seq)) || rtx ? [] : [d];
        };
        ushort firstSeq = NextSequence(p);
        Assert.True(p.A.SendFrame(p.VideoA, new EncodedFrame(MediaCodec.H264, victim, p.Net.Now - start, false), p.Net.Now));
        ushort afterSeq = NextSequence(p);
        for (ushort s = firstSeq; s != afterSeq; s++) victimSeqs.Add(s);
        sent++;
        p.Net.RunFor(TimeSpan.FromMilliseconds(33));
        int requestsBefore = p.KeyframeRequests.Count;
        SendFrames(90);
        dropping = false;
        var rx = p.B.GetTransceiver(p.VideoB).Stats;
        output.WriteLine($"rx {rx}; keyframe requests at {string.Join(", ", p.KeyframeRequests)}; keyframes sent at {string.Join(", ", keyframesSent)}");
        Assert.True(p.KeyframeRequests.Count > requestsBefore, "the receiver asked for no keyframe after the broken frame");
        Assert.True(rx.PliSent >= 2);
        Assert.True(rx.PacketsGivenUp >= victimSeqs.Count);
        // the keyframe answering the PLI arrives, and every frame after it
        var lastKey = keyframesSent[^1];
        Assert.True(lastKey > p.KeyframeRequests[requestsBefore] - TimeSpan.FromMilliseconds(1));
        Assert.True(lastKey - p.KeyframeRequests[requestsBefore] < TimeSpan.FromSeconds(1.5), "no keyframe within 1.5 s of the receiver's PLI");
        var delivered = p.VideoReceived.Skip(before).ToList();
        Assert.DoesNotContain(delivered, f => f.Data.Span.SequenceEqual(victim));
        Assert.True(delivered.Count > 0 && delivered[0].IsKeyframe, "a delta frame was delivered after the broken frame before a keyframe");
        Assert.True(delivered.Count >= 30, $"only {delivered.Count} frames after the broken one");
    }

    private static ushort NextSequence(Pair p) =>
        // the core's send stream for the video transceiver: what SendFrame will use next
        p.A.NextSequenceForTest(p.VideoA);

    [Fact]
    public void Receive_path_allocates_nothing_per_packet_in_steady_state()
    {
        var p = Connect(new VirtualLinkOptions { Delay = TimeSpan.FromMilliseconds(5), Seed = 4 }, seed: 51);
        var rnd = new Random(4);
        var frames = Enumerable.Range(0, 8).Select(i => AccessUnit(rnd, i, i == 0, i == 0 ? 40_000 : 12_000)).ToList();
        // warm-up over the network: rings, slots and queues reach their steady sizes
        for (int i = 0; i < 60; i++)
        {
            Assert.True(p.A.SendFrame(p.VideoA, new EncodedFrame(MediaCodec.H264, frames[i % 8], TimeSpan.FromMilliseconds(33 * i), i % 8 == 0), p.Net.Now));
            p.Net.RunFor(TimeSpan.FromMilliseconds(33));
        }
        Assert.Equal(60, p.VideoReceived.Count);
        // then take A's datagrams by hand and measure only B: Receive (SRTP, demux, route, RtpReceiveStream, depacketize,
        // frame queue) and reading the frames in place with TryReadFrame
        var path = new OspBridge.Net.Core.DatagramPath(EpB, EpA);
        var buf = new byte[2048];
        var profile = p.B.SrtpProfile;
        // AES-CM SRTP allocates 128 B per unprotect inside the BCL (MediaAllocationTests, docs/benchmarks.md); ours: 0
        double budget = profile == OspBridge.Crypto.Dtls.SrtpProtectionProfile.AeadAes128Gcm ? 0 : 128;
        int next = 60;
        (long Bytes, long Packets, long Read) Window()
        {
            long bytes = 0, packets = 0, read = 0;
            for (int end = next + 120; next < end; next++)
            {
                int i = next;
                Assert.True(p.A.SendFrame(p.VideoA, new EncodedFrame(MediaCodec.H264, frames[i % 8], TimeSpan.FromMilliseconds(33 * i), i % 8 == 0), p.Net.Now));
                while (p.A.TryPollTransmit(buf, p.Net.Now, out var t))
                {
                    var d = buf.AsSpan(0, t.Length);
                    bool rtp = d[0] is >= 128 and <= 191 && !RtpHeader.IsRtcp(d);
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    p.B.Receive(d, path, p.Net.Now);
                    while (p.B.TryReadFrame(p.VideoB, out var f)) read += f.Data.Length > 0 ? 1 : 0;
                    long after = GC.GetAllocatedBytesForCurrentThread();
                    if (!rtp) continue;
                    bytes += after - before;
                    packets++;
                }
                p.Net.RunFor(TimeSpan.FromMilliseconds(33)); // B's RTCP and events, A's deadlines
            }
            return (bytes, packets, read);
        }

        // Up to three windows of 120 frames, the one furthest under the budget counted: a one-off runtime allocation
        // lands in one window, a per-packet allocation in every window.
        var (bytes, packets, read) = Allocations.LeastOf(3, Window, w => w.Bytes - (long)(budget * w.Packets), enough: 8192);
        output.WriteLine($"{profile}: {packets} packets, {read} frames read, {bytes} B allocated ({(double)bytes / Math.Max(1, packets):F1} B/packet)");
        Assert.True(packets > 1000, $"{packets} packets");
        Assert.True(read >= 115, $"{read} frames read");
        Assert.True(bytes <= budget * packets + 8192, $"{bytes} B for {packets} packets with {profile} (budget {budget} B/packet, least of up to 3 windows)");
    }
}
