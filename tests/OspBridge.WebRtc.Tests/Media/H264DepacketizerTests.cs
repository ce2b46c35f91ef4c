using System.Diagnostics;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tests.Rtp;

namespace OspBridge.WebRtc.Tests.Media;

/// <summary>H.264 depacketizer (RFC 6184 single NAL, STAP-A, FU-A): Annex B output, keyframes, loss drops the unit, fuzz.</summary>
public class H264DepacketizerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly byte[] Sps = [0x67, 0x42, 0xc0, 0x1f, 0xda];
    private static readonly byte[] Pps = [0x68, 0xce, 0x3c, 0x80];

    private static byte[] StapA(params byte[][] nals)
    {
        var list = new List<byte> { 0x78 }; // F=0 NRI=3 type 24
        foreach (var n in nals)
        {
            list.Add((byte)(n.Length >> 8));
            list.Add((byte)n.Length);
            list.AddRange(n);
        }
        return [.. list];
    }

    private static List<byte[]> FuA(byte[] nal, int chunk)
    {
        var r = new List<byte[]>();
        for (int at = 1; at < nal.Length; at += chunk)
        {
            int n = Math.Min(chunk, nal.Length - at);
            byte fu = (byte)((at == 1 ? 0x80 : 0) | (at + n >= nal.Length ? 0x40 : 0) | (nal[0] & 0x1f));
            r.Add([(byte)((nal[0] & 0xe0) | 28), fu, .. nal.AsSpan(at, n)]);
        }
        return r;
    }

    private static byte[] AnnexB(params byte[][] nals) => [.. nals.SelectMany(n => new byte[] { 0, 0, 0, 1 }.Concat(n))];

    [Fact]
    public void Stap_a_plus_fu_a_idr_gives_an_annex_b_keyframe()
    {
        var idr = new byte[3000];
        idr[0] = 0x65;
        for (int i = 1; i < idr.Length; i++)
            idr[i] = (byte)(i * 7);
        var d = new H264Depacketizer();
        ushort seq = 100;
        Assert.False(d.TryAdd(StapA(Sps, Pps), seq++, 9000, false, out _, out _));
        var frags = FuA(idr, 1000);
        for (int i = 0; i < frags.Count; i++)
        {
            bool last = i == frags.Count - 1;
            bool done = d.TryAdd(frags[i], seq++, 9000, last, out var au, out var info);
            Assert.Equal(last, done);
            if (last)
            {
                Assert.Equal(AnnexB(Sps, Pps, idr), au.ToArray());
                Assert.Equal(new MediaFrameInfo(9000, true, true), info);
            }
        }
        // a P frame as a single NAL unit packet
        Assert.True(d.TryAdd([0x41, 0x9a, 0x01], seq++, 12000, true, out var p, out var pi));
        Assert.Equal(AnnexB([0x41, 0x9a, 0x01]), p.ToArray());
        Assert.False(pi.IsKeyframe);
        Assert.Equal(0, d.DroppedAccessUnits);
    }

    [Fact]
    public void Loss_inside_a_fragmented_unit_drops_the_whole_unit_and_the_next_unit_survives()
    {
        var idr = new byte[2500];
        idr[0] = 0x65;
        var frags = FuA(idr, 1000); // 3 fragments
        var d = new H264Depacketizer();
        Assert.False(d.TryAdd(frags[0], 1, 3000, false, out _, out _));
        // fragment at seq 2 lost
        Assert.False(d.TryAdd(frags[2], 3, 3000, true, out _, out _));
        Assert.Equal(1, d.DroppedAccessUnits);
        Assert.True(d.TryAdd([0x41, 0x01], 4, 6000, true, out var au, out _));
        Assert.Equal(AnnexB([0x41, 0x01]), au.ToArray());
        // a unit that never got its marker is dropped when the timestamp moves on
        Assert.False(d.TryAdd([0x41, 0x02], 5, 9000, false, out _, out _));
        Assert.True(d.TryAdd([0x41, 0x03], 6, 12000, true, out au, out _));
        Assert.Equal(AnnexB([0x41, 0x03]), au.ToArray());
        Assert.Equal(2, d.DroppedAccessUnits);
    }

    [Fact]
    public void Fuzz_100k_mutated_payloads_never_throw_and_stay_bounded()
    {
        var idr = new byte[1800];
        idr[0] = 0x65;
        var corpus = new List<byte[]> { StapA(Sps, Pps), new byte[] { 0x41, 1, 2, 3 }, new byte[] { 0x7c, 0x85, 1, 2 } };
        corpus.AddRange(FuA(idr, 700));
        var rnd = new Random(6184);
        var buf = new byte[4096];
        var d = new H264Depacketizer();
        int units = 0;
        long bytes = 0;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 100_000; i++)
        {
            RtpFuzzTests.Mutate(rnd, corpus[rnd.Next(corpus.Count)], buf, out int len);
            ushort seq = (ushort)(i + (rnd.Next(20) == 0 ? 2 : 0));
            bool single = (i & 1) == 0; // mixed timestamps and marker bits
            if (d.TryAdd(buf.AsSpan(0, len), seq, single ? (uint)i : (uint)(i / 4), !single || i % 4 == 3, out var au, out _))
            {
                units++;
                bytes += au.Length;
                Assert.True(au.Length <= NalUnitDepacketizer.MaxAccessUnitSize);
                Assert.True(au.Length >= 5 && au[0] == 0 && au[1] == 0 && au[2] == 0 && au[3] == 1);
            }
        }
        output.WriteLine($"{units} units, {bytes} bytes, {d.DroppedAccessUnits} dropped, {sw.Elapsed}");
        Assert.True(units > 100);
        Assert.True(d.DroppedAccessUnits > 100);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30));
    }
}
