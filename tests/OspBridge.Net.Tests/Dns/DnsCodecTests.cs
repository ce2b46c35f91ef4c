using System.Net;
using System.Text;
using OspBridge.Net.Dns;

namespace OspBridge.Net.Tests.Dns;

public sealed class DnsCodecTests
{
    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", "", StringComparison.Ordinal));

    [Fact]
    public void Query_GoldenBytes_QuBit()
    {
        var m = new DnsMessage();
        m.Questions.Add(new DnsQuestion(DnsName.Parse("_openscreen._udp.local"), DnsRecordType.PTR, UnicastResponse: true));
        byte[] expected = Hex("0000 0000 0001 0000 0000 0000 0b5f6f70656e73637265656e 045f756470 056c6f63616c 00 000c 8001");
        Assert.Equal(expected, m.Encode());
        var back = DnsMessage.Parse(expected);
        var q = Assert.Single(back.Questions);
        Assert.True(q.UnicastResponse);
        Assert.Equal(DnsRecordType.PTR, q.Type);
        Assert.Equal(DnsClass.IN, q.Class);
    }

    [Fact]
    public void Response_GoldenBytes_WithCompression()
    {
        var type = DnsName.Parse("_openscreen._udp.local");
        var inst = type.Prepend("TV");
        var m = new DnsMessage { Header = new DnsHeader(0, 0x8400) };
        m.Answers.Add(new PtrRecord(type, inst, 4500));
        m.Additionals.Add(new SrvRecord(inst, 0, 0, 4433, DnsName.Parse("tv.local"), 120));
        m.Additionals.Add(new ARecord(DnsName.Parse("tv.local"), IPAddress.Parse("10.213.0.1"), 120));
        byte[] expected = Hex(
            "0000 8400 0000 0001 0000 0002" +
            // @12 PTR owner _openscreen._udp.local
            "0b5f6f70656e73637265656e 045f756470 056c6f63616c 00" +
            "000c 0001 00001194 0005 025456 c00c" +      // rdata @46: "TV" + ptr to 12
            "c02e 0021 8001 00000078 000b 0000 0000 1151 027476 c01d" + // SRV owner ptr 46; target "tv" @69 + ptr to "local" @29
            "c045 0001 8001 00000078 0004 0ad50001");    // A owner = "tv.local" @69
        byte[] actual = m.Encode();
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(actual));
        var back = DnsMessage.Parse(actual);
        Assert.Equal(inst, ((PtrRecord)back.Answers[0]).Target);
        var srv = (SrvRecord)back.Additionals[0];
        Assert.Equal((ushort)4433, srv.Port);
        Assert.True(srv.CacheFlush);
        Assert.Equal("tv.local", srv.Target.ToString());
        Assert.Equal(IPAddress.Parse("10.213.0.1"), ((ARecord)back.Additionals[1]).Address);
    }

    [Fact]
    public void Rfc1035_CompressionExample()
    {
        // RFC 1035 §4.1.4: F.ISI.ARPA at 20, FOO.F.ISI.ARPA at 40 (FOO + ptr 20), ARPA at 64 (ptr 26).
        var msg = new byte[80];
        Hex("01 46 03 49 53 49 04 41 52 50 41 00").CopyTo(msg, 20);
        Hex("03 46 4f 4f c0 14").CopyTo(msg, 40);
        Hex("c0 1a").CopyTo(msg, 64);
        int p = 20;
        Assert.Equal("F.ISI.ARPA", DnsReader.ReadName(msg, ref p, msg.Length).ToString());
        Assert.Equal(32, p);
        p = 40;
        Assert.Equal("FOO.F.ISI.ARPA", DnsReader.ReadName(msg, ref p, msg.Length).ToString());
        Assert.Equal(46, p);
        p = 64;
        Assert.Equal("ARPA", DnsReader.ReadName(msg, ref p, msg.Length).ToString());
        Assert.Equal(66, p);
    }

    [Theory]
    [InlineData("c00c", "pointer to itself")]           // at offset 12, points to 12
    [InlineData("c00e", "forward pointer")]
    [InlineData("40", "extended label type")]
    [InlineData("80", "reserved label type")]
    [InlineData("05616263", "label past end")]
    [InlineData("c0", "truncated pointer")]
    [InlineData("03616263", "missing terminator")]
    [InlineData("02c3", "invalid UTF-8")]
    public void MalformedNames_Rejected(string nameHex, string why)
    {
        var msg = Hex("0000 0000 0001 0000 0000 0000").Concat(Hex(nameHex)).Concat(Hex("000c0001")).ToArray();
        var ex = Assert.Throws<NetException>(() => DnsMessage.Parse(msg));
        Assert.Equal(NetError.Malformed, ex.Error);
        Assert.False(string.IsNullOrEmpty(why));
    }

    [Fact]
    public void PointerChains_BoundedHops_AndLength()
    {
        // A chain of 40 backward pointers, each to the previous one, ending in a root label: > 32 hops.
        var msg = new List<byte>(Hex("0000 0000 0001 0000 0000 0000"));
        int first = msg.Count;
        msg.Add(0);
        int prev = first;
        for (int i = 0; i < 40; i++)
        {
            int at = msg.Count;
            msg.Add((byte)(0xC0 | (prev >> 8)));
            msg.Add((byte)prev);
            prev = at;
        }
        // Question name = pointer to the last chain link.
        var q = msg.ToList();
        q.Add((byte)(0xC0 | (prev >> 8)));
        q.Add((byte)prev);
        q.AddRange(Hex("000c0001"));
        // Header says 1 question; the question starts at offset 12 which is the root label, so build by hand:
        var bytes = q.ToArray();
        int pos = bytes.Length - 6;
        var ex = Assert.Throws<NetException>(() => DnsReader.ReadName(bytes, ref pos, bytes.Length));
        Assert.Contains("too many compression pointers", ex.Message, StringComparison.Ordinal);

        // Names over 255 octets via pointers: five 63-octet labels chained backwards.
        var big = new List<byte>();
        int prevStart = -1;
        for (int i = 0; i < 5; i++)
        {
            int start = big.Count;
            big.Add(63);
            big.AddRange(Enumerable.Repeat((byte)'a', 63));
            if (prevStart < 0) big.Add(0);
            else { big.Add((byte)(0xC0 | (prevStart >> 8))); big.Add((byte)prevStart); }
            prevStart = start;
        }
        var arr = big.ToArray();
        int p2 = prevStart;
        var ex2 = Assert.Throws<NetException>(() => DnsReader.ReadName(arr, ref p2, arr.Length));
        Assert.Contains("255", ex2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ImpossibleCounts_RejectedBeforeAllocation()
    {
        var ex = Assert.Throws<NetException>(() => DnsMessage.Parse(Hex("0000 8400 ffff ffff ffff ffff")));
        Assert.Equal(NetError.Malformed, ex.Error);
    }

    [Fact]
    public void Nsec_Bitmap_RoundTrip_AndGolden()
    {
        var n = DnsName.Parse("tv.local");
        var nsec = new NsecRecord(n, n, [DnsRecordType.A, DnsRecordType.AAAA], 120);
        // Window 0, length 4: A = bit 1 (0x40 in octet 0), AAAA = 28 → octet 3 bit 4 (0x08).
        Assert.Equal(Hex("02747605 6c6f63616c00 0004 40000008"), nsec.GetCanonicalData());
        var m = new DnsMessage { Header = new DnsHeader(0, 0x8400) };
        m.Answers.Add(nsec);
        var back = (NsecRecord)DnsMessage.Parse(m.Encode()).Answers[0];
        Assert.True(back.HasType(DnsRecordType.A) && back.HasType(DnsRecordType.AAAA) && !back.HasType(DnsRecordType.TXT));
        Assert.True(back.SameRecord(nsec));
    }

    [Fact]
    public void TxtProperties_Rfc6763Section6Rules()
    {
        byte[][] strings =
        [
            "fp=abc"u8.ToArray(),
            "FP=second"u8.ToArray(),   // duplicate key (case-insensitive): ignored
            "flag"u8.ToArray(),        // boolean attribute
            "empty="u8.ToArray(),      // empty value
            "=novalue"u8.ToArray(),    // empty key: ignored
            [],                        // empty string: ignored
            [(byte)'m', (byte)'v', (byte)'=', 0x40, 0x25], // binary value (QUIC varint 37)
            [0x7f, (byte)'=', 1],      // non-printable key: ignored
            "x=a=b"u8.ToArray(),       // value may contain '='
        ];
        var p = TxtProperties.Parse(strings);
        Assert.Equal("abc", p.GetString("Fp"));
        Assert.True(p.TryGetValue("flag", out var flag));
        Assert.Null(flag);
        Assert.True(p.TryGetValue("empty", out var empty));
        Assert.Empty(empty!);
        Assert.True(p.TryGetValue("mv", out var mv));
        Assert.Equal(new byte[] { 0x40, 0x25 }, mv);
        Assert.Equal("a=b", p.GetString("x"));
        Assert.Equal(5, p.Count);

        var rec = new TxtRecord(DnsName.Parse("a.local"), p, 4500);
        var again = TxtProperties.Parse(rec.Strings);
        Assert.Equal(p.Items.Select(kv => kv.Key), again.Items.Select(kv => kv.Key));
        Assert.Throws<ArgumentException>(() => new TxtProperties().Set("a=b", "x"));
        Assert.Throws<ArgumentException>(() => new TxtProperties().Set("", "x"));
    }

    [Fact]
    public void EmptyTxt_IsOneZeroLengthString()
    {
        var rec = new TxtRecord(DnsName.Parse("a.local"), Array.Empty<byte[]>(), 10);
        Assert.Equal(new byte[] { 0 }, rec.GetCanonicalData());
    }

    [Fact]
    public void Names_CaseInsensitiveAsciiOnly_DotsInLabels()
    {
        Assert.Equal(DnsName.Parse("TV.Local"), DnsName.Parse("tv.LOCAL"));
        Assert.NotEqual(DnsName.Parse("É.local"), DnsName.Parse("é.local")); // non-ASCII compared exactly
        var n = DnsName.Parse(@"Mr\. Smith's TV._openscreen._udp.local");
        Assert.Equal("Mr. Smith's TV", n.Labels[0]);
        Assert.Equal(4, n.Labels.Count);
        Assert.Equal(@"Mr\. Smith's TV._openscreen._udp.local", n.ToString());
        Assert.Throws<NetException>(() => DnsName.Parse(new string('a', 64) + ".local"));
        Assert.Throws<NetException>(() => DnsName.Parse(string.Join('.', Enumerable.Repeat(new string('a', 63), 4)) + ".local"));
    }

    [Fact]
    public void RoundTrip_RandomMessages_FixedSeed()
    {
        var rnd = new Random(42);
        for (int i = 0; i < 500; i++)
        {
            var m = MdnsCorpus.RandomMessage(rnd);
            var bytes = m.Encode();
            var back = DnsMessage.Parse(bytes);
            Assert.Equal(m.Header, back.Header);
            Assert.Equal(m.Questions, back.Questions);
            foreach (var (a, b) in m.Answers.Concat(m.Additionals).Zip(back.Answers.Concat(back.Additionals)))
            {
                Assert.True(a.SameRecord(b), $"{a} vs {b}");
                Assert.Equal(a.Ttl, b.Ttl);
                Assert.Equal(a.CacheFlush, b.CacheFlush);
            }
            Assert.Equal(bytes, back.Encode()); // re-encoding is stable
        }
    }
}

internal static class MdnsCorpus
{
    private static readonly string[] Labels = ["tv", "Front Door", "_openscreen", "_udp", "local", "Küche", "a.b", "x"];

    public static DnsName RandomName(Random r)
    {
        int n = r.Next(1, 5);
        return new DnsName(Enumerable.Range(0, n).Select(_ => Labels[r.Next(Labels.Length)]).Append("local"));
    }

    public static DnsRecord RandomRecord(Random r)
    {
        var name = RandomName(r);
        uint ttl = (uint)r.Next(0, 5000);
        bool flush = r.Next(2) == 0;
        switch (r.Next(7))
        {
            case 0: return new ARecord(name, new IPAddress(r.NextInt64(0, uint.MaxValue)), ttl, flush);
            case 1:
                var b = new byte[16];
                r.NextBytes(b);
                return new AaaaRecord(name, new IPAddress(b), ttl, flush);
            case 2: return new PtrRecord(name, RandomName(r), ttl, flush);
            case 3: return new SrvRecord(name, (ushort)r.Next(3), (ushort)r.Next(3), (ushort)r.Next(65536), RandomName(r), ttl, flush);
            case 4:
                var p = new TxtProperties().Set("fp", Convert.ToBase64String(new byte[32])).Set("mv", [(byte)r.Next(64)]);
                if (r.Next(2) == 0) p.Set("flag", (byte[]?)null);
                return new TxtRecord(name, p, ttl, flush);
            case 5: return new NsecRecord(name, name, [DnsRecordType.A, DnsRecordType.TXT, DnsRecordType.SRV, (DnsRecordType)r.Next(1, 1000)], ttl, flush);
            default:
                var raw = new byte[r.Next(0, 20)];
                r.NextBytes(raw);
                return new UnknownRecord(name, (DnsRecordType)r.Next(100, 200), raw, ttl, flush);
        }
    }

    public static DnsMessage RandomMessage(Random r)
    {
        var m = new DnsMessage { Header = new DnsHeader((ushort)r.Next(65536), r.Next(2) == 0 ? (ushort)0 : (ushort)0x8400) };
        for (int i = r.Next(0, 3); i > 0; i--)
            m.Questions.Add(new DnsQuestion(RandomName(r), (DnsRecordType)r.Next(1, 256), DnsClass.IN, r.Next(2) == 0));
        for (int i = r.Next(0, 5); i > 0; i--) m.Answers.Add(RandomRecord(r));
        for (int i = r.Next(0, 4); i > 0; i--) m.Additionals.Add(RandomRecord(r));
        return m;
    }
}
