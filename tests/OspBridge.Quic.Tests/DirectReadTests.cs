using System.Security.Cryptography;
using OspBridge.Net.Simulation;
using OspBridge.Quic.Core;
using OspBridge.Quic.Tests.Support;

namespace OspBridge.Quic.Tests;

/// <summary>
/// A waiting read takes in-order stream bytes straight from the packet (one copy instead of packet → ring → reader;
/// issue 11/14: the ring copy-in and copy-out were 3 % of a PeerFetch download's profile). Bytes must arrive exactly
/// once and in order however the direct path and the ring interleave (loss, reordering, a reader that gives up).
/// </summary>
public class DirectReadTests
{
    private static byte[] Data(int size, int seed) => VirtualNetworkTests.Data(size, seed);

    /// <summary>Client opens a stream and sends one byte with FIN; the server answers with <paramref name="size"/> bytes.</summary>
    private static (QuicPair Pair, long ClientId, long ServerId) Open(VirtualLinkOptions? down = null)
    {
        var pair = new QuicPair(down: down);
        Assert.True(pair.Handshake(TimeSpan.FromSeconds(30)), "handshake");
        long id = pair.Client.OpenStream(bidirectional: true);
        Assert.Equal(1, pair.Client.StreamWrite(id, new byte[] { 7 }, fin: true));
        long sid = -1;
        Assert.True(pair.RunUntil(() => sid >= 0 || pair.Server!.TryAcceptStream(out sid), TimeSpan.FromSeconds(10)), "server saw no stream");
        return (pair, id, sid);
    }

    [Fact]
    public void A_waiting_read_takes_in_order_bytes_without_the_ring()
    {
        var (pair, id, sid) = Open();
        var response = Data(200_000, 1);
        var buffer = new byte[256 << 10];
        // Nothing there yet: the read registers its buffer.
        Assert.Equal(0, pair.Client.StreamRead(id, buffer, buffer, pair.Now, out bool fin));
        Assert.False(fin);
        Assert.Equal(response.Length, pair.Server!.StreamWrite(sid, response, fin: true));
        Assert.True(pair.RunUntil(() => pair.Client.GetStream(id)?.PendingFilled == response.Length, TimeSpan.FromSeconds(10)),
            $"only {pair.Client.GetStream(id)?.PendingFilled} bytes reached the waiting read");
        Assert.Equal(0, pair.Client.GetStream(id)!.Recv!.Capacity); // no ring was ever rented
        Assert.Contains(pair.ClientEvents, e => e.Kind == CoreEventKind.StreamReadable && e.StreamId == id);
        int n = pair.Client.StreamRead(id, buffer, buffer, pair.Now, out fin);
        Assert.Equal(response.Length, n);
        Assert.True(fin);
        Assert.True(buffer.AsSpan(0, n).SequenceEqual(response));
    }

    [Fact]
    public void Bytes_beyond_the_waiting_buffer_go_to_the_ring_and_follow_in_order()
    {
        var (pair, id, sid) = Open();
        var response = Data(150_000, 2); // within the stream's initial window: the ring part is not consumed until read
        var small = new byte[50_000];
        Assert.Equal(0, pair.Client.StreamRead(id, small, small, pair.Now, out _));
        Assert.Equal(response.Length, pair.Server!.StreamWrite(sid, response, fin: true));
        Assert.True(pair.RunUntil(() => pair.Client.StreamReadable(id) == response.Length - small.Length && pair.Client.GetStream(id)!.Recv!.FinalSize is not null, TimeSpan.FromSeconds(10)), "response did not arrive");
        Assert.Equal(small.Length, pair.Client.GetStream(id)!.PendingFilled);
        var big = new byte[1 << 20];
        int n = pair.Client.StreamRead(id, big, big, pair.Now, out bool fin);
        // A read into other memory than the waiting one: the waiting read's bytes come first, then the ring's.
        Assert.Equal(response.Length, n);
        Assert.True(fin);
        Assert.True(big.AsSpan(0, n).SequenceEqual(response));
    }

    [Fact]
    public void A_reader_that_gives_up_gets_the_bytes_already_copied()
    {
        var (pair, id, sid) = Open();
        var response = Data(100_000, 3);
        var first = new byte[30_000];
        Assert.Equal(0, pair.Client.StreamRead(id, first, first, pair.Now, out _));
        Assert.Equal(response.Length, pair.Server!.StreamWrite(sid, response, fin: true));
        Assert.True(pair.RunUntil(() => pair.Client.StreamReadable(id) == response.Length - first.Length && pair.Client.GetStream(id)!.Recv!.FinalSize is not null, TimeSpan.FromSeconds(10)), "response did not arrive");
        // Cancelled: the waiting read is unregistered and reports what it holds.
        Assert.Equal(first.Length, pair.Client.StreamTakePendingRead(id));
        Assert.Equal(0, pair.Client.StreamTakePendingRead(id));
        Assert.True(first.AsSpan().SequenceEqual(response.AsSpan(0, first.Length)));
        // The next read (another buffer) continues after those bytes: nothing twice, nothing lost.
        var rest = new byte[1 << 20];
        int n = pair.Client.StreamRead(id, rest, rest, pair.Now, out bool fin);
        Assert.True(fin);
        Assert.Equal(response.Length - first.Length, n);
        Assert.True(rest.AsSpan(0, n).SequenceEqual(response.AsSpan(first.Length)));
    }

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    [InlineData(23)]
    public void Loss_and_reordering_with_waiting_reads_deliver_every_byte_once(int seed)
    {
        var lossy = new VirtualLinkOptions
        {
            Seed = seed, LossRate = 0.05, ReorderRate = 0.10, DuplicateRate = 0.02,
            Delay = TimeSpan.FromMilliseconds(5), ReorderDelay = TimeSpan.FromMilliseconds(8),
        };
        var (pair, id, sid) = Open(lossy);
        var response = Data(3 << 20, seed);
        var rng = new Random(seed);
        var got = new MemoryStream();
        int sent = 0;
        bool fin = false;
        byte[]? waiting = null;
        bool ok = pair.RunUntil(() => fin, TimeSpan.FromMinutes(5), eachStep: () =>
        {
            if (sent < response.Length) sent += pair.Server!.StreamWrite(sid, response.AsSpan(sent), fin: true);
            if (fin) return;
            // Readers of varying size; now and then one gives up (cancel) and the next read uses a fresh buffer.
            waiting ??= new byte[rng.Next(1, 40_000)];
            if (rng.Next(50) == 0)
            {
                int kept = pair.Client.StreamTakePendingRead(id);
                got.Write(waiting, 0, kept);
                waiting = null;
                return;
            }
            int n = pair.Client.StreamRead(id, waiting, waiting, pair.Now, out fin);
            got.Write(waiting, 0, n);
            if (n > 0) waiting = null;
        });
        Assert.True(ok, $"incomplete: {got.Length} of {response.Length} bytes at {pair.Now}");
        Assert.Equal(SHA256.HashData(response), SHA256.HashData(got.ToArray()));
        Assert.True(pair.ToClient.Dropped > 0 && pair.ToClient.Reordered > 0, "the link impaired nothing");
    }
}

/// <summary>
/// Receive-side placement (ConnectionCore.ReceiveGather): a 1-RTT packet's first STREAM frame is decrypted straight into
/// the waiting reader's buffer or the reassembly ring before its tag is checked. A forged packet must change nothing a
/// reader sees: its garbage only lands in memory no reader can see yet, and the genuine packet overwrites it.
/// </summary>
public class PlacedReceiveTests
{
    [Theory]
    [InlineData(31, true)]
    [InlineData(32, false)]
    [InlineData(33, true)]
    public void Forged_copies_decrypted_into_place_never_reach_the_reader(int seed, bool waitingReads)
    {
        var rng = new Random(seed);
        QuicPair? pair = null;
        int forged = 0;
        var recent = new Queue<byte[]>();
        var down = new VirtualLinkOptions
        {
            Seed = seed, LossRate = 0.03, ReorderRate = 0.05, Delay = TimeSpan.FromMilliseconds(2), ReorderDelay = TimeSpan.FromMilliseconds(4),
            // Before a third of the server's short-header datagrams, the client gets a copy of it or of one of the last
            // 64 (already received: their data may sit unread in the ring) with one ciphertext or tag bit flipped: it
            // authenticates nothing, but its STREAM data is decrypted into place first if the plan allows it.
            Filter = d =>
            {
                if (pair?.Server is not null && pair.Server.IsHandshakeConfirmed && (d.Span[0] & 0x80) == 0 && d.Length > 600)
                {
                    recent.Enqueue(d.ToArray());
                    if (recent.Count > 64) recent.Dequeue();
                }
                if (pair is not null && recent.Count > 0 && rng.Next(3) == 0)
                {
                    var copy = (byte[])recent.ElementAt(rng.Next(recent.Count)).Clone();
                    int at = rng.Next(2) == 0 ? copy.Length - 1 - rng.Next(16) : copy.Length - 17 - rng.Next(copy.Length - 80);
                    copy[at] ^= (byte)(1 << rng.Next(8));
                    pair.Client.Receive(copy, new OspBridge.Net.Core.DatagramPath(QuicPair.ClientAddress, QuicPair.ServerAddress), pair.Now);
                    forged++;
                }
                return true;
            },
        };
        pair = new QuicPair(down: down);
        Assert.True(pair.Handshake(TimeSpan.FromSeconds(30)), "handshake");
        long id = pair.Client.OpenStream(bidirectional: true);
        Assert.Equal(1, pair.Client.StreamWrite(id, new byte[] { 7 }, fin: true));
        long sid = -1;
        Assert.True(pair.RunUntil(() => sid >= 0 || pair.Server!.TryAcceptStream(out sid), TimeSpan.FromSeconds(10)), "server saw no stream");
        var response = VirtualNetworkTests.Data(2 << 20, seed);
        var got = new MemoryStream();
        int sent = 0;
        bool fin = false;
        byte[]? waiting = null;
        long failuresBefore = pair.Client.AuthenticationFailures;
        bool ok = pair.RunUntil(() => fin, TimeSpan.FromMinutes(5), eachStep: () =>
        {
            if (sent < response.Length) sent += pair.Server!.StreamWrite(sid, response.AsSpan(sent), fin: true);
            if (fin) return;
            // waiting reads: a buffer stays registered between steps (placement into it); else read only what is there
            waiting ??= new byte[rng.Next(1, 64_000)];
            if (!waitingReads && pair.Client.StreamReadable(id) == 0 && pair.Client.GetStream(id)?.Recv?.FinalSize is null) return;
            int n = pair.Client.StreamRead(id, waiting, waiting, pair.Now, out fin);
            got.Write(waiting, 0, n);
            if (n > 0) waiting = null;
        });
        Assert.True(ok, $"incomplete: {got.Length} of {response.Length} bytes at {pair.Now}");
        Assert.Equal(SHA256.HashData(response), SHA256.HashData(got.ToArray()));
        Assert.True(forged > 20, $"only {forged} forged copies were injected");
        Assert.True(pair.Client.AuthenticationFailures - failuresBefore >= forged, "a forged copy authenticated");
        Assert.True(pair.Client.Counters.StreamBytesPlaced > response.Length / 2, $"placement barely ran ({pair.Client.Counters.StreamBytesPlaced} bytes)");
    }
}
