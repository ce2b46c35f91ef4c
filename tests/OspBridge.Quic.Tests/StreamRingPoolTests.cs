using OspBridge.Quic.Core;
using OspBridge.Quic.Tests.Support;
using OspBridge.Quic.Transport;
using Xunit.Abstractions;

namespace OspBridge.Quic.Tests;

/// <summary>
/// Stream rings come from a pool on first use, grow only when data needs room, and go back when the stream closes
/// (issue 14: a q2q request per stream used to cost a fresh 16 KiB send + 16 KiB receive ring per end).
/// </summary>
public class StreamRingPoolTests(ITestOutputHelper output)
{
    [Fact]
    public void Rings_are_taken_on_first_use_and_given_back_on_release()
    {
        var send = new SendBuffer(16 << 10, 1 << 20);
        var recv = new RecvBuffer(16 << 10, 1 << 20);
        Assert.Equal(0, send.Capacity);
        Assert.Equal(0, recv.Capacity);
        Assert.Equal(100, send.Write(new byte[100]));
        Assert.True(recv.Insert(0, new byte[100]));
        Assert.Equal(16 << 10, send.Capacity);
        Assert.Equal(16 << 10, recv.Capacity);
        send.Release();
        recv.Release();
        Assert.Equal(0, send.Capacity);
        Assert.Equal(0, recv.Capacity);
        Assert.True(recv.PeekContiguous().IsEmpty);
    }

    [Fact]
    public void Send_ring_growth_keeps_unacknowledged_bytes_across_wraparound()
    {
        // Model check: random writes, sends, acks and losses; every byte sent (new or retransmitted) equals the model.
        for (int seed = 0; seed < 40; seed++)
        {
            var rng = new Random(seed);
            var b = new SendBuffer(64, 1 << 16);
            var model = new List<byte>();
            var inFlight = new List<(ulong Off, int Len)>();
            byte next = 0;
            for (int step = 0; step < 400; step++)
            {
                switch (rng.Next(4))
                {
                    case 0:
                        var data = new byte[rng.Next(1, 3000)];
                        for (int i = 0; i < data.Length; i++) data[i] = next++;
                        int n = b.Write(data);
                        model.AddRange(data.AsSpan(0, n).ToArray());
                        next -= (byte)(data.Length - n);
                        break;
                    case 1:
                    case 2:
                        if (b.TryNextChunk(rng.Next(1, 1500), ulong.MaxValue, out ulong off, out int len, out _, out _) && len > 0)
                        {
                            var got = new byte[len];
                            b.CopyTo(off, got);
                            for (int i = 0; i < len; i++)
                                Assert.True(model[(int)off + i] == got[i], $"seed {seed} step {step}: byte at {off + (ulong)i} is {got[i]}, wrote {model[(int)off + i]}");
                            inFlight.Add((off, len));
                        }
                        break;
                    default:
                        if (inFlight.Count == 0) break;
                        int k = rng.Next(inFlight.Count);
                        var (o, l) = inFlight[k];
                        inFlight.RemoveAt(k);
                        if (rng.Next(3) == 0) b.OnLost(o, l, false); else b.OnAcked(o, l, false);
                        break;
                }
            }
            Assert.True(b.Capacity <= 1 << 16, $"ring grew to {b.Capacity}");
        }
    }

    [Fact]
    public void Receive_ring_growth_keeps_out_of_order_bytes()
    {
        for (int seed = 0; seed < 40; seed++)
        {
            var rng = new Random(seed);
            const int total = 200_000;
            var src = new byte[total];
            rng.NextBytes(src);
            var b = new RecvBuffer(64, 1 << 16);
            var dst = new byte[total];
            int read = 0;
            ulong highest = 0;
            while (read < total)
            {
                // deliver a random chunk inside the window [read, read + 64 KiB), sometimes repeating old data
                int windowEnd = Math.Min(total, read + (1 << 16));
                int start = rng.Next(Math.Max(0, read - 100), windowEnd);
                int len = Math.Min(rng.Next(1, 1400), windowEnd - start);
                if (rng.Next(4) == 0 && highest < (ulong)windowEnd) { start = (int)highest; len = Math.Min(1400, windowEnd - start); }
                if (len <= 0) continue;
                Assert.True(b.Insert((ulong)start, src.AsSpan(start, len)), $"seed {seed}: insert at {start} len {len} refused");
                highest = Math.Max(highest, (ulong)(start + len));
                if (rng.Next(3) == 0) read += b.Read(dst.AsSpan(read, Math.Min(total - read, rng.Next(1, 5000))));
            }
            Assert.True(src.AsSpan().SequenceEqual(dst), $"seed {seed}: reassembled bytes differ");
        }
    }

    [Fact]
    public void Closed_streams_give_their_rings_back_so_a_stream_per_request_allocates_little()
    {
        var pair = new QuicPair();
        Assert.True(pair.Handshake());
        var client = pair.Client;
        var server = pair.Server!;
        var buf = new byte[1500];
        var request = new byte[1000];
        var read = new byte[4096];
        var now = pair.Now;

        void Exchange()
        {
            for (int round = 0; round < 50; round++)
            {
                bool any = false;
                while (client.TryPollTransmit(buf, now, out var tx)) { server.Receive(buf.AsSpan(0, tx.Length), tx.Path, now); any = true; }
                while (server.TryPollTransmit(buf, now, out var rx)) { client.Receive(buf.AsSpan(0, rx.Length), rx.Path, now); any = true; }
                while (client.TryPollEvent(out _)) { }
                while (server.TryPollEvent(out _)) { }
                if (!any)
                {
                    // let delayed ACKs go out
                    var due = new[] { client.NextDeadline, server.NextDeadline }.Where(d => d is not null).Select(d => d!.Value).DefaultIfEmpty(now).Min();
                    if (due > now + TimeSpan.FromMilliseconds(30)) return;
                    now = due > now ? due : now + TimeSpan.FromMilliseconds(1);
                    if (client.NextDeadline <= now) client.HandleDeadline(now);
                    if (server.NextDeadline <= now) server.HandleDeadline(now);
                }
            }
        }

        void OneRequest()
        {
            long id = client.OpenStream(true);
            Assert.True(id >= 0, "stream limit reached: closed streams were not released");
            Assert.Equal(request.Length, client.StreamWrite(id, request, fin: true));
            Exchange();
            Assert.True(server.TryAcceptStream(out long sid), "server saw no stream");
            int got = 0;
            bool fin = false;
            while (!fin) { int n = server.StreamRead(sid, read, now, out fin); got += n; if (n == 0 && !fin) Exchange(); }
            Assert.Equal(request.Length, got);
            Assert.Equal(request.Length, server.StreamWrite(sid, request, fin: true));
            Exchange();
            got = 0; fin = false;
            while (!fin) { int n = client.StreamRead(id, read, now, out fin); got += n; if (n == 0 && !fin) Exchange(); }
            Assert.Equal(request.Length, got);
            Exchange();
        }

        for (int i = 0; i < 100; i++) OneRequest(); // warm-up: pools, dictionaries and lists reach their size
        Assert.True(client.StreamCount == 0 && server.StreamCount == 0, $"streams still open after warm-up: client {client.StreamCount}, server {server.StreamCount}");
        long before = GC.GetAllocatedBytesForCurrentThread();
        const int streams = 200;
        for (int i = 0; i < streams; i++) OneRequest();
        long perStream = (GC.GetAllocatedBytesForCurrentThread() - before) / streams;
        output.WriteLine($"{perStream} bytes allocated per request/response stream (both ends, 1000 B each way)");
        Assert.True(client.StreamCount == 0 && server.StreamCount == 0, $"streams still open: client {client.StreamCount}, server {server.StreamCount}");
        // Before pooling: ≥ 64 KiB per request/response stream (16 KiB send + 16 KiB receive ring on each end).
        Assert.True(perStream < 8 << 10, $"{perStream} bytes allocated per request/response stream (both ends, test loop included)");
    }
}
