using System.Diagnostics;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;
using OspBridge.Testing;

namespace OspBridge.Net.Tests.Dns;

public sealed class DnsFuzzTests
{
    /// <summary>
    /// 200 000 mutated mDNS packets (bit flips, byte overwrites incl. compression pointers, truncation,
    /// insertion, duplication of slices) through the parser and both mDNS cores: only NetException may escape,
    /// time and allocation are bounded.
    /// </summary>
    [Fact]
    public void Mutations_OnlyNetExceptionEscapes_BoundedTimeAndAllocation()
    {
        var rnd = new Random(20261121);
        var corpus = Enumerable.Range(0, 64).Select(_ => MdnsCorpus.RandomMessage(rnd).Encode()).ToList();
        var responder = new MdnsResponder(new MdnsResponderOptions { Random = new OspBridge.Testing.Virtual.SeededRandomNumberGenerator(1) });
        responder.AddHost(DnsName.Parse("tv.local"), [System.Net.IPAddress.Parse("10.0.0.1")], TimeSpan.Zero);
        var querier = new MdnsQuerier(1, new MdnsQuerierOptions { Random = new OspBridge.Testing.Virtual.SeededRandomNumberGenerator(2) });
        querier.Browse(DnsName.Parse("_openscreen._udp.local"), TimeSpan.Zero);
        var src = new System.Net.IPEndPoint(System.Net.IPAddress.Parse("10.0.0.2"), 5353);

        const int Iterations = 200_000;
        int parsed = 0, rejected = 0;
        var sw = Stopwatch.StartNew();
        var buf = new byte[2048];
        var buf2 = new byte[OspBridge.Net.Core.CoreLimits.MaxDatagramSize];
        // One window: the cores keep state and their clock runs with the loop, so the window is not repeatable; the
        // limit (64 KiB per packet over 200 000 packets) is far above any one-off runtime allocation.
        long allocPerPacket = Allocations.Of(() =>
        {
            for (int i = 0; i < Iterations; i++)
            {
                var seed = corpus[rnd.Next(corpus.Count)];
                int len = Mutate(seed, buf, rnd);
                var span = buf.AsSpan(0, len);
                try
                {
                    var m = DnsMessage.Parse(span);
                    parsed++;
                    if ((i & 15) == 0)
                    {
                        var now = TimeSpan.FromMilliseconds(i);
                        responder.Receive(m, src, now);
                        querier.Receive(m, src, now);
                        responder.HandleDeadline(now);
                        querier.HandleDeadline(now);
                        while (responder.TryPollTransmit(buf2, now, out _)) { }
                        while (querier.TryPollTransmit(buf2, now, out _)) { }
                        while (querier.TryPollEvent(out _)) { }
                        while (responder.TryPollEvent(out _)) { }
                    }
                }
                catch (NetException)
                {
                    rejected++;
                }
            }
        }) / Iterations;
        sw.Stop();
        Assert.Equal(Iterations, parsed + rejected);
        Assert.True(rejected > Iterations / 10, $"only {rejected} rejected: mutations too weak");
        Assert.True(parsed > Iterations / 20, $"only {parsed} parsed: mutations too strong");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(90), $"took {sw.Elapsed}");
        Assert.True(allocPerPacket < 64 * 1024, $"{allocPerPacket} bytes allocated per packet");
        Assert.True(querier.CachedRecordCount <= new MdnsQuerierOptions().MaxRecordsPerResponder);
    }

    private static int Mutate(byte[] seed, byte[] dst, Random r)
    {
        int len = Math.Min(seed.Length, dst.Length);
        seed.AsSpan(0, len).CopyTo(dst);
        int n = r.Next(1, 5);
        for (int k = 0; k < n && len > 0; k++)
        {
            switch (r.Next(7))
            {
                case 0: dst[r.Next(len)] ^= (byte)(1 << r.Next(8)); break;
                case 1: dst[r.Next(len)] = (byte)r.Next(256); break;
                case 2: // compression pointer to a random offset
                    int at = r.Next(len);
                    dst[at] = (byte)(0xC0 | r.Next(4));
                    if (at + 1 < len) dst[at + 1] = (byte)r.Next(256);
                    break;
                case 3: len = r.Next(len); break; // truncate
                case 4: // insert a byte
                    if (len < dst.Length)
                    {
                        int p = r.Next(len + 1);
                        Array.Copy(dst, p, dst, p + 1, len - p);
                        dst[p] = (byte)r.Next(256);
                        len++;
                    }
                    break;
                case 5: // header counts
                    if (len >= 12) dst[4 + 2 * r.Next(4) + 1] = (byte)r.Next(8);
                    break;
                default: // duplicate a slice
                    int from = r.Next(len), cnt = Math.Min(r.Next(1, 32), Math.Min(len - from, dst.Length - len));
                    if (cnt > 0)
                    {
                        Array.Copy(dst, from, dst, len, cnt);
                        len += cnt;
                    }
                    break;
            }
        }
        return len;
    }
}
