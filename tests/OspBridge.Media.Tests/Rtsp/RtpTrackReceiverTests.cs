using OspBridge.Media.Formats;
using OspBridge.Media.Rtsp;
using OspBridge.Media.Tests.Formats;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Rtp;

namespace OspBridge.Media.Tests.Rtsp;

public class RtpTrackReceiverTests
{
    private static byte[] Rtp(ushort seq, uint ts, bool marker, byte pt, byte[] payload, uint ssrc = 1)
    {
        var buf = new byte[12 + payload.Length];
        new RtpHeader { PayloadType = pt, SequenceNumber = seq, Timestamp = ts, Marker = marker, Ssrc = ssrc }.TryWrite(buf, out int n);
        payload.CopyTo(buf, n);
        return buf;
    }

    [Fact]
    public void Keyframe_without_in_band_parameter_sets_gets_the_sdp_ones_and_timestamps_extend_over_a_wrap()
    {
        byte[] sps = H264TestStreams.Sps640x360();
        var rx = new RtpTrackReceiver(MediaCodec.H264, 90000, 96, sps, H264TestStreams.Pps);
        var frames = new List<EncodedFrame>();
        void Emit(EncodedFrame f) => frames.Add(f with { Data = f.Data.ToArray() });
        uint ts0 = uint.MaxValue - 1500;
        rx.OnPacket(Rtp(65535, ts0, true, 96, H264TestStreams.Slice(true, 50, 1)), Emit);
        rx.OnPacket(Rtp(0, ts0 + 3000, true, 96, H264TestStreams.Slice(false, 50, 2)), Emit);
        rx.OnPacket(Rtp(1, ts0 + 6000, true, 97, H264TestStreams.Slice(false, 50, 3)), Emit); // other payload type: ignored
        Assert.Equal(2, frames.Count);
        Assert.True(frames[0].IsKeyframe);
        var nals = new List<int>();
        foreach (var nal in new AnnexBNalUnits(frames[0].Data.Span))
            nals.Add(AnnexBNalUnits.H264Type(nal));
        Assert.Equal([7, 8, 5], nals);
        Assert.False(frames[1].IsKeyframe);
        Assert.Equal(TimeSpan.Zero, frames[0].Timestamp);
        Assert.Equal(TimeSpan.FromMilliseconds(1000.0 / 30), frames[1].Timestamp);
    }

    [Fact]
    public void Audio_packets_are_one_frame_each_in_their_clock()
    {
        var rx = new RtpTrackReceiver(MediaCodec.Pcmu, 8000, 0, null, null);
        var frames = new List<EncodedFrame>();
        rx.OnPacket(Rtp(1, 1000, false, 0, new byte[160]), f => frames.Add(f));
        rx.OnPacket(Rtp(2, 1160, false, 0, new byte[160]), f => frames.Add(f));
        Assert.Equal(2, frames.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(20), frames[1].Timestamp);
        Assert.All(frames, f => Assert.Equal(160, f.Data.Length));
    }

    [Fact]
    public void A_camera_restart_with_a_new_ssrc_continues_the_timeline_one_frame_later()
    {
        var rx = new RtpTrackReceiver(MediaCodec.Pcmu, 8000, 0, null, null);
        var frames = new List<EncodedFrame>();
        rx.OnPacket(Rtp(1, 1000, false, 0, new byte[160]), f => frames.Add(f));
        rx.OnPacket(Rtp(2, 1160, false, 0, new byte[160]), f => frames.Add(f));
        rx.OnPacket(Rtp(3, 1320, false, 0, new byte[160]), f => frames.Add(f));
        // restarted: new SSRC, sequence and timestamp base far "behind" the old one
        rx.OnPacket(Rtp(40000, 5, false, 0, new byte[160], ssrc: 2), f => frames.Add(f));
        rx.OnPacket(Rtp(40001, 165, false, 0, new byte[160], ssrc: 2), f => frames.Add(f));
        Assert.Equal([0, 20, 40, 60, 80], frames.Select(f => f.Timestamp.TotalMilliseconds));
        Assert.Equal(1, rx.SsrcChanges);
    }
}
