using Xunit.Abstractions;
using System.Security.Cryptography;

namespace OspBridge.Quic.Tests;

/// <summary>Runs alone (not in parallel with other tests): the allocation test reads the process-wide counter.</summary>
[CollectionDefinition(nameof(StreamOperationTests), DisableParallelization = true)]
public sealed class StreamOperationCollection;

/// <summary>
/// Issue 14: <see cref="QuicStream.ReadAsync(Memory{byte}, CancellationToken)"/> and
/// <see cref="QuicStream.WriteAsync(ReadOnlyMemory{byte}, bool, CancellationToken)"/> run on one reusable operation per
/// stream direction (no task, closure or task source per call) — with the semantics of before: cancellation while
/// waiting, bytes already copied into a cancelled read's buffer, one call at a time per direction — and a connection
/// whose loop fails tells the peer (CONNECTION_CLOSE INTERNAL_ERROR) and fails what is pending locally.
/// Real UDP sockets on 127.0.0.1, real TLS.
/// </summary>
[Collection(nameof(StreamOperationTests))]
public class StreamOperationTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private sealed class Pair : IAsyncDisposable
    {
        public required QuicListener Listener;
        public required QuicConnection Client;
        public required QuicConnection Server;
        public required QuicStream ClientStream;
        public required QuicStream ServerStream;

        public async ValueTask DisposeAsync()
        {
            await ClientStream.DisposeAsync();
            await ServerStream.DisposeAsync();
            await Client.DisposeAsync();
            await Server.DisposeAsync();
            await Listener.DisposeAsync();
        }
    }

    /// <summary>A connection and one bidirectional stream the server has accepted (the client wrote one byte, the server read it).</summary>
    private static async Task<Pair> OpenAsync(CancellationToken ct)
    {
        var listener = await LoopbackApiTests.Listen();
        var accept = listener.AcceptConnectionAsync(ct).AsTask();
        var client = await LoopbackApiTests.Connect(listener.LocalEndPoint);
        var server = await accept;
        var cs = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, ct);
        await cs.WriteAsync(new byte[] { 1 }, ct);
        var ss = await server.AcceptInboundStreamAsync(ct);
        var one = new byte[1];
        Assert.Equal(1, await ss.ReadAsync(one, ct));
        return new Pair { Listener = listener, Client = client, Server = server, ClientStream = cs, ServerStream = ss };
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes.</summary>
    private static async ValueTask ReadExactly(QuicStream s, Memory<byte> buffer, CancellationToken ct)
    {
        for (int got = 0; got < buffer.Length;)
        {
            int n = await s.ReadAsync(buffer[got..], ct);
            Assert.True(n > 0, "stream ended early");
            got += n;
        }
    }

    /// <summary>True once the stream's read has registered its buffer with the core (asked on the loop).</summary>
    private static Task<bool> ReadIsWaiting(QuicConnection c, QuicStream s, CancellationToken ct)
        => c.InvokeAsync(_ => c.Core.GetStream(s.Id)?.PendingRead.Length > 0, ct);

    [Fact]
    public async Task Ping_pong_rounds_allocate_nothing_per_call_in_steady_state()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var p = await OpenAsync(ct);
        const int Size = 1000;
        var echo = Task.Run(async () =>
        {
            var b = new byte[Size];
            while (true)
            {
                int n = await p.ServerStream.ReadAsync(b, ct);
                if (n == 0) break;
                await p.ServerStream.WriteAsync(b.AsMemory(0, n), ct);
            }
        }, ct);
        var message = RandomNumberGenerator.GetBytes(Size);
        var reply = new byte[Size];
        async Task Rounds(int count)
        {
            // one async method for all rounds (a helper awaited per round would allocate its own state machine per round)
            for (int i = 0; i < count; i++)
            {
                await p.ClientStream.WriteAsync(message, ct);
                for (int got = 0; got < Size;)
                {
                    int n = await p.ClientStream.ReadAsync(reply.AsMemory(got), ct);
                    Assert.True(n > 0, "stream ended early");
                    got += n;
                }
            }
        }
        // Off xUnit's synchronization context (a continuation posted to it allocates): as an application's pool thread runs it.
        await Task.Run(() => Rounds(2000), ct); // warm-up: JIT tiers, pools, rings at their steady size
        // Process-wide and imprecise (precise: false; session 13 found precise: true unreliable while other threads
        // allocate): both loops, the echo task, the socket threads and the test host count, and the reading is off by up
        // to a few allocation contexts (≈ 8 KiB each). So: windows of many rounds, judged by the quietest one (a window
        // that caught a background allocation — tiered JIT, the test host — says nothing about the stream API).
        const int Window = 1000, Windows = 7;
        var perRound = new double[Windows];
        for (int w = 0; w < Windows; w++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: false);
            await Task.Run(() => Rounds(Window), ct);
            perRound[w] = (GC.GetTotalAllocatedBytes(precise: false) - before) / (double)Window;
        }
        Assert.True(reply.AsSpan().SequenceEqual(message));
        string all = string.Join(", ", perRound.Select(x => x.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)));
        output.WriteLine($"B per round (windows of {Window}): {all}");
        Array.Sort(perRound);
        // A round is 2 writes + ≥ 2 reads (4+ stream calls, ≥ 4 datagrams). Before issue 14's change a stream call
        // allocated a task state machine, a closure, a delegate and an invocation task source (≈ 0.4 KiB) and, when it
        // had to wait, a task source and a WaitAsync task on top: see docs/benchmarks.md for the figures.
        Assert.True(perRound[0] < 100, $"least {perRound[0]:F1} B per round; all windows: {all}");
        p.ClientStream.CompleteWrites();
        await echo.WaitAsync(ct);
    }

    [Fact]
    public async Task A_waiting_read_is_cancelled_and_the_stream_reads_on_afterwards()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var p = await OpenAsync(ct);
        var buf = new byte[100];
        using var cancel = new CancellationTokenSource();
        var read = p.ClientStream.ReadAsync(buf, cancel.Token).AsTask();
        Assert.True(await ReadIsWaiting(p.Client, p.ClientStream, ct), "the read did not wait");
        Assert.False(read.IsCompleted);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(ct));
        Assert.False(await ReadIsWaiting(p.Client, p.ClientStream, ct), "the cancelled read's buffer is still registered");
        // The same operation object serves the next read; data written now arrives whole.
        var next = p.ClientStream.ReadAsync(buf, ct).AsTask();
        await p.ServerStream.WriteAsync("after cancel"u8.ToArray(), ct);
        int n = await next.WaitAsync(ct);
        Assert.Equal("after cancel", System.Text.Encoding.ASCII.GetString(buf, 0, n));
    }

    [Fact]
    public async Task A_cancelled_read_returns_the_bytes_already_copied_into_its_buffer()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var p = await OpenAsync(ct);
        var buf = new byte[4096];
        using var cancel = new CancellationTokenSource();
        var read = p.ClientStream.ReadAsync(buf, cancel.Token).AsTask();
        Assert.True(await ReadIsWaiting(p.Client, p.ClientStream, ct), "the read did not wait");
        // Hold the client's loop: the server's data and then the cancellation queue up behind it, so the loop's next
        // drain copies the data into the waiting buffer (the direct path) and runs the cancellation before the readable
        // event can complete the read.
        using var running = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        p.Client.Post(_ => { running.Set(); release.Wait(TimeSpan.FromSeconds(20)); });
        Assert.True(running.Wait(TimeSpan.FromSeconds(20)), "the loop did not run the blocking action");
        var counters = p.Client.EndpointCounters;
        long queued0 = counters.HandedOff + counters.Copied;
        var data = RandomNumberGenerator.GetBytes(1000);
        await p.ServerStream.WriteAsync(data, ct);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (p.Client.EndpointCounters.HandedOff + p.Client.EndpointCounters.Copied == queued0 && sw.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(5, ct);
        Assert.True(p.Client.EndpointCounters.HandedOff + p.Client.EndpointCounters.Copied > queued0, "the server's datagram did not reach the client's loop");
        await Task.Delay(50, ct); // the rest of the server's flight (one datagram here: 1000 bytes)
        cancel.Cancel();
        release.Set();
        int n = await read.WaitAsync(ct);
        Assert.True(n > 0 && n <= data.Length, $"read {n}");
        Assert.True(buf.AsSpan(0, n).SequenceEqual(data.AsSpan(0, n)));
        // Whatever the cancelled read did not return follows in order: nothing lost, nothing twice.
        await ReadExactly(p.ClientStream, buf.AsMemory(n, data.Length - n), ct);
        Assert.True(buf.AsSpan(0, data.Length).SequenceEqual(data));
    }

    [Fact]
    public async Task A_second_concurrent_read_or_write_fails_and_leaves_the_first_intact()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var p = await OpenAsync(ct);
        var first = new byte[100];
        var read = p.ClientStream.ReadAsync(first, ct).AsTask();
        Assert.True(await ReadIsWaiting(p.Client, p.ClientStream, ct), "the read did not wait");
        var second = new byte[100];
        var misuse = await Assert.ThrowsAsync<InvalidOperationException>(() => p.ClientStream.ReadAsync(second, ct).AsTask());
        Assert.Contains("already pending", misuse.Message);
        await p.ServerStream.WriteAsync("one"u8.ToArray(), ct);
        Assert.Equal(3, await read.WaitAsync(ct));
        Assert.Equal("one"u8.ToArray(), first.AsSpan(0, 3).ToArray());
        Assert.All(second, b => Assert.Equal(0, b));

        // Writes: a write larger than the peer's window waits for credit (the server reads nothing meanwhile).
        var big = new byte[64 << 20];
        using var cancelWrite = new CancellationTokenSource();
        var write = p.ClientStream.WriteAsync(big, cancelWrite.Token).AsTask();
        await Task.Delay(200, ct);
        Assert.False(write.IsCompleted, "64 MiB did not wait for flow-control credit");
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await p.ClientStream.WriteAsync(new byte[1], ct));
        cancelWrite.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write.WaitAsync(ct));
        // The write object is free again: the server now drains the stream, the last write carries the FIN.
        var drain = Task.Run(async () =>
        {
            var b = new byte[1 << 16];
            long total = 0;
            int n;
            while ((n = await p.ServerStream.ReadAsync(b, ct)) > 0) total += n;
            return total;
        }, ct);
        await p.ClientStream.WriteAsync(new byte[1], completeWrites: true, ct).AsTask().WaitAsync(ct);
        long drained = await drain.WaitAsync(ct);
        Assert.InRange(drained, 1, big.Length + 1); // the cancelled write's accepted part, then the last byte
    }

    [Fact]
    public async Task Leases_run_on_the_write_operation_one_at_a_time_and_commit_in_order()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var p = await OpenAsync(ct);
        var drain = Task.Run(async () =>
        {
            var got = new MemoryStream();
            var b = new byte[1 << 16];
            int n;
            while ((n = await p.ServerStream.ReadAsync(b, ct)) > 0) got.Write(b, 0, n);
            return got.ToArray();
        }, ct);
        var expected = new MemoryStream();
        for (int i = 0; i < 200; i++)
        {
            var memory = await p.ClientStream.LeaseWriteAsync(1000, ct);
            Assert.InRange(memory.Length, 1, 1000);
            if (i == 0)
            {
                // held: a second lease is refused while this one is out
                await Assert.ThrowsAsync<InvalidOperationException>(() => p.ClientStream.LeaseWriteAsync(10, ct).AsTask());
            }
            memory.Span.Fill((byte)i);
            expected.Write(memory.Span);
            p.ClientStream.CommitLease(memory.Length);
            // writes and leases interleave in order on the same operation object
            var plain = new byte[] { (byte)(255 - (i & 0x7f)) };
            await p.ClientStream.WriteAsync(plain, ct);
            expected.Write(plain);
        }
        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => p.ClientStream.LeaseWriteAsync(10, cancelled.Token).AsTask());
        }
        var last = await p.ClientStream.LeaseWriteAsync(10, ct);
        last.Span[0] = 42;
        expected.WriteByte(42);
        p.ClientStream.CommitLease(1, completeWrites: true);
        Assert.Equal(expected.ToArray(), await drain.WaitAsync(ct));
    }

    [Fact]
    public async Task Reads_and_writes_on_a_closed_connection_fail_with_the_close_reason()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var p = await OpenAsync(ct);
        var read = p.ServerStream.ReadAsync(new byte[10], ct).AsTask();
        Assert.True(await ReadIsWaiting(p.Server, p.ServerStream, ct), "the read did not wait");
        await p.Client.CloseAsync(77, ct);
        var ex = await Assert.ThrowsAsync<QuicException>(() => read.WaitAsync(ct));
        Assert.Equal(77, ex.ApplicationErrorCode);
        var write = await Assert.ThrowsAsync<QuicException>(async () => await p.ServerStream.WriteAsync(new byte[10], ct));
        Assert.Equal(77, write.ApplicationErrorCode);
    }

    [Fact]
    public async Task A_failing_loop_closes_with_INTERNAL_ERROR_and_fails_pending_calls_on_both_sides()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var p = await OpenAsync(ct);
        var serverRead = p.ServerStream.ReadAsync(new byte[10], ct).AsTask();
        var serverAccept = p.Server.AcceptInboundStreamAsync(ct).AsTask();
        var clientRead = p.ClientStream.ReadAsync(new byte[10], ct).AsTask();
        Assert.True(await ReadIsWaiting(p.Server, p.ServerStream, ct), "the server's read did not wait");
        Assert.True(await ReadIsWaiting(p.Client, p.ClientStream, ct), "the client's read did not wait");
        // A bug on the server's send path (as if TryPollTransmit threw): the loop stops with an exception.
        p.Server.SendHookForTests = () => throw new InvalidOperationException("injected send-path failure");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        // The server sends on another stream: its loop's flush throws (the write itself may already have completed).
        try
        {
            var other = await p.Server.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, ct);
            await other.WriteAsync(new byte[] { 2 }, ct);
        }
        catch (QuicException) { }
        var serverEx = await Assert.ThrowsAsync<QuicException>(() => serverRead.WaitAsync(ct));
        Assert.Equal(QuicError.InternalError, serverEx.QuicError);
        Assert.Contains("injected send-path failure", serverEx.Message);
        var acceptEx = await Assert.ThrowsAsync<QuicException>(() => serverAccept.WaitAsync(ct));
        Assert.Equal(QuicError.InternalError, acceptEx.QuicError);
        // The peer hears it at once (CONNECTION_CLOSE with INTERNAL_ERROR), not after its 30 s idle timeout.
        var clientEx = await Assert.ThrowsAsync<QuicException>(() => clientRead.WaitAsync(ct));
        Assert.Equal((long)TransportErrorCode.InternalError, clientEx.TransportErrorCode);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"the client learnt of the failure after {sw.Elapsed}");
        // New calls on the failed connection fail too instead of hanging.
        await Assert.ThrowsAsync<QuicException>(() => p.ServerStream.ReadAsync(new byte[10], ct).AsTask());
        await Assert.ThrowsAsync<QuicException>(async () => await p.Server.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, ct));
    }
}
