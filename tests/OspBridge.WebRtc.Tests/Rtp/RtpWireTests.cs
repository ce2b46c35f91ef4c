using OspBridge.WebRtc.Rtp;
using OspBridge.WebRtc.Rtp.Rtcp;

namespace OspBridge.WebRtc.Tests.Rtp;

/// <summary>Golden bytes (worked out by hand from the RFC layouts) and round trips for RTP and every RTCP packet type.</summary>
public class RtpWireTests
{
    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", "", StringComparison.Ordinal));

    // V=2 X=1 CC=0 | M=1 PT=96 | seq 0x1234 | ts | ssrc | 0xBEDE len=2 | id1 L0 AA | id2 L1 01 02 | pad
    private const string RtpWithOneByteExtension = "90E01234 DEADBEEF CAFEBABE BEDE0002 10AA2101 02000000";

    [Fact]
    public void Rtp_header_with_one_byte_extension_golden_bytes()
    {
        Span<byte> ext = stackalloc byte[16];
        var w = new RtpExtensionWriter(ext);
        Assert.True(w.TryAdd(1, [0xAA]));
        Assert.True(w.TryAdd(2, [0x01, 0x02]));
        Assert.False(w.TryAdd(15, [0x01])); // 15 is reserved in the one-byte form
        Assert.False(w.TryAdd(3, new byte[17])); // at most 16 octets
        var data = w.Finish();
        var h = new RtpHeader { Marker = true, PayloadType = 96, SequenceNumber = 0x1234, Timestamp = 0xDEADBEEF, Ssrc = 0xCAFEBABE, ExtensionProfile = w.Profile };
        var buf = new byte[64];
        Assert.True(h.TryWrite(buf, default, data, out int n));
        buf[n] = 0x42; // one payload octet
        Assert.Equal(Hex(RtpWithOneByteExtension), buf[..n]);

        Assert.True(RtpHeader.TryRead(buf.AsSpan(0, n + 1), out var r));
        Assert.True(r.Marker);
        Assert.Equal(96, r.PayloadType);
        Assert.Equal(0x1234, r.SequenceNumber);
        Assert.Equal(0xDEADBEEFu, r.Timestamp);
        Assert.Equal(0xCAFEBABEu, r.Ssrc);
        Assert.Equal(24, r.HeaderLength);
        Assert.Equal([0x42], r.Payload(buf.AsSpan(0, n + 1)).ToArray());
        var er = new RtpExtensionReader(r.ExtensionProfile, r.ExtensionData(buf));
        Assert.True(er.TryRead(out byte id, out var v));
        Assert.Equal(1, id);
        Assert.Equal([0xAA], v.ToArray());
        Assert.True(er.TryRead(out id, out v));
        Assert.Equal(2, id);
        Assert.Equal([0x01, 0x02], v.ToArray());
        Assert.False(er.TryRead(out _, out _));
        Assert.False(er.IsMalformed);
    }

    [Fact]
    public void Rtp_two_byte_extension_csrcs_and_padding_round_trip()
    {
        Span<byte> ext = stackalloc byte[300];
        var w = new RtpExtensionWriter(ext, twoByte: true);
        Assert.True(w.TryAdd(200, new byte[20]));
        Assert.True(w.TryAdd(3, [])); // zero-length is legal in the two-byte form
        var data = w.Finish().ToArray();
        var buf = new byte[200];
        var h = new RtpHeader { PayloadType = 111, SequenceNumber = 65535, Timestamp = 1, Ssrc = 2, ExtensionProfile = 0x1000 };
        Assert.True(h.TryWrite(buf, [7u, 8u], data, out int n));
        // payload of 3 octets + 5 octets padding (P bit set by hand)
        buf[0] |= 0x20;
        buf[n + 7] = 5;
        var packet = buf.AsSpan(0, n + 8);
        Assert.True(RtpHeader.TryRead(packet, out var r));
        Assert.Equal(2, r.CsrcCount);
        Assert.Equal(8u, r.Csrc(packet, 1));
        Assert.Equal(5, r.PaddingLength);
        Assert.Equal(3, r.Payload(packet).Length);
        var er = new RtpExtensionReader(r.ExtensionProfile, r.ExtensionData(packet));
        Assert.True(er.TryRead(out byte id, out var v));
        Assert.Equal(200, id);
        Assert.Equal(20, v.Length);
        Assert.True(er.TryRead(out id, out v));
        Assert.Equal(3, id);
        Assert.Equal(0, v.Length);
        Assert.False(er.TryRead(out _, out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("40E01234DEADBEEFCAFEBABE")] // version 1
    [InlineData("82E01234DEADBEEFCAFEBABE00000001")] // CC=2 but only one CSRC
    [InlineData("90E01234DEADBEEFCAFEBABEBEDE0002 10AA2101")] // extension longer than the packet
    [InlineData("A0E01234DEADBEEFCAFEBABE 00")] // padding count 0
    [InlineData("A0E01234DEADBEEFCAFEBABE 0005")] // padding beyond the payload
    public void Rtp_header_rejects_malformed(string hex) => Assert.False(RtpHeader.TryRead(Hex(hex), out _));

    [Fact]
    public void Rtp_rtcp_demultiplexing_ranges()
    {
        Assert.True(RtpHeader.IsRtpOrRtcp([0x80, 0x60]));
        Assert.False(RtpHeader.IsRtpOrRtcp([0x16, 0xfe])); // DTLS
        Assert.False(RtpHeader.IsRtpOrRtcp([0x00, 0x01])); // STUN
        Assert.True(RtpHeader.IsRtcp([0x81, 200]));
        Assert.False(RtpHeader.IsRtcp([0x80, 0xE0])); // PT 96 with marker = 224: RTP
    }

    [Fact]
    public void Generic_nack_golden_bytes_and_lost_list()
    {
        var buf = new byte[64];
        Assert.True(GenericNack.TryWrite(buf, 1, 2, [100, 101, 103, 117, 200], out int n));
        Assert.Equal(Hex("81CD0005 00000001 00000002 00640005 00750000 00C80000"), buf[..n]);
        Assert.True(GenericNack.TryRead(buf.AsSpan(0, n), out var nack));
        Assert.Equal(1u, nack.Header.SenderSsrc);
        Assert.Equal(2u, nack.Header.MediaSsrc);
        Assert.Equal(3, nack.ItemCount);
        Span<ushort> lost = stackalloc ushort[64];
        int k = nack.CopyLostSequenceNumbers(lost);
        Assert.Equal([100, 101, 103, 117, 200], lost[..k].ToArray());
        // wrap-around: 65535 then 0, 1
        Assert.True(GenericNack.TryWrite(buf, 1, 2, [65535, 0, 1], out n));
        Assert.Equal(Hex("81CD0003 00000001 00000002 FFFF0003"), buf[..n]);
    }

    [Fact]
    public void Pli_fir_remb_golden_bytes()
    {
        var buf = new byte[64];
        Assert.True(PictureLossIndication.TryWrite(buf, 0x11111111, 0x22222222, out int n));
        Assert.Equal(Hex("81CE0002 11111111 22222222"), buf[..n]);
        Assert.True(PictureLossIndication.TryRead(buf.AsSpan(0, n), out var pli));
        Assert.Equal(0x22222222u, pli.MediaSsrc);

        Assert.True(FullIntraRequest.TryWrite(buf, 0x11111111, 0x22222222, 7, out n));
        Assert.Equal(Hex("84CE0004 11111111 00000000 22222222 07000000"), buf[..n]);
        Assert.True(FullIntraRequest.TryRead(buf.AsSpan(0, n), out var fir));
        Assert.Equal((0x22222222u, (byte)7), fir.Entry(0));

        Assert.True(ReceiverEstimatedMaxBitrate.TryWrite(buf, 0x11111111, 1_000_000, [0x22222222u], out n));
        Assert.Equal(Hex("8FCE0005 11111111 00000000 52454D42 010BD090 22222222"), buf[..n]);
        Assert.True(ReceiverEstimatedMaxBitrate.TryRead(buf.AsSpan(0, n), out var remb));
        Assert.Equal(1_000_000ul, remb.Bitrate);
        Assert.Equal(0x22222222u, remb.Ssrc(0));
        Assert.False(PictureLossIndication.TryRead(buf.AsSpan(0, n), out _)); // FMT 15 is not a PLI
    }

    [Fact]
    public void Compound_sr_sdes_bye_golden_bytes_and_reader()
    {
        var buf = new byte[256];
        var block = new ReceptionReport(0x22222222, 64, -3, 0x0001_0005, 90, 0x12345678, 65536);
        Assert.True(SenderReport.TryWrite(buf, 0x11111111, 0xE000_0000_8000_0000, 3000, 10, 1000, [block], out int n1));
        Assert.True(SourceDescription.TryWriteCName(buf.AsSpan(n1), 0x11111111, "ab"u8, out int n2));
        Assert.True(Goodbye.TryWrite(buf.AsSpan(n1 + n2), [0x11111111u], "x"u8, out int n3));
        var compound = buf.AsSpan(0, n1 + n2 + n3);
        Assert.Equal(Hex(
            "81C8000C 11111111 E0000000 80000000 00000BB8 0000000A 000003E8" +
            "22222222 40FFFFFD 00010005 0000005A 12345678 00010000" +
            "81CA0003 11111111 01026162 00000000" +
            "81CB0002 11111111 01780000"), compound.ToArray());

        var r = new RtcpCompoundReader(compound);
        Assert.True(r.TryRead(out var h, out var p));
        Assert.Equal((byte)RtcpPacketType.SenderReport, h.PacketType);
        Assert.True(SenderReport.TryRead(p, out var sr));
        Assert.Equal(0xE000_0000_8000_0000ul, sr.NtpTimestamp);
        Assert.Equal(block, sr.Report(0));
        Assert.True(r.TryRead(out h, out p));
        Assert.True(SourceDescription.TryCreate(p, out var sdes));
        Assert.True(sdes.TryRead(out uint ssrc, out byte type, out var cname));
        Assert.Equal((0x11111111u, SourceDescription.CName, "ab"), (ssrc, type, System.Text.Encoding.ASCII.GetString(cname)));
        Assert.False(sdes.TryRead(out _, out _, out _));
        Assert.False(sdes.IsMalformed);
        Assert.True(r.TryRead(out h, out p));
        Assert.True(Goodbye.TryRead(p, out var bye));
        Assert.Equal(0x11111111u, bye.Source(0));
        Assert.Equal("x"u8.ToArray(), bye.Reason.ToArray());
        Assert.False(r.TryRead(out _, out _));
        Assert.False(r.IsMalformed);
    }

    [Fact]
    public void Receiver_report_round_trip_and_truncated_compound_is_malformed()
    {
        var buf = new byte[128];
        var blocks = new[] { new ReceptionReport(5, 0, 0, 17, 0, 0, 0), new ReceptionReport(6, 255, 0x7fffff, 1, 2, 3, 4) };
        Assert.True(ReceiverReport.TryWrite(buf, 9, blocks, out int n));
        Assert.Equal(8 + 48, n);
        Assert.True(ReceiverReport.TryRead(buf.AsSpan(0, n), out var rr));
        Assert.Equal(9u, rr.Ssrc);
        Assert.Equal(blocks[1], rr.Report(1));
        var r = new RtcpCompoundReader(buf.AsSpan(0, n - 4));
        Assert.False(r.TryRead(out _, out _));
        Assert.True(r.IsMalformed);
        Assert.False(ReceiverReport.TryRead(buf.AsSpan(0, n - 4), out _));
    }
}
