using OspBridge.Quic;
using OspBridge.Quic.Http3;
using OspBridge.Quic.Http3.Qpack;

namespace OspBridge.Quic.Tests.Http3;

public class Http3FrameTests
{
    private sealed class Sink : IHttp3MessageSink
    {
        public readonly List<(List<HeaderField> fields, bool trailers)> Headers = [];
        public readonly MemoryStream Body = new();
        public void OnHeaders(List<HeaderField> fields, bool trailers) => Headers.Add((fields, trailers));
        public void OnData(ReadOnlySpan<byte> data) => Body.Write(data);
    }

    internal static byte[] SampleMessage(out byte[] body)
    {
        body = Enumerable.Range(0, 5000).Select(i => (byte)(i * 7)).ToArray();
        var parts = new List<byte>();
        parts.AddRange(HeadersFrame.Encode([new(":status", "200"), new("content-length", "5000")]));
        parts.AddRange(Http3Frame.Encode(0x21, [1, 2, 3])); // grease frame, skipped
        parts.AddRange(DataFrame.Encode(body.AsSpan(0, 1000)));
        parts.AddRange(Http3Frame.Encode(0x1234567, new byte[300])); // unknown frame, skipped
        parts.AddRange(DataFrame.Encode([]));
        parts.AddRange(DataFrame.Encode(body.AsSpan(1000)));
        parts.AddRange(HeadersFrame.Encode([new("x-trailer", "t")]));
        return [.. parts];
    }

    [Fact]
    public void Message_round_trip_at_every_split()
    {
        byte[] msg = SampleMessage(out byte[] body);
        for (int cut = 0; cut <= msg.Length; cut += 1)
        {
            var r = new Http3MessageReader();
            var s = new Sink();
            r.Process(msg.AsSpan(0, cut), s);
            r.Process(msg.AsSpan(cut), s);
            r.Finish();
            Assert.Equal(2, s.Headers.Count);
            Assert.Equal(new HeaderField(":status", "200"), s.Headers[0].fields[0]);
            Assert.False(s.Headers[0].trailers);
            Assert.True(s.Headers[1].trailers);
            Assert.Equal(body, s.Body.ToArray());
        }
    }

    [Fact]
    public void Message_byte_by_byte()
    {
        byte[] msg = SampleMessage(out byte[] body);
        var r = new Http3MessageReader();
        var s = new Sink();
        for (int i = 0; i < msg.Length; i++) r.Process(msg.AsSpan(i, 1), s);
        r.Finish();
        Assert.Equal(body, s.Body.ToArray());
    }

    [Theory]
    [InlineData(0x00, 0x105)] // DATA before HEADERS
    [InlineData(0x04, 0x105)] // SETTINGS on a request stream
    [InlineData(0x07, 0x105)] // GOAWAY on a request stream
    [InlineData(0x02, 0x105)] // reserved HTTP/2 PRIORITY
    [InlineData(0x05, 0x108)] // PUSH_PROMISE without MAX_PUSH_ID
    public void Wrong_frames_on_a_request_stream(int type, int code)
    {
        var r = new Http3MessageReader();
        var e = Assert.Throws<QuicException>(() => r.Process(Http3Frame.Encode((ulong)type, [0]), new Sink()));
        Assert.Equal(code, e.ApplicationErrorCode);
    }

    [Fact]
    public void Truncated_stream_and_oversized_headers_are_errors()
    {
        var r = new Http3MessageReader();
        byte[] h = HeadersFrame.Encode([new(":status", "200")]);
        r.Process(h.AsSpan(0, h.Length - 1), new Sink());
        Assert.Equal((long)Http3ErrorCode.FrameError, Assert.Throws<QuicException>(r.Finish).ApplicationErrorCode);
        Assert.Equal((long)Http3ErrorCode.RequestIncomplete, Assert.Throws<QuicException>(new Http3MessageReader().Finish).ApplicationErrorCode);
        var big = new Http3MessageReader(maxHeadersFrame: 100);
        var e = Assert.Throws<QuicException>(() => big.Process(Http3Frame.EncodeHeader(0x01, 1_000_000), new Sink()));
        Assert.Equal((long)Http3ErrorCode.ExcessiveLoad, e.ApplicationErrorCode);
    }

    [Fact]
    public void Settings_round_trip_and_control_stream_rules()
    {
        byte[] settings = SettingsFrame.Encode([(SettingsFrame.QpackMaxTableCapacity, 0), (SettingsFrame.MaxFieldSectionSize, 65536), (0x21, 7)]);
        var c = new Http3ControlStreamReader();
        foreach (byte b in settings) c.Process([b]);
        Assert.Equal(65536UL, c.Settings![SettingsFrame.MaxFieldSectionSize]);
        Assert.Equal(7UL, c.Settings[0x21]);
        c.Process(Http3Frame.Encode(0x5555, new byte[100])); // unknown: skipped
        c.Process(GoawayFrame.Encode(8));
        Assert.Equal(8UL, c.GoawayId);
        Assert.Equal((long)Http3ErrorCode.IdError, Assert.Throws<QuicException>(() => c.Process(GoawayFrame.Encode(12))).ApplicationErrorCode);

        var c2 = new Http3ControlStreamReader();
        Assert.Equal((long)Http3ErrorCode.MissingSettings, Assert.Throws<QuicException>(() => c2.Process(GoawayFrame.Encode(0))).ApplicationErrorCode);
        var c3 = new Http3ControlStreamReader();
        c3.Process(settings);
        Assert.Equal((long)Http3ErrorCode.FrameUnexpected, Assert.Throws<QuicException>(() => c3.Process(settings)).ApplicationErrorCode);
        var c4 = new Http3ControlStreamReader();
        Assert.Equal((long)Http3ErrorCode.SettingsError,
            Assert.Throws<QuicException>(() => c4.Process(SettingsFrame.Encode([(1, 0), (1, 0)]))).ApplicationErrorCode);
        var c5 = new Http3ControlStreamReader();
        Assert.Equal((long)Http3ErrorCode.SettingsError,
            Assert.Throws<QuicException>(() => c5.Process(SettingsFrame.Encode([(0x02, 0)]))).ApplicationErrorCode);
        var c6 = new Http3ControlStreamReader();
        c6.Process(settings);
        Assert.Equal((long)Http3ErrorCode.FrameUnexpected, Assert.Throws<QuicException>(() => c6.Process(DataFrame.Encode([1]))).ApplicationErrorCode);
    }

    [Fact]
    public void Goaway_round_trip()
    {
        byte[] f = GoawayFrame.Encode(1_000_000);
        Assert.True(Http3Frame.TryReadHeader(f, out ulong t, out ulong l, out int hl));
        Assert.Equal(Http3FrameType.Goaway, t);
        Assert.Equal(1_000_000UL, GoawayFrame.Decode(f.AsSpan(hl, (int)l)));
        Assert.False(Http3Frame.TryReadHeader(f.AsSpan(0, 1), out _, out _, out _));
    }
}
