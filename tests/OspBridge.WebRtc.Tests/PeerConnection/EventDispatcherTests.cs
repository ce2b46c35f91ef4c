using System.Collections.Concurrent;
using System.Net;
using OspBridge.Net.Channels;

namespace OspBridge.WebRtc.Tests.PeerConnection;

/// <summary>
/// Issue 14 (session 12): application event handlers run off the connection's loop, on one serialized dispatcher per
/// connection — never concurrently, in order, and a handler that blocks stalls neither its own connection's protocol
/// work nor any other connection. Peer-connection tests run ours ↔ ours over real UDP sockets on 127.0.0.1.
/// </summary>
public class EventDispatcherTests
{
    private static readonly RTCConfiguration Loopback = new() { LocalAddresses = [IPAddress.Loopback] };

    [Fact]
    public async Task Handlers_never_overlap_and_keep_the_order_they_were_posted_in()
    {
        var failures = new ConcurrentQueue<Exception>();
        var d = new EventDispatcher(failures.Enqueue);
        const int PerThread = 20_000;
        int inside = 0, overlaps = 0;
        var seen = new List<(int Thread, int Index)>();
        var done = new CountdownEvent(2 * PerThread);
        void Post(int thread, int index) => d.Post(() =>
        {
            if (Interlocked.Increment(ref inside) != 1) Interlocked.Increment(ref overlaps);
            seen.Add((thread, index)); // not thread-safe on purpose: serialized handlers need no lock
            if ((index & 1023) == 0) Thread.SpinWait(2000);
            Interlocked.Decrement(ref inside);
            done.Signal();
        });
        // Two posting threads at once (as the loop and an API caller would).
        var t1 = Task.Run(() => { for (int i = 0; i < PerThread; i++) Post(1, i); });
        var t2 = Task.Run(() => { for (int i = 0; i < PerThread; i++) Post(2, i); });
        await Task.WhenAll(t1, t2);
        Assert.True(done.Wait(TimeSpan.FromSeconds(30)), $"only {2 * PerThread - done.CurrentCount} of {2 * PerThread} handlers ran");
        Assert.Equal(0, overlaps);
        Assert.Empty(failures);
        Assert.Equal(2 * PerThread, seen.Count);
        // Per posting thread, the order of posting is the order of running.
        Assert.Equal(Enumerable.Range(0, PerThread), seen.Where(s => s.Thread == 1).Select(s => s.Index));
        Assert.Equal(Enumerable.Range(0, PerThread), seen.Where(s => s.Thread == 2).Select(s => s.Index));
    }

    [Fact]
    public async Task A_burst_runs_in_few_work_items_not_one_pool_hop_per_handler()
    {
        var d = new EventDispatcher(_ => { });
        using var gate = new ManualResetEventSlim();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int ran = 0;
        d.Post(() => { first.TrySetResult(); gate.Wait(TimeSpan.FromSeconds(20)); });
        await first.Task.WaitAsync(TimeSpan.FromSeconds(10));
        for (int i = 0; i < 1000; i++) d.Post(() => Interlocked.Increment(ref ran));
        var all = d.Barrier();
        Assert.NotNull(all);
        gate.Set();
        await all.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1000, Volatile.Read(ref ran));
        // 1 + 1000 handlers + the barrier, at most 256 per work item: 4 items (the first run re-queues itself 3 times).
        Assert.InRange(d.Runs, 1, 4);
    }

    [Fact]
    public async Task A_throwing_handler_is_reported_and_the_next_ones_still_run()
    {
        var failures = new ConcurrentQueue<Exception>();
        var d = new EventDispatcher(failures.Enqueue);
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        d.Post(() => throw new InvalidOperationException("handler bug"));
        d.Post(() => ran.TrySetResult());
        await ran.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var ex = Assert.Single(failures);
        Assert.Equal("handler bug", ex.Message);
    }

    [Fact]
    public async Task Barrier_completes_after_the_items_queued_before_it()
    {
        var d = new EventDispatcher(_ => { });
        Assert.Null(d.Barrier()); // idle: nothing to wait for
        using var gate = new ManualResetEventSlim();
        int ran = 0;
        d.Post(() => gate.Wait(TimeSpan.FromSeconds(20)));
        d.Post(() => Interlocked.Increment(ref ran));
        var barrier = d.Barrier();
        Assert.NotNull(barrier);
        await Task.Delay(100);
        Assert.False(barrier.IsCompleted);
        gate.Set();
        await barrier.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, Volatile.Read(ref ran));
    }

    private static async Task<(RTCPeerConnection A, RTCPeerConnection B, RTCDataChannel OnA, RTCDataChannel OnB)> ConnectAsync(
        string name, List<string> log, Action<RTCDataChannel>? onRemote, CancellationToken ct)
    {
        var a = new RTCPeerConnection(Loopback, LoopbackPeerConnectionTests.Options(name + "A", log));
        var b = new RTCPeerConnection(Loopback, LoopbackPeerConnectionTests.Options(name + "B", log));
        var remote = new TaskCompletionSource<RTCDataChannel>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.OnDataChannel += c => { onRemote?.Invoke(c); remote.TrySetResult(c); };
        var ch = a.CreateDataChannel(name);
        await a.SetLocalDescriptionAsync(await a.CreateOfferAsync(ct), ct);
        await b.SetRemoteDescriptionAsync(a.LocalDescription!, ct);
        await b.SetLocalDescriptionAsync(await b.CreateAnswerAsync(ct), ct);
        await a.SetRemoteDescriptionAsync(b.LocalDescription!, ct);
        try
        {
            await ch.WaitOpenAsync(ct);
            return (a, b, ch, await remote.Task.WaitAsync(ct));
        }
        catch (OperationCanceledException)
        {
            Assert.Fail("channel did not open:\n" + string.Join("\n", log));
            throw;
        }
    }

    [Fact]
    public async Task A_blocked_OnMessage_handler_stalls_neither_other_connections_nor_its_own_loop_and_its_peer_is_held_at_the_window()
    {
        var log = new List<string>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var gate = new ManualResetEventSlim();
        var blocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var got1 = new ConcurrentQueue<int>();
        var all1 = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        const int Messages1 = 48; // 3 MiB of 64 KiB messages: 3× the 1 MiB receive window
        // Connection 1: B's first OnMessage blocks (bounded) until the test releases it.
        var (a1, b1, ch1, _) = await ConnectAsync("one", log, c => c.OnMessage += m =>
        {
            int i = BitConverter.ToInt32(m.Data.Span);
            if (i == 0) { blocked.TrySetResult(); gate.Wait(TimeSpan.FromSeconds(60)); }
            got1.Enqueue(i);
            if (got1.Count == Messages1) all1.TrySetResult();
        }, cts.Token);
        await using var _a1 = a1;
        await using var _b1 = b1;
        try
        {
            for (int i = 0; i < Messages1; i++)
            {
                var m = new byte[65536];
                BitConverter.TryWriteBytes(m, i);
                ch1.Send(m);
            }
            await blocked.Task.WaitAsync(cts.Token);

            // Connection 2 (its own loop and sockets) moves 4 MiB while connection 1's handler is blocked.
            long got2 = 0;
            var all2 = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            const long Total2 = 4 << 20;
            var (a2, b2, ch2, _) = await ConnectAsync("two", log, c => c.OnMessage += m =>
            {
                if (Interlocked.Add(ref got2, m.Data.Length) == Total2) all2.TrySetResult();
            }, cts.Token);
            await using var _a2 = a2;
            await using var _b2 = b2;
            for (long sent = 0; sent < Total2; sent += 65536) await ch2.SendAsync(new byte[65536], isText: false, cts.Token);
            await all2.Task.WaitAsync(cts.Token);

            // Connection 1's own loop still works while its handler is blocked: its SCTP acknowledged what fits the
            // window (A's buffered amount fell below what was sent) but held the rest (the handler consumes nothing).
            Assert.Equal(RTCPeerConnectionState.Connected, b1.ConnectionState);
            Assert.Equal(RTCDataChannelState.Open, ch1.ReadyState);
            long deadlineTicks = Environment.TickCount64 + 20_000;
            while (ch1.BufferedAmount > Messages1 * 65536L - (512 << 10) && Environment.TickCount64 < deadlineTicks)
                await Task.Delay(20, cts.Token);
            long buffered = ch1.BufferedAmount;
            Assert.InRange(buffered, Messages1 * 65536L - (2 << 20), Messages1 * 65536L - (512 << 10));
            Assert.Empty(got1); // the blocked handler (message 0) has not returned; nothing behind it ran
        }
        finally
        {
            gate.Set();
        }
        // Released: everything arrives, in order.
        await all1.Task.WaitAsync(cts.Token);
        Assert.Equal(Enumerable.Range(0, Messages1), got1.ToArray());
    }

    [Fact]
    public async Task An_awaited_call_returns_after_the_handlers_of_the_events_it_caused()
    {
        var log = new List<string>();
        await using var a = new RTCPeerConnection(Loopback, LoopbackPeerConnectionTests.Options("A", log));
        var candidates = new List<string?>();
        var states = new List<RTCIceGatheringState>();
        a.OnIceCandidate += c => { Thread.Sleep(50); candidates.Add(c?.Candidate); };
        a.OnIceGatheringStateChange += states.Add;
        a.CreateDataChannel("x");
        await a.SetLocalDescriptionAsync(await a.CreateOfferAsync());
        // Gathering (host candidates) happens inside SetLocalDescriptionAsync: its handlers have run when it returns.
        Assert.Equal([RTCIceGatheringState.Gathering, RTCIceGatheringState.Complete], states);
        Assert.True(candidates.Count >= 2, "at least one candidate and the end-of-candidates null");
        Assert.Null(candidates[^1]);
    }

    [Fact]
    public async Task Handlers_do_not_run_on_the_loop_and_a_throwing_OnMessage_handler_fails_the_connection()
    {
        var log = new List<string>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        bool? onLoop = null;
        RTCPeerConnection? bRef = null;
        var (a, b, ch, _) = await ConnectAsync("t", log, c => c.OnMessage += m =>
        {
            onLoop = bRef!.OnLoop;
            throw new InvalidOperationException("application bug");
        }, cts.Token);
        bRef = b;
        await using var _a = a;
        await using var _b = b;
        var failed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.OnConnectionStateChange += s => { if (s == RTCPeerConnectionState.Failed) failed.TrySetResult(); };
        ch.Send("boom");
        await failed.Task.WaitAsync(cts.Token);
        Assert.Equal(RTCPeerConnectionState.Failed, b.ConnectionState);
        Assert.False(onLoop);
    }
}
