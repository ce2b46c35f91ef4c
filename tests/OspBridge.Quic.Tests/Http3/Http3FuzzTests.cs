using System.Diagnostics;
using OspBridge.Quic;
using OspBridge.Quic.Http3;
using OspBridge.Quic.Http3.Qpack;

namespace OspBridge.Quic.Tests.Http3;

/// <summary>Mutation fuzz of the HTTP/3 frame and QPACK parsers: only QuicException may escape; bounded time/alloc.</summary>
public class Http3FuzzTests
{
    private sealed class NullSink : IHttp3MessageSink
    {
        public long Bytes;
        public void OnHeaders(List<HeaderField> fields, bool trailers) { }
        public void OnData(ReadOnlySpan<byte> data) => Bytes += data.Length;
    }

    private static byte[] Mutate(Random rng, byte[] seed)
    {
        var b = new List<byte>(seed);
        for (int i = 0, ops = 1 + rng.Next(4); i < ops; i++)
        {
            if (b.Count == 0) { b.Add((byte)rng.Next(256)); continue; }
            int p = rng.Next(b.Count);
            switch (rng.Next(6))
            {
                case 0: b[p] ^= (byte)(1 << rng.Next(8)); break;
                case 1: b[p] = (byte)rng.Next(256); break;
                case 2: b.RemoveRange(p, Math.Min(b.Count - p, 1 + rng.Next(8))); break;
                case 3: b.InsertRange(p, Enumerable.Range(0, 1 + rng.Next(8)).Select(_ => (byte)rng.Next(256))); break;
                case 4: b.RemoveRange(p, b.Count - p); break;
                default: b[p] = rng.Next(2) == 0 ? (byte)0xFF : (byte)0x3F; break;
            }
        }
        return [.. b];
    }

    [Fact]
    public void Qpack_decoder_survives_100k_mutations()
    {
        byte[][] seeds =
        [
            QpackEncoder.Encode([new(":method", "GET"), new(":scheme", "https"), new(":authority", "a.example:443"), new(":path", "/x?y=z"), new("user-agent", "fuzz"), new("x-long", new string('q', 300))]),
            Convert.FromHexString("0000510b2f696e6465782e68746d6c"),
            [0, 0, 0x50, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff],
        ];
        var rng = new Random(9114);
        var sw = Stopwatch.StartNew();
        long alloc0 = GC.GetAllocatedBytesForCurrentThread();
        int ok = 0, bad = 0;
        for (int i = 0; i < 100_000; i++)
        {
            try { QpackDecoder.Decode(Mutate(rng, seeds[i % seeds.Length]), 8192); ok++; }
            catch (QuicException e) { Assert.NotNull(e.ApplicationErrorCode); bad++; }
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60));
        Assert.True((GC.GetAllocatedBytesForCurrentThread() - alloc0) / 100_000 < 32 * 1024);
        Assert.True(ok > 1000 && bad > 1000, $"ok {ok} bad {bad}");
    }

    [Fact]
    public void Message_and_control_readers_survive_mutations_in_random_pieces()
    {
        byte[] msg = Http3FrameTests.SampleMessage(out _);
        byte[] control = [.. SettingsFrame.Encode([(1, 0), (6, 16384), (7, 0)]), .. GoawayFrame.Encode(4), .. Http3Frame.Encode(0x21, [9])];
        var rng = new Random(42);
        var sw = Stopwatch.StartNew();
        int ok = 0, bad = 0;
        for (int i = 0; i < 30_000; i++)
        {
            bool isControl = i % 3 == 0;
            byte[] m = Mutate(rng, isControl ? control : msg);
            try
            {
                var r = new Http3MessageReader(8192);
                var c = new Http3ControlStreamReader();
                var sink = new NullSink();
                int p = 0;
                while (p < m.Length)
                {
                    int n = Math.Min(m.Length - p, 1 + rng.Next(200));
                    if (isControl) c.Process(m.AsSpan(p, n)); else r.Process(m.AsSpan(p, n), sink);
                    p += n;
                }
                if (!isControl) r.Finish();
                Assert.True(sink.Bytes <= m.Length);
                ok++;
            }
            catch (QuicException e) { Assert.NotNull(e.ApplicationErrorCode); bad++; }
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60));
        Assert.True(ok > 500 && bad > 500, $"ok {ok} bad {bad}");
    }
}
