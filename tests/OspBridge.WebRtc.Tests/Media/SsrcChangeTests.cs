using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Rtp;
using OspBridge.WebRtc.Rtp.Rtcp;

namespace OspBridge.WebRtc.Tests.Media;

/// <summary>
/// SSRC change mid-session on the receive side: a restarted sender (new SSRC, sequence and timestamp base) on the same
/// m-line is accepted after the old one fell silent, frame timestamps continue (shifted by the real gap), video waits
/// for the new source's keyframe and asks it with a PLI; a second SSRC while the first is alive is refused.
/// </summary>
public class SsrcChangeTests
{
    private static RtpSendStream Sender(ulong seed, MediaCodec codec) => new(new RtpSendStreamOptions
    {
        Random = new SeededRandomNumberGenerator(seed),
        Codec = codec,
        PayloadType = codec == MediaCodec.Opus ? (byte)111 : (byte)102,
        WallClockOrigin = new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero),
    });

    private static List<byte[]> Rtp(RtpSendStream s, TimeSpan now)
    {
        var list = new List<byte[]>();
        var buf = new byte[1500];
        while (s.TryPollTransmit(buf, now, out int n, out bool isRtcp))
        {
            if (!isRtcp) list.Add(buf[..n]);
        }
        return list;
    }

    [Fact]
    public void Audio_from_a_restarted_sender_continues_the_timestamps_after_the_real_gap()
    {
        var r = new RtpReceiveStream(new RtpReceiveStreamOptions { Random = new SeededRandomNumberGenerator(1), Codec = MediaCodec.Opus, PayloadType = 111, Remb = false });
        var first = Sender(2, MediaCodec.Opus);
        var second = Sender(3, MediaCodec.Opus);
        var third = Sender(4, MediaCodec.Opus);
        Assert.NotEqual(first.Ssrc, second.Ssrc);
        var frames = new List<(TimeSpan Time, uint Rtp, TimeSpan At)>();
        void Pump(TimeSpan now)
        {
            while (r.TryPollFrame(now, out var f))
                frames.Add((f.Timestamp, r.LastFrameRtpTimestamp, now));
        }
        var now = TimeSpan.Zero;
        for (int i = 0; i < 50; i++, now += TimeSpan.FromMilliseconds(20))
        {
            first.SendFrame(new EncodedFrame(MediaCodec.Opus, new byte[] { 0xfc, (byte)i }, TimeSpan.FromMilliseconds(20 * i), true), now);
            foreach (var p in Rtp(first, now)) Assert.True(r.ReceiveRtp(p, now));
            // another SSRC while the first is alive: refused
            if (i == 30)
            {
                third.SendFrame(new EncodedFrame(MediaCodec.Opus, new byte[] { 0xfc, 0xee }, TimeSpan.Zero, true), now);
                foreach (var p in Rtp(third, now)) Assert.False(r.ReceiveRtp(p, now));
            }
            Pump(now);
        }
        int old = frames.Count;
        Assert.True(old >= 45, $"{old} frames from the first source");
        Assert.Equal(first.Ssrc, r.RemoteSsrc);
        // the sender restarts 1 s later with a new SSRC and its own timestamp base
        now += TimeSpan.FromSeconds(1);
        var restart = now;
        uint lastRaw = 0;
        for (int i = 0; i < 50; i++, now += TimeSpan.FromMilliseconds(20))
        {
            second.SendFrame(new EncodedFrame(MediaCodec.Opus, new byte[] { 0xfc, (byte)(100 + i) }, TimeSpan.FromMilliseconds(20 * i), true), now);
            foreach (var p in Rtp(second, now))
            {
                r.ReceiveRtp(p, now);
                if (RtpHeader.TryRead(p, out var h)) lastRaw = h.Timestamp;
            }
            Pump(now);
        }
        Pump(now + TimeSpan.FromMilliseconds(100));
        Assert.Equal(second.Ssrc, r.RemoteSsrc);
        Assert.Equal(1, r.SsrcChanges);
        Assert.True(r.TryPollEvent(out var e) && e.Kind == RtpReceiveStreamEventKind.SsrcChanged, "SsrcChanged event");
        Assert.True(frames.Count >= old + 45, $"{frames.Count - old} frames from the second source");
        // the new source's SR maps its RTP time onto the same (rebased) timeline the frames carry, so A/V sync holds
        var sr = new byte[64];
        Assert.True(SenderReport.TryWrite(sr, second.Ssrc, 0x1234_5678_0000_0000UL, lastRaw, 50, 100, default, out int srLength));
        r.ReceiveRtcp(sr.AsSpan(0, srLength), now);
        var srEvents = new List<RtpReceiveStreamEvent>();
        for (int i = 0; i < 10 && r.TryPollEvent(out var ev); i++)
            if (ev.Kind == RtpReceiveStreamEventKind.SenderReport) srEvents.Add(ev);
        Assert.Equal(frames[^1].Rtp, Assert.Single(srEvents).RtpTimestamp);
        // continuity: strictly increasing times; the step at the switch is the real gap (≈ 1.02 s), not a random jump
        for (int i = 1; i < frames.Count; i++)
            Assert.True(frames[i].Time > frames[i - 1].Time, $"frame {i}: {frames[i].Time} after {frames[i - 1].Time}");
        var step = frames[old].Time - frames[old - 1].Time;
        var wall = frames[old].At - frames[old - 1].At;
        Assert.InRange(step.TotalMilliseconds, wall.TotalMilliseconds - 21, wall.TotalMilliseconds + 21);
        Assert.InRange(step.TotalMilliseconds, 1000, 1100);
        Assert.Equal(48u * (uint)step.TotalMilliseconds, frames[old].Rtp - frames[old - 1].Rtp);
        for (int i = old + 1; i < frames.Count; i++)
            Assert.Equal(960u, frames[i].Rtp - frames[i - 1].Rtp); // 20 ms at 48 kHz, as sent
        _ = restart;
    }

    [Fact]
    public void Video_from_a_new_ssrc_waits_for_its_keyframe_and_asks_the_new_source_with_a_pli()
    {
        var r = new RtpReceiveStream(new RtpReceiveStreamOptions { Random = new SeededRandomNumberGenerator(5), Codec = MediaCodec.H264, PayloadType = 102, Remb = false, ReducedSizeFeedback = true });
        var first = Sender(6, MediaCodec.H264);
        var second = Sender(7, MediaCodec.H264);
        static byte[] Au(bool key, int i) => key
            ? [0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65, (byte)i, 9, 9]
            : [0, 0, 0, 1, 0x41, (byte)i, 9, 9];
        var got = new List<EncodedFrame>();
        var now = TimeSpan.Zero;
        for (int i = 0; i < 20; i++, now += TimeSpan.FromMilliseconds(33))
        {
            first.SendFrame(new EncodedFrame(MediaCodec.H264, Au(i == 0, i), TimeSpan.FromMilliseconds(33 * i), i == 0), now);
            foreach (var p in Rtp(first, now)) r.ReceiveRtp(p, now);
            while (r.TryPollFrame(now, out var f)) got.Add(f with { Data = f.Data.ToArray() });
        }
        int old = got.Count;
        now += TimeSpan.FromSeconds(2);
        // the new source starts mid-GOP: delta frames first, a keyframe at its 10th frame
        var buf = new byte[1500];
        var plis = new List<uint>();
        for (int i = 0; i < 20; i++, now += TimeSpan.FromMilliseconds(33))
        {
            second.SendFrame(new EncodedFrame(MediaCodec.H264, Au(i == 10, 50 + i), TimeSpan.FromMilliseconds(33 * i), i == 10), now);
            foreach (var p in Rtp(second, now)) r.ReceiveRtp(p, now);
            while (r.TryPollFrame(now, out var f)) got.Add(f with { Data = f.Data.ToArray() });
            while (r.TryPollTransmit(buf, now, out int n))
            {
                var reader = new RtcpCompoundReader(buf.AsSpan(0, n));
                while (reader.TryRead(out var h, out var pkt))
                {
                    if (h.PacketType == (byte)RtcpPacketType.PayloadFeedback && PictureLossIndication.TryRead(pkt, out var fb))
                        plis.Add(fb.MediaSsrc);
                }
            }
        }
        Assert.Equal(1, r.SsrcChanges);
        Assert.Contains(second.Ssrc, plis);
        Assert.DoesNotContain(first.Ssrc, plis);
        var fresh = got.Skip(old).ToList();
        Assert.Equal(10, fresh.Count); // frames 10..19 of the new source, starting at its keyframe
        Assert.True(fresh[0].IsKeyframe);
        Assert.Equal(60, fresh[0].Data.Span[21]);
        Assert.True(fresh[0].Timestamp > got[old - 1].Timestamp);
    }

    [Fact]
    public void A_bye_allows_the_switch_at_once_and_a_zero_silence_option_never_switches()
    {
        var r = new RtpReceiveStream(new RtpReceiveStreamOptions { Random = new SeededRandomNumberGenerator(8), Codec = MediaCodec.Opus, PayloadType = 111, Remb = false });
        var a = Sender(9, MediaCodec.Opus);
        var b = Sender(10, MediaCodec.Opus);
        a.SendFrame(new EncodedFrame(MediaCodec.Opus, new byte[] { 0xfc, 1 }, TimeSpan.Zero, true), TimeSpan.Zero);
        foreach (var p in Rtp(a, TimeSpan.Zero)) Assert.True(r.ReceiveRtp(p, TimeSpan.Zero));
        var buf = new byte[64];
        Assert.True(Goodbye.TryWrite(buf, [a.Ssrc], default, out int n));
        r.ReceiveRtcp(buf.AsSpan(0, n), TimeSpan.FromMilliseconds(10));
        b.SendFrame(new EncodedFrame(MediaCodec.Opus, new byte[] { 0xfc, 2 }, TimeSpan.Zero, true), TimeSpan.FromMilliseconds(20));
        foreach (var p in Rtp(b, TimeSpan.FromMilliseconds(20))) Assert.True(r.ReceiveRtp(p, TimeSpan.FromMilliseconds(20)));
        Assert.Equal(b.Ssrc, r.RemoteSsrc);

        var never = new RtpReceiveStream(new RtpReceiveStreamOptions { Random = new SeededRandomNumberGenerator(11), Codec = MediaCodec.Opus, PayloadType = 111, SsrcSwitchAfterSilence = TimeSpan.Zero });
        var c = Sender(12, MediaCodec.Opus);
        var d = Sender(13, MediaCodec.Opus);
        c.SendFrame(new EncodedFrame(MediaCodec.Opus, new byte[] { 0xfc, 1 }, TimeSpan.Zero, true), TimeSpan.Zero);
        foreach (var p in Rtp(c, TimeSpan.Zero)) Assert.True(never.ReceiveRtp(p, TimeSpan.Zero));
        d.SendFrame(new EncodedFrame(MediaCodec.Opus, new byte[] { 0xfc, 2 }, TimeSpan.Zero, true), TimeSpan.FromSeconds(10));
        foreach (var p in Rtp(d, TimeSpan.FromSeconds(10))) Assert.False(never.ReceiveRtp(p, TimeSpan.FromSeconds(10)));
        Assert.Equal(c.Ssrc, never.RemoteSsrc);
        Assert.Equal(0, never.SsrcChanges);
    }
}
