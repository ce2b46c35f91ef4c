using System.Text;
using OspBridge.Media.Rtsp;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Tests.Rtsp;

public class RtspMessageTests
{
    // sprop-parameter-sets: the SPS/PPS ffmpeg's libx264 writes for 640x360 baseline (-preset ultrafast -tune zerolatency).
    private const string Sdp =
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Session streamed with GStreamer\r\nt=0 0\r\na=control:*\r\n" +
        "m=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 H264/90000\r\n" +
        "a=fmtp:96 packetization-mode=1;profile-level-id=42c01e;sprop-parameter-sets=Z0LAHtoCgL/lwEQAAAMABAAAAwDyPFi6gA==,aM4PyA==\r\n" +
        "a=control:stream=0\r\n" +
        "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 OPUS/48000/2\r\na=control:stream=1\r\n" +
        "m=audio 0 RTP/AVP 0\r\na=control:rtsp://cam/other\r\n";

    [Fact]
    public void Response_with_body_is_read_whole_and_only_when_complete()
    {
        byte[] body = Encoding.ASCII.GetBytes(Sdp);
        byte[] head = Encoding.ASCII.GetBytes($"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Base: rtsp://127.0.0.1:8554/cam/\r\nContent-Type: application/sdp\r\nContent-Length: {body.Length}\r\n\r\n");
        byte[] all = [.. head, .. body, (byte)'$'];
        for (int cut = 0; cut < all.Length - 1; cut++)
            Assert.Equal(RtspReadStatus.NeedMoreData, RtspResponse.TryRead(all.AsSpan(0, cut), out _, out _));
        Assert.Equal(RtspReadStatus.Complete, RtspResponse.TryRead(all, out var r, out int consumed));
        Assert.Equal(all.Length - 1, consumed);
        Assert.Equal(200, r!.StatusCode);
        Assert.Equal(2, r.Headers.CSeq);
        Assert.Equal("rtsp://127.0.0.1:8554/cam/", r.Headers.Get("content-base"));
        Assert.Equal(Sdp, Encoding.ASCII.GetString(r.Body.Span));
    }

    [Fact]
    public void Request_round_trips_and_carries_content_length()
    {
        var q = new RtspRequest("SETUP", "rtsp://h/cam/stream=0");
        q.Headers.Add("CSeq", "3").Add("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1");
        q.Body = "x"u8.ToArray();
        byte[] bytes = q.ToBytes();
        Assert.StartsWith("SETUP rtsp://h/cam/stream=0 RTSP/1.0\r\nCSeq: 3\r\n", Encoding.ASCII.GetString(bytes));
        Assert.Equal(RtspReadStatus.Complete, RtspRequest.TryRead(bytes, out var back, out int n));
        Assert.Equal(bytes.Length, n);
        Assert.Equal("SETUP", back!.Method);
        Assert.Equal("RTP/AVP/TCP;unicast;interleaved=0-1", back.Headers.Get("Transport"));
        Assert.Equal("x"u8.ToArray(), back.Body.ToArray());
    }

    [Fact]
    public void Limits_refuse_huge_headers_many_headers_and_huge_bodies()
    {
        var many = new StringBuilder("RTSP/1.0 200 OK\r\n");
        for (int i = 0; i < RtspHeaders.MaxHeaderCount + 1; i++)
            many.Append("X-").Append(i).Append(": v\r\n");
        many.Append("\r\n");
        Assert.Equal(RtspReadStatus.Invalid, RtspResponse.TryRead(Encoding.ASCII.GetBytes(many.ToString()), out _, out _));

        byte[] endless = Encoding.ASCII.GetBytes("RTSP/1.0 200 OK\r\nX: " + new string('a', RtspHeaders.MaxHeaderBytes + 10));
        Assert.Equal(RtspReadStatus.Invalid, RtspResponse.TryRead(endless, out _, out _));

        byte[] bigBody = Encoding.ASCII.GetBytes($"RTSP/1.0 200 OK\r\nContent-Length: {RtspHeaders.MaxBodyBytes + 1}\r\n\r\n");
        Assert.Equal(RtspReadStatus.Invalid, RtspResponse.TryRead(bigBody, out _, out _));

        byte[] negative = Encoding.ASCII.GetBytes("RTSP/1.0 200 OK\r\nContent-Length: -5\r\n\r\n");
        Assert.Equal(RtspReadStatus.Invalid, RtspResponse.TryRead(negative, out _, out _));

        Assert.Equal(RtspReadStatus.Invalid, RtspResponse.TryRead("HTTP/1.1 200 OK\r\n\r\n"u8, out _, out _));
        Assert.Equal(RtspReadStatus.Invalid, RtspResponse.TryRead("RTSP/1.0 2000 OK\r\n\r\n"u8, out _, out _));
    }

    [Fact]
    public void Interleaved_frame_reads_channel_and_payload()
    {
        byte[] frame = new byte[4 + 300];
        Assert.True(RtspInterleavedFrame.TryWrite(frame, 2, new byte[300], out int w));
        Assert.Equal(304, w);
        Assert.Equal(new byte[] { 0x24, 2, 0x01, 0x2C }, frame[..4]);
        Assert.Equal(RtspReadStatus.NeedMoreData, RtspInterleavedFrame.TryRead(frame.AsSpan(0, 303), out _, out _, out _));
        Assert.Equal(RtspReadStatus.Complete, RtspInterleavedFrame.TryRead(frame, out byte ch, out var payload, out int n));
        Assert.Equal(2, ch);
        Assert.Equal(300, payload.Length);
        Assert.Equal(304, n);
        Assert.Equal(RtspReadStatus.Invalid, RtspInterleavedFrame.TryRead("RTSP"u8, out _, out _, out _));
    }

    [Fact]
    public void Sdp_gives_codecs_controls_and_sprop_parameter_sets()
    {
        var d = RtspSessionDescription.Parse(Sdp);
        Assert.Equal("*", d.Control);
        Assert.Equal(3, d.Media.Count);
        var v = d.Media[0];
        Assert.Equal(MediaCodec.H264, v.Codec);
        Assert.Equal(90000, v.ClockRate);
        Assert.Equal(96, v.PayloadType);
        Assert.Equal("rtsp://127.0.0.1:8554/cam/stream=0", v.ResolveControl("rtsp://127.0.0.1:8554/cam/"));
        Assert.Equal("rtsp://127.0.0.1:8554/cam/stream=0", v.ResolveControl("rtsp://127.0.0.1:8554/cam"));
        Assert.NotNull(v.Sps);
        Assert.Equal(0x67, v.Sps![0]);
        Assert.Equal(new byte[] { 0x68, 0xCE, 0x0F, 0xC8 }, v.Pps);
        Assert.True(OspBridge.Media.Formats.H264SpsInfo.TryParse(v.Sps, out var sps));
        Assert.Equal(640, sps.Width);
        Assert.Equal(360, sps.Height);
        Assert.Equal(MediaCodec.Opus, d.Media[1].Codec);
        Assert.Equal(2, d.Media[1].Channels);
        Assert.Equal(MediaCodec.Pcmu, d.Media[2].Codec);
        Assert.Equal(8000, d.Media[2].ClockRate);
        Assert.Equal("rtsp://cam/other", d.Media[2].ResolveControl("rtsp://x/"));
    }

    [Fact]
    public void Uri_splits_credentials_and_redacts_them()
    {
        var u = RtspUri.Parse("rtsp://admin:p%40ss@192.168.1.10/Streaming/101");
        Assert.Equal("admin", u.UserName);
        Assert.Equal("p@ss", u.Password);
        Assert.Equal("rtsp://192.168.1.10:554/Streaming/101", u.RequestUri);
        Assert.Equal("rtsp://admin:***@192.168.1.10/x", RtspUri.Redact("rtsp://admin:secret@192.168.1.10/x"));
        Assert.Throws<MediaException>(() => RtspUri.Parse("http://x/"));
    }
}
