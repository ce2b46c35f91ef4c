namespace OspBridge.WebRtc.Tests.PeerConnection;

/// <summary>
/// <see cref="SendStaging"/>: the copies of off-loop sends, packed into pooled chunks (issue 14) — every message reads
/// back intact while senders on several threads stage and the loop releases, every chunk goes back, and a steady stream
/// of stage/release allocates nothing.
/// </summary>
public sealed class SendStagingTests
{
    [Fact]
    public void ConcurrentSenders_ReadBackTheirMessagesIntact_AndEveryChunkGoesBack()
    {
        var staging = new SendStaging();
        const int Threads = 4, PerThread = 3000;
        var failures = new List<string>();
        var threads = new Thread[Threads];
        for (int t = 0; t < Threads; t++)
        {
            int me = t;
            threads[t] = new Thread(() =>
            {
                var rng = new Random(1300 + me); // fixed seeds
                var held = new Queue<(SendStaging.Chunk? Chunk, int Offset, int Length, byte Fill)>();
                for (int i = 0; i < PerThread; i++)
                {
                    // Sizes across the chunk boundary: small ones share chunks, large ones get their own.
                    int length = rng.Next(4) switch { 0 => 0, 1 => rng.Next(1, 200), 2 => rng.Next(200, 5000), _ => rng.Next(60_000, 140_000) };
                    byte fill = (byte)rng.Next(256);
                    var data = new byte[length];
                    Array.Fill(data, fill);
                    var chunk = staging.Stage(data, out int offset);
                    held.Enqueue((chunk, offset, length, fill));
                    // Release (as the loop would) in order, a random number at a time, checking the bytes first.
                    for (int r = rng.Next(3); r > 0 && held.Count > 0 || held.Count > 40; r--)
                        Check(held.Dequeue());
                }
                while (held.Count > 0) Check(held.Dequeue());

                void Check((SendStaging.Chunk? Chunk, int Offset, int Length, byte Fill) m)
                {
                    var bytes = m.Chunk is { } c ? c.Data.AsSpan(m.Offset, m.Length) : default;
                    if (bytes.Length != m.Length || bytes.ContainsAnyExcept(m.Fill))
                        lock (failures) failures.Add($"thread {me}: a {m.Length}-byte message at {m.Offset} was overwritten");
                    staging.Release(m.Chunk);
                }
            }) { IsBackground = true };
        }
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a sender did not finish within 60 s");
        Assert.Empty(failures);
        Assert.Equal(0, staging.ChunksOut);
    }

    [Fact]
    public void SteadyStream_StagesAndReleases_WithoutAllocating()
    {
        var staging = new SendStaging();
        var message = new byte[1000];
        var held = new (SendStaging.Chunk?, int)[200];
        void Burst()
        {
            for (int i = 0; i < held.Length; i++) held[i] = (staging.Stage(message, out int o), o);
            for (int i = 0; i < held.Length; i++) staging.Release(held[i].Item1);
        }
        for (int i = 0; i < 10; i++) Burst(); // warm-up: chunk descriptors, the pool's arrays
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++) Burst();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // 10 000 messages; before session 13, a new array each (≥ 10 MB); one 40-byte object per message would be 400 KB.
        Assert.True(allocated < 1024, $"10 000 staged 1000-byte messages allocated {allocated} B");
        Assert.Equal(0, staging.ChunksOut);
    }
}
