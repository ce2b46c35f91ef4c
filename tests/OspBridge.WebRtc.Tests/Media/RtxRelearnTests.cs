using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Media;

namespace OspBridge.WebRtc.Tests.Media;

/// <summary>
/// RTX after an SSRC switch (virtual time): the receiver's RTX SSRC is pinned from SDP (<c>a=ssrc-group:FID</c>); a
/// restarted sender comes back with a new media SSRC <em>and</em> a new RTX SSRC. The receiver re-learns the RTX SSRC
/// from the new source's first retransmission, so lost packets are repaired by RTX after the switch as before it;
/// late retransmissions of the old source (old RTX SSRC) are refused.
/// </summary>
public class RtxRelearnTests
{
    private static RtpSendStream Sender(ulong seed, uint ssrc, uint rtxSsrc) => new(new RtpSendStreamOptions
    {
        Random = new SeededRandomNumberGenerator(seed),
        Codec = MediaCodec.H264,
        PayloadType = 102,
        Ssrc = ssrc,
        RtxPayloadType = 103,
        RtxSsrc = rtxSsrc,
        WallClockOrigin = new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero),
    });

    private static byte[] Frame(int i, bool key)
    {
        var f = new byte[3000 + i % 7 * 100]; // three FU-A packets each
        f[3] = 1;
        f[4] = key ? (byte)0x65 : (byte)0x41;
        for (int k = 5; k < f.Length; k++) f[k] = (byte)(1 + (i * 31 + k) % 255); // no zero bytes: a trailing zero would be trailing_zero_8bits
        return f;
    }

    [Fact]
    public void Rtx_ssrc_is_relearned_after_the_sender_restarts_with_new_ssrcs()
    {
        var receiver = new RtpReceiveStream(new RtpReceiveStreamOptions
        {
            Random = new SeededRandomNumberGenerator(9),
            Codec = MediaCodec.H264,
            PayloadType = 102,
            RtxPayloadType = 103,
            RtxSsrc = 0x2000, // pinned as from the offer's a=ssrc-group:FID 4096 8192
            DefaultRoundTripTime = TimeSpan.FromMilliseconds(20),
        });
        var first = Sender(1, 0x1000, 0x2000);
        var second = Sender(2, 0x3000, 0x4000);
        var delivered = new List<(TimeSpan Time, byte[] Data)>();
        var sent = new Dictionary<int, byte[]>();
        var buf = new byte[1500];
        var rtcp = new byte[1500];
        var oneWay = TimeSpan.FromMilliseconds(10);
        var inFlight = new List<(TimeSpan At, byte[] Packet, bool ToReceiver)>();
        int media = 0;
        byte[]? oldRetransmission = null;
        long recoveredBeforeSwitch = 0;
        var now = TimeSpan.Zero;
        for (int step = 0; step < 4000; step++, now += TimeSpan.FromMilliseconds(1))
        {
            bool firstPhase = now < TimeSpan.FromSeconds(2);
            var active = firstPhase ? first : second;
            // 30 fps, silent 2.0–2.7 s (the sender restarts with new SSRCs)
            if (now.Ticks % TimeSpan.FromMilliseconds(33).Ticks == 0 && (firstPhase || now >= TimeSpan.FromMilliseconds(2700)))
            {
                int i = (int)(now.Ticks / TimeSpan.FromMilliseconds(33).Ticks);
                bool key = i == 0 || (!firstPhase && sent.Keys.All(k => k < 2700 / 33));
                var f = Frame(i, key);
                sent[i] = f;
                active.SendFrame(new EncodedFrame(MediaCodec.H264, f, TimeSpan.FromMilliseconds(33 * i), key), now);
            }
            foreach (var s in new[] { first, second })
            {
                while (s.TryPollTransmit(buf, now, out int n, out bool isRtcp))
                {
                    var p = buf[..n];
                    bool rtx = !isRtcp && (p[1] & 0x7f) == 103;
                    if (rtx && s == first && !firstPhase)
                        oldRetransmission ??= p;
                    // every 10th new media packet of each source is lost once; retransmissions get through
                    if (!isRtcp && !rtx && media++ % 10 == 5) continue;
                    inFlight.Add((now + oneWay, p, true));
                }
            }
            while (receiver.TryPollTransmit(rtcp, now, out int n))
                inFlight.Add((now + oneWay, rtcp[..n], false));
            for (int k = 0; k < inFlight.Count; k++)
            {
                if (inFlight[k].At > now) continue;
                var (_, p, toReceiver) = inFlight[k];
                inFlight.RemoveAt(k--);
                if (!toReceiver)
                {
                    first.ReceiveRtcp(p, now);
                    second.ReceiveRtcp(p, now);
                }
                else if (p[1] >= 200 && p[1] <= 206) receiver.ReceiveRtcp(p, now);
                else receiver.ReceiveRtp(p, now);
            }
            receiver.HandleDeadline(now);
            while (receiver.TryPollFrame(now, out var frame))
                delivered.Add((frame.Timestamp, frame.Data.ToArray()));
            if (now == TimeSpan.FromSeconds(2)) recoveredBeforeSwitch = receiver.Statistics.PacketsRecovered;
        }

        Assert.Equal(1, receiver.SsrcChanges);
        Assert.Equal(0x3000u, receiver.RemoteSsrc);
        Assert.Equal(0x4000u, receiver.RtxSsrc);
        Assert.True(recoveredBeforeSwitch > 10, $"{recoveredBeforeSwitch} packets recovered before the switch");
        var stats = receiver.Statistics;
        Assert.True(stats.PacketsRecovered - recoveredBeforeSwitch > 10,
            $"after the switch only {stats.PacketsRecovered - recoveredBeforeSwitch} packets were recovered by RTX (given up {stats.PacketsGivenUp})");
        Assert.Equal(0, stats.PacketsGivenUp);
        // every frame of both sources arrived whole (the new one's from its first keyframe on)
        var firstFrames = sent.Where(kv => kv.Key * 33 < 2000).OrderBy(kv => kv.Key).Select(kv => kv.Value).ToList();
        var secondFrames = sent.Where(kv => kv.Key * 33 >= 2700 && kv.Key * 33 < 3900).OrderBy(kv => kv.Key).Select(kv => kv.Value).ToList();
        var data = delivered.Select(d => d.Data).ToList();
        var missing = sent.Where(kv => (kv.Key * 33 < 2000 || (kv.Key * 33 >= 2700 && kv.Key * 33 < 3900)) && !data.Any(d => d.AsSpan().SequenceEqual(kv.Value)))
            .Select(kv => kv.Key).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {firstFrames.Count + secondFrames.Count} frames not delivered whole: {string.Join(",", missing)}; {delivered.Count} delivered; unmatched: {string.Join(" ", delivered.Where(d => !sent.Values.Any(v => v.AsSpan().SequenceEqual(d.Data))).Select(d => $"{d.Time.TotalMilliseconds}ms/{d.Data.Length}B"))}, {stats}");
        // a late retransmission of the old source (its RTX SSRC) is refused now
        if (oldRetransmission is not null)
            Assert.False(receiver.ReceiveRtp(oldRetransmission, now));
    }
}
