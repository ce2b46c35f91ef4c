using System.Buffers.Binary;
using OspBridge.WebRtc.Sctp;
using OspBridge.WebRtc.Sctp.Chunks;
using OspBridge.WebRtc.Sctp.Parameters;

namespace OspBridge.WebRtc.Tests.Sctp;

public class SctpWireTests
{
    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", ""));

    // RFC 3720 Appendix B.4: the CRC bytes as they appear on the wire.
    public static TheoryData<string, string> Crc32cVectors => new()
    {
        { new string('0', 64), "aa36918a" },
        { string.Concat(Enumerable.Repeat("ff", 32)), "43aba862" },
        { string.Concat(Enumerable.Range(0, 32).Select(i => i.ToString("x2"))), "4e79dd46" },
        { string.Concat(Enumerable.Range(0, 32).Reverse().Select(i => i.ToString("x2"))), "5cdb3f11" },
        { "01c00000" + "00000000" + "00000000" + "00000000" + "14000000" + "00000400" + "00000014" + "00000018" + "28000000" + "00000000" + "02000000" + "00000000", "563a96d9" },
    };

    [Theory]
    [MemberData(nameof(Crc32cVectors))]
    public void Crc32c_Rfc3720Vectors_BothPaths(string data, string wire)
    {
        var bytes = Convert.FromHexString(data);
        uint expected = BinaryPrimitives.ReadUInt32LittleEndian(Convert.FromHexString(wire));
        Assert.Equal(expected, Crc32c.Compute(bytes));
        Assert.Equal(expected, Crc32c.ComputeTable(bytes));
    }

    [Fact]
    public void Crc32c_CheckValue_And_RandomLengthsAgreeBetweenPaths()
    {
        Assert.Equal(0xE3069283u, Crc32c.Compute("123456789"u8));
        var rnd = new Random(1);
        for (int len = 0; len < 300; len++)
        {
            var b = new byte[len];
            rnd.NextBytes(b);
            Assert.Equal(Crc32c.ComputeTable(b), Crc32c.Compute(b));
        }
    }

    [Fact]
    public void CommonHeader_SealAndVerify_RejectsCorruption()
    {
        var pkt = new byte[16];
        new SctpCommonHeader(5000, 5000, 0xdeadbeef).Write(pkt);
        CookieAckChunk.Write(pkt.AsSpan(12));
        SctpCommonHeader.Seal(pkt);
        Assert.True(SctpCommonHeader.TryRead(pkt, out var h));
        Assert.Equal((ushort)5000, h.SourcePort);
        Assert.Equal(0xdeadbeefu, h.VerificationTag);
        // checksum is CRC32c over the packet with a zero checksum field, little-endian
        var copy = (byte[])pkt.Clone();
        copy.AsSpan(8, 4).Clear();
        Assert.Equal(Crc32c.Compute(copy), BinaryPrimitives.ReadUInt32LittleEndian(pkt.AsSpan(8)));
        for (int i = 0; i < pkt.Length; i++)
        {
            var bad = (byte[])pkt.Clone();
            bad[i] ^= 0x10;
            Assert.False(SctpCommonHeader.TryRead(bad, out _));
        }
    }

    [Fact]
    public void Data_GoldenBytes_AndRoundTrip()
    {
        var buf = new byte[64];
        int n = DataChunk.Write(buf, DataChunk.FlagBeginning | DataChunk.FlagEnd, 0x01020304, 5, 6, 51, "abc"u8);
        Assert.Equal(Hex("00 03 00 13 01 02 03 04 00 05 00 06 00 00 00 33 61 62 63 00"), buf[..n]);
        var r = new SctpChunkReader(buf.AsSpan(0, n));
        Assert.True(r.TryRead(out var type, out var flags, out var value));
        Assert.True(r.AtEnd);
        Assert.Equal(SctpChunkType.Data, type);
        Assert.True(DataChunk.TryParse(flags, value, out var d));
        Assert.True(d.Beginning && d.End && !d.Unordered);
        Assert.Equal(0x01020304u, d.Tsn);
        Assert.Equal((ushort)5, d.StreamId);
        Assert.Equal((ushort)6, d.Ssn);
        Assert.Equal(51u, d.Ppid);
        Assert.Equal("abc"u8.ToArray(), d.Payload.ToArray());
        Assert.False(DataChunk.TryParse(0, value[..12], out _)); // no user data
    }

    [Fact]
    public void Sack_GoldenBytes_AndRoundTrip()
    {
        var buf = new byte[64];
        int n = SackChunk.Write(buf, 0x10, 65536, [(2, 3)], [0x0e]);
        Assert.Equal(Hex("03 00 00 18 00 00 00 10 00 01 00 00 00 01 00 01 00 02 00 03 00 00 00 0e"), buf[..n]);
        Assert.True(SackChunk.TryParse(buf.AsSpan(4, n - 4), out var s));
        Assert.Equal(0x10u, s.CumulativeTsnAck);
        Assert.Equal(65536u, s.AdvertisedReceiverWindow);
        Assert.Equal(1, s.GapBlockCount);
        Assert.Equal(((ushort)2, (ushort)3), s.GapBlock(0));
        Assert.Equal(0x0eu, s.Duplicate(0));
        Assert.False(SackChunk.TryParse(buf.AsSpan(4, n - 8), out _)); // counts disagree with length
    }

    [Fact]
    public void Init_GoldenBytes_AndRoundTrip()
    {
        var p = new byte[16];
        int plen = SupportedExtensionsParameter.Write(p, [SctpChunkType.ForwardTsn, SctpChunkType.ReConfig]);
        plen += ForwardTsnSupportedParameter.Write(p.AsSpan(plen));
        var buf = new byte[64];
        int n = InitChunk.Write(buf, 0xaabbccdd, 1 << 20, 1024, 1024, 0x11223344, p.AsSpan(0, plen));
        Assert.Equal(Hex("01 00 00 20 aa bb cc dd 00 10 00 00 04 00 04 00 11 22 33 44 80 08 00 06 c0 82 00 00 c0 00 00 04"), buf[..n]);
        Assert.True(InitChunk.TryParse(buf.AsSpan(4, n - 4), out var init));
        Assert.Equal(0xaabbccddu, init.InitiateTag);
        Assert.Equal(1u << 20, init.AdvertisedReceiverWindow);
        Assert.Equal((ushort)1024, init.OutboundStreams);
        Assert.Equal(0x11223344u, init.InitialTsn);
        var pr = new SctpParameterReader(init.Parameters);
        Assert.True(pr.TryRead(out var t1, out var v1));
        Assert.Equal(SctpParameterType.SupportedExtensions, t1);
        Assert.True(SupportedExtensionsParameter.Contains(v1, SctpChunkType.ReConfig));
        Assert.True(pr.TryRead(out var t2, out _));
        Assert.Equal(SctpParameterType.ForwardTsnSupported, t2);
        Assert.False(pr.TryRead(out _, out _));
    }

    [Fact]
    public void ForwardTsn_GoldenBytes_AndRoundTrip()
    {
        var buf = new byte[32];
        int n = ForwardTsnChunk.Write(buf, 100, [(1, 2)]);
        Assert.Equal(Hex("c0 00 00 0c 00 00 00 64 00 01 00 02"), buf[..n]);
        Assert.True(ForwardTsnChunk.TryParse(buf.AsSpan(4, n - 4), out var f));
        Assert.Equal(100u, f.NewCumulativeTsn);
        Assert.Equal(((ushort)1, (ushort)2), f.Entry(0));
    }

    [Fact]
    public void Reconfig_OutgoingResetRequest_GoldenBytes_ChunkLengthExcludesLastPadding()
    {
        var buf = new byte[64];
        OutgoingSsnResetRequestParameter.Write(buf.AsSpan(4), 1, 0, 9, [3]);
        int n = ReconfigChunk.WriteHeader(buf, 4 + 12 + 2);
        Assert.Equal(Hex("82 00 00 16 00 0d 00 12 00 00 00 01 00 00 00 00 00 00 00 09 00 03 00 00"), buf[..n]);
        var r = new SctpChunkReader(buf.AsSpan(0, n));
        Assert.True(r.TryRead(out var type, out _, out var value));
        Assert.True(r.AtEnd);
        Assert.Equal(SctpChunkType.ReConfig, type);
        Assert.True(ReconfigChunk.TryValidate(value));
        var pr = new SctpParameterReader(value);
        Assert.True(pr.TryRead(out var pt, out var pv));
        Assert.Equal(SctpParameterType.OutgoingSsnResetRequest, pt);
        Assert.True(OutgoingSsnResetRequestParameter.TryParse(pv, out var req));
        Assert.Equal(1u, req.RequestSequence);
        Assert.Equal(9u, req.LastAssignedTsn);
        Assert.Equal(1, req.StreamCount);
        Assert.Equal((ushort)3, req.Stream(0));
    }

    [Fact]
    public void Reconfig_ResponseAndIncomingRequest_RoundTrip()
    {
        var buf = new byte[64];
        int n = new ReconfigurationResponseParameter(7, ReconfigResult.InProgress, 10, 20).Write(buf);
        Assert.Equal(20, n);
        Assert.Equal(Hex("00 10 00 14 00 00 00 07 00 00 00 06 00 00 00 0a 00 00 00 14"), buf[..n]);
        Assert.True(ReconfigurationResponseParameter.TryParse(buf.AsSpan(4, 16), out var resp));
        Assert.Equal(ReconfigResult.InProgress, resp.Result);
        Assert.Equal(20u, resp.ReceiverNextTsn);
        n = IncomingSsnResetRequestParameter.Write(buf, 5, [1, 2]);
        Assert.Equal(Hex("00 0e 00 0c 00 00 00 05 00 01 00 02"), buf[..n]);
        Assert.True(IncomingSsnResetRequestParameter.TryParse(buf.AsSpan(4, 8), out var inc));
        Assert.Equal(2, inc.StreamCount);
        Assert.Equal((ushort)2, inc.Stream(1));
    }

    [Fact]
    public void SmallChunks_GoldenBytes()
    {
        var buf = new byte[64];
        Assert.Equal(Hex("0b 00 00 04"), buf[..CookieAckChunk.Write(buf)]);
        Assert.Equal(Hex("08 00 00 04"), buf[..ShutdownAckChunk.Write(buf)]);
        Assert.Equal(Hex("0e 01 00 04"), buf[..ShutdownCompleteChunk.Write(buf, true)]);
        Assert.Equal(Hex("07 00 00 08 00 00 01 00"), buf[..ShutdownChunk.Write(buf, 256)]);
        Assert.True(ShutdownChunk.TryParse(buf.AsSpan(4, 4), out uint cum) && cum == 256);
        Assert.Equal(Hex("06 00 00 08 00 0c 00 04"), buf[..AbortChunk.Write(buf, false, Hex("00 0c 00 04"))]);
        Assert.Equal(Hex("0a 00 00 07 01 02 03 00"), buf[..CookieEchoChunk.Write(buf, [1, 2, 3])]);
        Assert.Equal(Hex("09 00 00 0a 00 06 00 06 c0 00 00 00"), buf[..ErrorChunk.Write(buf, SctpErrorCause.UnrecognizedChunkType, [0xc0, 0])]);
        Assert.Equal((ushort)6, ErrorChunk.FirstCause(buf.AsSpan(4, 6)));
        int hb = HeartbeatChunk.Write(buf, [9, 8, 7]);
        Assert.Equal(Hex("04 00 00 0b 00 01 00 07 09 08 07 00"), buf[..hb]);
        Assert.True(HeartbeatChunk.TryParse(buf.AsSpan(4, 7), out var info));
        Assert.Equal(new byte[] { 9, 8, 7 }, info.ToArray());
        int hba = HeartbeatAckChunk.Write(buf, [9, 8, 7]);
        Assert.Equal(0x05, buf[0]);
        Assert.Equal(12, hba);
    }

    [Fact]
    public void StateCookie_RoundTrip_RejectsTamperingAndWrongKey()
    {
        var key = new byte[32];
        key[0] = 1;
        var c = new StateCookie { Flags = 3, CreatedTicks = 12345, LifetimeMs = 60000, LocalTag = 1, PeerTag = 2, LocalInitialTsn = 3, PeerInitialTsn = 4, PeerReceiverWindow = 5, PeerOutboundStreams = 6, PeerInboundStreams = 7 };
        var buf = new byte[StateCookie.Length];
        c.Write(buf, key);
        Assert.True(StateCookie.TryRead(buf, key, out var back));
        Assert.Equal(c, back);
        var other = (byte[])key.Clone();
        other[1] = 9;
        Assert.False(StateCookie.TryRead(buf, other, out _));
        for (int i = 0; i < buf.Length; i++)
        {
            var bad = (byte[])buf.Clone();
            bad[i] ^= 1;
            Assert.False(StateCookie.TryRead(bad, key, out _));
        }
    }

    [Fact]
    public void ChunkReader_RejectsBadLengths()
    {
        Assert.False(new SctpChunkReader(Hex("00 00 00 03")).TryRead(out _, out _, out _));
        Assert.False(new SctpChunkReader(Hex("00 00 00 09 00 00 00 00")).TryRead(out _, out _, out _));
        Assert.False(new SctpChunkReader(Hex("00 00")).TryRead(out _, out _, out _));
        var r = new SctpChunkReader(Hex("0b 00 00 04 0b 00 00 04"));
        Assert.True(r.TryRead(out _, out _, out _));
        Assert.True(r.TryRead(out _, out _, out _));
        Assert.False(r.TryRead(out _, out _, out _));
        Assert.True(r.AtEnd);
    }
}
