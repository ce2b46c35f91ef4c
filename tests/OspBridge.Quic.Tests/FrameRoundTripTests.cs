using OspBridge.Quic.Frames;
using OspBridge.Quic.Internal;
using OspBridge.Quic.Transport;
using OspBridge.Net.Wire;

namespace OspBridge.Quic.Tests;

/// <summary>Every frame type written then read back; varint vectors (RFC 9000 §A.1); transport parameters.</summary>
public class FrameRoundTripTests
{
    private static ulong ReadType(ref QuicReader r) { Assert.True(r.TryReadVarint(out ulong t)); return t; }

    [Theory]
    [InlineData("c2197c5eff14e88c", 151288809941952652UL)]
    [InlineData("9d7f3e7d", 494878333UL)]
    [InlineData("7bbd", 15293UL)]
    [InlineData("25", 37UL)]
    public void Varint_Rfc9000_A1(string hex, ulong value)
    {
        var b = Convert.FromHexString(hex);
        Assert.True(QuicVarint.TryRead(b, out ulong v, out int n));
        Assert.Equal(value, v);
        Assert.Equal(b.Length, n);
        var w = new byte[8];
        Assert.True(QuicVarint.TryWrite(w, value, out int written));
        Assert.Equal(QuicVarint.GetEncodedLength(value), written);
        if (hex != "4025") Assert.Equal(b.Length, QuicVarint.GetEncodedLength(value));
    }

    [Fact]
    public void AllFrames_RoundTrip()
    {
        var buf = new byte[4096];
        var w = new QuicWriter(buf);
        var ranges = new RangeSet();
        ranges.Add(0, 5); ranges.Add(10, 20); ranges.Add(100, 101);
        Assert.True(PingFrame.TryWrite(ref w));
        Assert.True(AckFrame.TryWrite(ref w, ranges, 77));
        Assert.True(new ResetStreamFrame { StreamId = 4, ErrorCode = 9, FinalSize = 1000 }.TryWrite(ref w));
        Assert.True(new StopSendingFrame { StreamId = 8, ErrorCode = 3 }.TryWrite(ref w));
        Assert.True(new CryptoFrame { Offset = 12345, Data = "hello"u8 }.TryWrite(ref w));
        Assert.True(new NewTokenFrame { Token = "tok"u8 }.TryWrite(ref w));
        Assert.True(new StreamFrame { StreamId = 5, Offset = 70000, Fin = true, Data = "data"u8 }.TryWrite(ref w));
        Assert.True(new MaxDataFrame { MaximumData = 1 << 30 }.TryWrite(ref w));
        Assert.True(new MaxStreamDataFrame { StreamId = 2, MaximumStreamData = 5555 }.TryWrite(ref w));
        Assert.True(new MaxStreamsFrame { Bidirectional = false, MaximumStreams = 77 }.TryWrite(ref w));
        Assert.True(new DataBlockedFrame { MaximumData = 99 }.TryWrite(ref w));
        Assert.True(new StreamDataBlockedFrame { StreamId = 6, MaximumStreamData = 98 }.TryWrite(ref w));
        Assert.True(new StreamsBlockedFrame { Bidirectional = true, MaximumStreams = 97 }.TryWrite(ref w));
        var token = new byte[16]; token[3] = 7;
        Assert.True(new NewConnectionIdFrame { SequenceNumber = 3, RetirePriorTo = 1, ConnectionId = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, StatelessResetToken = token }.TryWrite(ref w));
        Assert.True(new RetireConnectionIdFrame { SequenceNumber = 2 }.TryWrite(ref w));
        Assert.True(new PathChallengeFrame { Data = 0x0102030405060708 }.TryWrite(ref w));
        Assert.True(new PathResponseFrame { Data = 0x1112131415161718 }.TryWrite(ref w));
        Assert.True(new ConnectionCloseFrame { ErrorCode = 0xa, FrameType = 0x08, Reason = "bad"u8 }.TryWrite(ref w));
        Assert.True(new ConnectionCloseFrame { IsApplication = true, ErrorCode = 42, Reason = "bye"u8 }.TryWrite(ref w));
        Assert.True(HandshakeDoneFrame.TryWrite(ref w));
        Assert.True(new DatagramFrame { Data = "dgram"u8 }.TryWrite(ref w));
        Assert.True(PaddingFrame.TryWrite(ref w, 3));

        var r = new QuicReader(w.Written);
        Assert.Equal((ulong)FrameType.Ping, ReadType(ref r));
        Assert.Equal((ulong)FrameType.Ack, ReadType(ref r));
        Assert.True(AckFrame.TryRead(ref r, false, out var ack));
        Assert.Equal(100UL, ack.LargestAcknowledged);
        Assert.Equal(77UL, ack.AckDelay);
        var got = new List<ULongRange>();
        foreach (var x in ack.GetRanges()) got.Add(x);
        Assert.Equal([new(100, 101), new(10, 20), new(0, 5)], got);
        Assert.Equal((ulong)FrameType.ResetStream, ReadType(ref r));
        Assert.True(ResetStreamFrame.TryRead(ref r, out var rs)); Assert.Equal((4UL, 9UL, 1000UL), (rs.StreamId, rs.ErrorCode, rs.FinalSize));
        Assert.Equal((ulong)FrameType.StopSending, ReadType(ref r));
        Assert.True(StopSendingFrame.TryRead(ref r, out var ss)); Assert.Equal((8UL, 3UL), (ss.StreamId, ss.ErrorCode));
        Assert.Equal((ulong)FrameType.Crypto, ReadType(ref r));
        Assert.True(CryptoFrame.TryRead(ref r, out var cf)); Assert.Equal(12345UL, cf.Offset); Assert.Equal("hello"u8.ToArray(), cf.Data.ToArray());
        Assert.Equal((ulong)FrameType.NewToken, ReadType(ref r));
        Assert.True(NewTokenFrame.TryRead(ref r, out var nt)); Assert.Equal("tok"u8.ToArray(), nt.Token.ToArray());
        ulong st = ReadType(ref r); Assert.Equal(0x0fUL, st);
        Assert.True(StreamFrame.TryRead(ref r, (byte)st, out var sf));
        Assert.Equal((5UL, 70000UL, true), (sf.StreamId, sf.Offset, sf.Fin)); Assert.Equal("data"u8.ToArray(), sf.Data.ToArray());
        Assert.Equal((ulong)FrameType.MaxData, ReadType(ref r)); Assert.True(MaxDataFrame.TryRead(ref r, out var md)); Assert.Equal(1UL << 30, md.MaximumData);
        Assert.Equal((ulong)FrameType.MaxStreamData, ReadType(ref r)); Assert.True(MaxStreamDataFrame.TryRead(ref r, out var msd)); Assert.Equal((2UL, 5555UL), (msd.StreamId, msd.MaximumStreamData));
        Assert.Equal((ulong)FrameType.MaxStreamsUni, ReadType(ref r)); Assert.True(MaxStreamsFrame.TryRead(ref r, false, out var ms)); Assert.Equal(77UL, ms.MaximumStreams);
        Assert.Equal((ulong)FrameType.DataBlocked, ReadType(ref r)); Assert.True(DataBlockedFrame.TryRead(ref r, out var db)); Assert.Equal(99UL, db.MaximumData);
        Assert.Equal((ulong)FrameType.StreamDataBlocked, ReadType(ref r)); Assert.True(StreamDataBlockedFrame.TryRead(ref r, out var sdb)); Assert.Equal((6UL, 98UL), (sdb.StreamId, sdb.MaximumStreamData));
        Assert.Equal((ulong)FrameType.StreamsBlockedBidi, ReadType(ref r)); Assert.True(StreamsBlockedFrame.TryRead(ref r, true, out var sb)); Assert.Equal(97UL, sb.MaximumStreams);
        Assert.Equal((ulong)FrameType.NewConnectionId, ReadType(ref r)); Assert.True(NewConnectionIdFrame.TryRead(ref r, out var nc));
        Assert.Equal((3UL, 1UL), (nc.SequenceNumber, nc.RetirePriorTo)); Assert.Equal(8, nc.ConnectionId.Length); Assert.Equal(token, nc.StatelessResetToken.ToArray());
        Assert.Equal((ulong)FrameType.RetireConnectionId, ReadType(ref r)); Assert.True(RetireConnectionIdFrame.TryRead(ref r, out var rc)); Assert.Equal(2UL, rc.SequenceNumber);
        Assert.Equal((ulong)FrameType.PathChallenge, ReadType(ref r)); Assert.True(PathChallengeFrame.TryRead(ref r, out var pc)); Assert.Equal(0x0102030405060708UL, pc.Data);
        Assert.Equal((ulong)FrameType.PathResponse, ReadType(ref r)); Assert.True(PathResponseFrame.TryRead(ref r, out var pr)); Assert.Equal(0x1112131415161718UL, pr.Data);
        Assert.Equal((ulong)FrameType.ConnectionClose, ReadType(ref r)); Assert.True(ConnectionCloseFrame.TryRead(ref r, false, out var cc));
        Assert.Equal((0xaUL, 8UL), (cc.ErrorCode, cc.FrameType)); Assert.Equal("bad"u8.ToArray(), cc.Reason.ToArray());
        Assert.Equal((ulong)FrameType.ConnectionCloseApp, ReadType(ref r)); Assert.True(ConnectionCloseFrame.TryRead(ref r, true, out var ca)); Assert.Equal(42UL, ca.ErrorCode);
        Assert.Equal((ulong)FrameType.HandshakeDone, ReadType(ref r));
        Assert.Equal((ulong)FrameType.DatagramLen, ReadType(ref r)); Assert.True(DatagramFrame.TryRead(ref r, true, out var dg)); Assert.Equal("dgram"u8.ToArray(), dg.Data.ToArray());
        Assert.Equal(0UL, ReadType(ref r)); PaddingFrame.Skip(ref r);
        Assert.True(r.End);
    }

    [Fact]
    public void SingleVarintFrames_WriteAllOrNothing_WhenTheBufferIsShort()
    {
        // MAX_STREAMS (uni) 2^30 + 1: type 0x13 then an 8-byte varint; every shorter buffer leaves the writer where it was.
        var full = new byte[16];
        var w = new QuicWriter(full);
        Assert.True(w.TryWriteByte(0xAA));
        Assert.True(new MaxStreamsFrame { Bidirectional = false, MaximumStreams = (1UL << 30) + 1 }.TryWrite(ref w));
        Assert.Equal(new byte[] { 0xAA, 0x13, 0xC0, 0, 0, 0, 0x40, 0, 0, 1 }, w.Written.ToArray());
        for (int room = 0; room < 9; room++)
        {
            var shortBuffer = new byte[1 + room];
            var s = new QuicWriter(shortBuffer);
            Assert.True(s.TryWriteByte(0xAA));
            Assert.False(new MaxStreamsFrame { Bidirectional = false, MaximumStreams = (1UL << 30) + 1 }.TryWrite(ref s));
            Assert.False(new StreamsBlockedFrame { Bidirectional = true, MaximumStreams = (1UL << 30) + 1 }.TryWrite(ref s));
            Assert.False(new MaxDataFrame { MaximumData = (1UL << 30) + 1 }.TryWrite(ref s));
            Assert.Equal(1, s.Position);
        }
        var tooLarge = new QuicWriter(new byte[16]);
        Assert.False(new DataBlockedFrame { MaximumData = 1UL << 62 }.TryWrite(ref tooLarge)); // above the varint range
        Assert.Equal(0, tooLarge.Position);
    }

    [Fact]
    public void TruncatedFrames_AreRejected_AndReaderPositionIsRestored()
    {
        var buf = new byte[64];
        var w = new QuicWriter(buf);
        Assert.True(new StreamFrame { StreamId = 5, Offset = 70000, Data = "data"u8 }.TryWrite(ref w));
        var full = w.Written.ToArray();
        for (int cut = 2; cut < full.Length; cut++)
        {
            var r = new QuicReader(full.AsSpan(1, cut - 1));
            Assert.False(StreamFrame.TryRead(ref r, full[0], out _));
            Assert.Equal(0, r.Position);
        }
    }

    [Fact]
    public void TransportParameters_RoundTrip_And_Validation()
    {
        var p = new TransportParameters
        {
            OriginalDestinationConnectionId = [1, 2, 3, 4, 5, 6, 7, 8], MaxIdleTimeoutMs = 30000, StatelessResetToken = new byte[16],
            MaxUdpPayloadSize = 1452, InitialMaxData = 1 << 20, InitialMaxStreamDataBidiLocal = 1, InitialMaxStreamDataBidiRemote = 2,
            InitialMaxStreamDataUni = 3, InitialMaxStreamsBidi = 100, InitialMaxStreamsUni = 3, AckDelayExponent = 4, MaxAckDelayMs = 20,
            DisableActiveMigration = true, ActiveConnectionIdLimit = 4, InitialSourceConnectionId = [], RetrySourceConnectionId = [9, 9, 9, 9], MaxDatagramFrameSize = 1200,
        };
        var q = TransportParameters.Decode(p.Encode(), fromServer: true);
        Assert.Equal(p.OriginalDestinationConnectionId, q.OriginalDestinationConnectionId);
        Assert.Equal((30000UL, 1452UL, 1UL << 20, 1UL, 2UL, 3UL, 100UL, 3UL), (q.MaxIdleTimeoutMs, q.MaxUdpPayloadSize, q.InitialMaxData, q.InitialMaxStreamDataBidiLocal, q.InitialMaxStreamDataBidiRemote, q.InitialMaxStreamDataUni, q.InitialMaxStreamsBidi, q.InitialMaxStreamsUni));
        Assert.Equal((4UL, 20UL, true, 4UL, 1200UL), (q.AckDelayExponent, q.MaxAckDelayMs, q.DisableActiveMigration, q.ActiveConnectionIdLimit, q.MaxDatagramFrameSize));
        Assert.Empty(q.InitialSourceConnectionId!);
        Assert.Equal(p.RetrySourceConnectionId, q.RetrySourceConnectionId);
        // a client may not send server-only parameters
        var ex = Assert.Throws<QuicException>(() => TransportParameters.Decode(p.Encode(), fromServer: false));
        Assert.Equal((long)TransportErrorCode.TransportParameterError, ex.TransportErrorCode);
        // duplicates are rejected; unknown (GREASE) ids are ignored
        Assert.Throws<QuicException>(() => TransportParameters.Decode([0x04, 0x01, 0x05, 0x04, 0x01, 0x06], false));
        Assert.Equal(5UL, TransportParameters.Decode([0x40, 0x5b, 0x02, 0xaa, 0xbb, 0x04, 0x01, 0x05], false).InitialMaxData);
    }

    [Fact]
    public void RangeSet_AddRemoveMerge()
    {
        var s = new RangeSet();
        s.Add(10, 20); s.Add(30, 40); s.Add(20, 30);
        Assert.Equal(1, s.Count);
        Assert.Equal(new ULongRange(10, 40), s[0]);
        s.Remove(15, 25);
        Assert.Equal(2, s.Count);
        Assert.True(s.Contains(10, 15) && s.Contains(25, 40) && !s.Contains(15));
        s.RemoveBelow(30);
        Assert.Equal(new ULongRange(30, 40), s[0]);
        Assert.False(s.Add(31, 35));
    }
}
