using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Rtp.Rtcp;

namespace OspBridge.WebRtc.Tests.Media;

/// <summary>
/// The REMB a video <see cref="RtpReceiveStream"/> sends (what lets a publishing browser ramp its bitrate): it starts at
/// <see cref="RtpReceiveStreamOptions.RembMaxBitrate"/> — not at the rate received, which would cap an
/// application-limited sender — follows the received rate down when the path loses more than 10 %, and climbs back
/// (× 1.08 per report, at least 1.5 × received) once the loss is gone.
/// </summary>
public class RembEstimateTests
{
    [Fact]
    public void Remb_invites_the_maximum_drops_with_loss_and_climbs_back()
    {
        var sender = new RtpSendStream(new RtpSendStreamOptions
        {
            Random = new SeededRandomNumberGenerator(7),
            Codec = MediaCodec.H264,
            PayloadType = 102,
            WallClockOrigin = new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero),
        });
        var receiver = new RtpReceiveStream(new RtpReceiveStreamOptions
        {
            Random = new SeededRandomNumberGenerator(8),
            Codec = MediaCodec.H264,
            PayloadType = 102,
            Nack = false,
            ReceiverReferenceTime = false,
        });
        var rembs = new List<(TimeSpan At, ulong Bitrate)>();
        var buf = new byte[1500];
        var rtcp = new byte[1500];
        var frame = new byte[2000]; // ≈ 480 kbit/s at 30 fps: far below the 10 Mbit/s invited
        frame[0] = 0; frame[1] = 0; frame[2] = 0; frame[3] = 1; frame[4] = 0x65; // one IDR slice NAL unit
        int packet = 0;
        var now = TimeSpan.Zero;
        for (int i = 0; i < 300; i++, now += TimeSpan.FromMilliseconds(33))
        {
            bool losing = now >= TimeSpan.FromSeconds(3) && now < TimeSpan.FromSeconds(6);
            sender.SendFrame(new EncodedFrame(MediaCodec.H264, frame, TimeSpan.FromMilliseconds(33 * i), true), now);
            while (sender.TryPollTransmit(buf, now, out int n, out bool isRtcp))
            {
                if (isRtcp) continue;
                if (losing && packet++ % 3 == 0) continue; // a third of the packets lost
                receiver.ReceiveRtp(buf.AsSpan(0, n), now);
            }
            while (receiver.TryPollFrame(now, out _)) { }
            while (receiver.TryPollTransmit(rtcp, now, out int n))
            {
                var reader = new RtcpCompoundReader(rtcp.AsSpan(0, n));
                while (reader.TryRead(out _, out var p))
                {
                    if (ReceiverEstimatedMaxBitrate.TryRead(p, out var remb))
                    {
                        Assert.Equal(1, remb.SsrcCount);
                        Assert.Equal(sender.Ssrc, remb.Ssrc(0));
                        rembs.Add((now, remb.Bitrate));
                    }
                }
            }
        }
        string seen = string.Join(", ", rembs.Select(r => $"{r.At.TotalSeconds:F2}s:{r.Bitrate / 1000}k"));
        Assert.True(rembs.Count >= 6, "REMBs: " + seen);
        Assert.Equal(10_000_000ul, rembs[0].Bitrate); // the first report invites the maximum, not 1.5 × 480 kbit/s
        Assert.Equal(rembs[^1].Bitrate, receiver.BitrateEstimateSent);
        Assert.Equal(rembs.Count, receiver.RembsSent);
        // a third lost: the estimate falls to about the received rate (≈ 320 kbit/s × (1 − 0.33 / 2)), clamped ≥ 100 kbit/s
        var lossy = rembs.Where(r => r.At > TimeSpan.FromSeconds(4.6) && r.At < TimeSpan.FromSeconds(6)).ToList();
        Assert.True(lossy.Count > 0 && lossy.All(r => r.Bitrate is >= 100_000 and < 600_000), "REMBs: " + seen);
        // loss gone: it climbs back report by report
        var after = rembs.Where(r => r.At > TimeSpan.FromSeconds(7.6)).ToList();
        Assert.True(after.Count >= 2, "REMBs: " + seen);
        for (int i = 1; i < after.Count; i++)
            Assert.True(after[i].Bitrate >= after[i - 1].Bitrate, "REMBs: " + seen);
        Assert.True(after[^1].Bitrate > lossy.Max(r => r.Bitrate), "REMBs: " + seen);
    }

    [Fact]
    public void No_remb_for_audio_or_when_switched_off()
    {
        foreach (var (codec, remb) in new[] { (MediaCodec.Opus, true), (MediaCodec.H264, false) })
        {
            var sender = new RtpSendStream(new RtpSendStreamOptions
            {
                Random = new SeededRandomNumberGenerator(1),
                Codec = codec,
                PayloadType = 100,
                WallClockOrigin = new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero),
            });
            var receiver = new RtpReceiveStream(new RtpReceiveStreamOptions { Random = new SeededRandomNumberGenerator(2), Codec = codec, PayloadType = 100, Remb = remb });
            var buf = new byte[1500];
            var now = TimeSpan.Zero;
            int reports = 0;
            for (int i = 0; i < 150; i++, now += TimeSpan.FromMilliseconds(20))
            {
                sender.SendFrame(new EncodedFrame(codec, new byte[] { 0, 0, 0, 1, 0x65, 1, 2, 3 }, TimeSpan.FromMilliseconds(20 * i), true), now);
                while (sender.TryPollTransmit(buf, now, out int n, out bool isRtcp))
                    if (!isRtcp) receiver.ReceiveRtp(buf.AsSpan(0, n), now);
                while (receiver.TryPollFrame(now, out _)) { }
                while (receiver.TryPollTransmit(buf, now, out int n))
                {
                    var reader = new RtcpCompoundReader(buf.AsSpan(0, n));
                    while (reader.TryRead(out var h, out var p))
                    {
                        if (h.PacketType == (byte)RtcpPacketType.ReceiverReport) reports++;
                        Assert.False(ReceiverEstimatedMaxBitrate.TryRead(p, out _), $"{codec} remb={remb}: a REMB was sent");
                    }
                }
            }
            Assert.True(reports >= 2, $"{codec}: {reports} receiver reports");
            Assert.Null(receiver.BitrateEstimateSent);
        }
    }
}
