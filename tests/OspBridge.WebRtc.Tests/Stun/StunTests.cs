using System.Net;
using System.Text;
using OspBridge.WebRtc.Stun;

namespace OspBridge.WebRtc.Tests.Stun;

public class StunTests
{
    private static readonly byte[] Password = Encoding.UTF8.GetBytes("VOkJxbRl1RmTxUk/WvJxBt");

    // RFC 5769 §2.1 Sample Request.
    internal static readonly byte[] SampleRequest = Convert.FromHexString(
        "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e20746573742063" +
        "6c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68" +
        "367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf");

    // RFC 5769 §2.2 Sample IPv4 Response.
    private static readonly byte[] SampleIpv4Response = Convert.FromHexString(
        "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220" +
        "002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7" +
        "80280004c07d4c96");

    // RFC 5769 §2.3 Sample IPv6 Response.
    private static readonly byte[] SampleIpv6Response = Convert.FromHexString(
        "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220" +
        "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d900080014a382954e4be67bf1" +
        "1784c97c8292c275bfe3ed4180280004c8fb0b4c");

    [Fact]
    public void Rfc5769_sample_request()
    {
        Assert.True(StunMessage.IsStun(SampleRequest));
        Assert.True(StunMessage.TryParse(SampleRequest, out var m));
        Assert.Equal(StunClass.Request, m!.Class);
        Assert.Equal(StunConstants.BindingMethod, m.Method);
        Assert.Equal("evtj:h6vY", m.Username);
        Assert.Equal("STUN test client", m.Software);
        Assert.Equal(0x6e0001ffu, m.Priority);
        Assert.Equal(0x932ff9b151263b36UL, m.IceControlled);
        Assert.Null(m.IceControlling);
        Assert.False(m.UseCandidate);
        Assert.True(m.HasFingerprint);
        Assert.True(m.VerifyMessageIntegrity(Password));
        Assert.False(m.VerifyMessageIntegrity(Encoding.UTF8.GetBytes("VOkJxbRl1RmTxUk/WvJxBT")));
    }

    [Fact]
    public void Rfc5769_sample_ipv4_response()
    {
        Assert.True(StunMessage.TryParse(SampleIpv4Response, out var m));
        Assert.Equal(StunClass.SuccessResponse, m!.Class);
        Assert.Equal("test vector", m.Software);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 32853), m.XorMappedAddress);
        Assert.True(m.VerifyMessageIntegrity(Password));
    }

    [Fact]
    public void Rfc5769_sample_ipv6_response()
    {
        Assert.True(StunMessage.TryParse(SampleIpv6Response, out var m));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8:1234:5678:11:2233:4455:6677"), 32853), m!.XorMappedAddress);
        Assert.True(m.VerifyMessageIntegrity(Password));
    }

    [Fact]
    public void Wrong_fingerprint_is_rejected()
    {
        var bad = (byte[])SampleRequest.Clone();
        bad[^1] ^= 1;
        Assert.False(StunMessage.TryParse(bad, out _));
        var bad2 = (byte[])SampleRequest.Clone();
        bad2[30] ^= 1; // inside SOFTWARE: fingerprint no longer matches
        Assert.False(StunMessage.TryParse(bad2, out _));
    }

    [Theory]
    [InlineData((ushort)0x001, StunClass.Request, (ushort)0x0001)]
    [InlineData((ushort)0x001, StunClass.SuccessResponse, (ushort)0x0101)]
    [InlineData((ushort)0x001, StunClass.ErrorResponse, (ushort)0x0111)]
    [InlineData((ushort)0x001, StunClass.Indication, (ushort)0x0011)]
    [InlineData((ushort)0x003, StunClass.ErrorResponse, (ushort)0x0113)]
    [InlineData((ushort)0x009, StunClass.SuccessResponse, (ushort)0x0109)]
    public void Message_type_encoding(ushort method, StunClass cls, ushort wire) => Assert.Equal(wire, StunMessage.EncodeType(method, cls));

    [Fact]
    public void Builder_round_trip_with_all_ice_attributes()
    {
        var key = Encoding.UTF8.GetBytes("0123456789abcdefghijkl");
        var tx = StunMessageBuilder.NewTransactionId();
        var bytes = new StunMessageBuilder(StunConstants.BindingMethod, StunClass.Request, tx)
            .AddUsername("abcd:efgh").AddPriority(1853824767).AddIceRole(true, 0x0102030405060708).AddUseCandidate()
            .AddMessageIntegrity(key).AddMessageIntegritySha256(key).AddFingerprint().ToArray();
        Assert.True(StunMessage.TryParse(bytes, out var m));
        Assert.Equal(tx, m!.TransactionId.ToArray());
        Assert.Equal("abcd:efgh", m.Username);
        Assert.Equal(1853824767u, m.Priority);
        Assert.Equal(0x0102030405060708UL, m.IceControlling);
        Assert.True(m.UseCandidate);
        Assert.True(m.VerifyMessageIntegrity(key));
        Assert.True(m.VerifyMessageIntegritySha256(key));
        Assert.False(m.VerifyMessageIntegritySha256(Encoding.UTF8.GetBytes("wrong")));

        foreach (var ep in new[] { new IPEndPoint(IPAddress.Parse("10.1.2.3"), 5000), new IPEndPoint(IPAddress.Parse("fe80::1"), 65535) })
        {
            var r = new StunMessageBuilder(StunConstants.BindingMethod, StunClass.SuccessResponse, tx).AddXorMappedAddress(ep)
                .AddMessageIntegrity(key).AddFingerprint().ToArray();
            Assert.True(StunMessage.TryParse(r, out var rm));
            Assert.Equal(ep, rm!.XorMappedAddress);
        }
        var e = new StunMessageBuilder(StunConstants.BindingMethod, StunClass.ErrorResponse, tx).AddErrorCode(487, "Role Conflict").AddFingerprint().ToArray();
        Assert.True(StunMessage.TryParse(e, out var em));
        Assert.Equal(new StunErrorCode(487, "Role Conflict"), em!.ErrorCode);
    }

    [Fact]
    public void Attributes_after_integrity_are_ignored_and_nothing_may_follow_fingerprint()
    {
        var key = Encoding.UTF8.GetBytes("pw");
        var tx = new byte[12];
        var b = new StunMessageBuilder(StunConstants.BindingMethod, StunClass.Request, tx).AddUsername("a:b").AddMessageIntegrity(key)
            .AddAttribute(StunAttributeType.Priority, [0, 0, 0, 1]).AddFingerprint();
        Assert.True(StunMessage.TryParse(b.Written, out var m));
        Assert.Null(m!.Priority);
        Assert.True(m.VerifyMessageIntegrity(key));

        var withTrailer = new List<byte>(b.ToArray());
        withTrailer.AddRange(new byte[] { 0x00, 0x24, 0x00, 0x04, 0, 0, 0, 1 });
        var arr = withTrailer.ToArray();
        arr[3] += 8;
        Assert.False(StunMessage.TryParse(arr, out _));
    }

    [Fact]
    public void Demux_by_first_byte()
    {
        Assert.Equal(OspBridge.WebRtc.Ice.PacketKind.Stun, OspBridge.WebRtc.Ice.PacketDemux.Classify(SampleRequest));
        Assert.Equal(OspBridge.WebRtc.Ice.PacketKind.Dtls, OspBridge.WebRtc.Ice.PacketDemux.Classify([22, 254, 253]));
        Assert.Equal(OspBridge.WebRtc.Ice.PacketKind.Dtls, OspBridge.WebRtc.Ice.PacketDemux.Classify([63]));
        Assert.Equal(OspBridge.WebRtc.Ice.PacketKind.Rtp, OspBridge.WebRtc.Ice.PacketDemux.Classify([0x80, 111]));
        Assert.Equal(OspBridge.WebRtc.Ice.PacketKind.Rtp, OspBridge.WebRtc.Ice.PacketDemux.Classify([191]));
        Assert.Equal(OspBridge.WebRtc.Ice.PacketKind.Unknown, OspBridge.WebRtc.Ice.PacketDemux.Classify([200]));
        Assert.Equal(OspBridge.WebRtc.Ice.PacketKind.Unknown, OspBridge.WebRtc.Ice.PacketDemux.Classify([]));
    }

    [Fact]
    public void Mutation_fuzz_never_throws()
    {
        var rng = new Random(5769);
        var seeds = new[] { SampleRequest, SampleIpv4Response, SampleIpv6Response };
        int ok = 0;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 50_000; i++)
        {
            var s = seeds[i % seeds.Length];
            var buf = (byte[])s.Clone();
            int len = buf.Length;
            for (int k = 0, n = 1 + rng.Next(6); k < n; k++)
            {
                switch (rng.Next(4))
                {
                    case 0: buf[rng.Next(len)] = (byte)rng.Next(256); break;
                    case 1: buf[rng.Next(len)] ^= (byte)(1 << rng.Next(8)); break;
                    case 2: len = Math.Max(0, len - 4 * rng.Next(1, 4)); break;
                    default: buf[2 + rng.Next(2)] = (byte)rng.Next(256); break;
                }
            }
            var span = buf.AsSpan(0, len);
            if (StunMessage.TryParse(span, out var m))
            {
                ok++;
                _ = m!.Username; _ = m.XorMappedAddress; _ = m.ErrorCode; _ = m.Priority; _ = m.Software;
                _ = m.VerifyMessageIntegrity(Password); _ = m.VerifyMessageIntegritySha256(Password);
                _ = m.UnknownRequiredAttributes();
            }
        }
        Assert.True(ok > 0);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60));
    }
}
