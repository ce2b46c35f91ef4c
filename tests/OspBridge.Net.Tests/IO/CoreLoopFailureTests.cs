using OspBridge.Net.IO;

namespace OspBridge.Net.Tests.IO;

/// <summary>
/// A loop that fails or stalls never holds its callers: calls queued behind a throwing item in the same drain are
/// failed with the stop, and a call still queued ends with its caller's token (session 16: an
/// <c>OpenOutboundStreamAsync</c> queued right behind a throwing <c>CompleteWrites</c> waited forever, past its token).
/// </summary>
public sealed class CoreLoopFailureTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Calls_drained_with_a_throwing_action_are_failed_not_lost()
    {
        var core = new PingPongCore();
        var loop = new CoreLoop<PingEvent>(core, new CoreLoopTests.RecordingSender(), _ => { });
        loop.Start();
        using var gate = new ManualResetEventSlim();
        using var entered = new ManualResetEventSlim();
        // hold the loop in one item so the next three land in the inbox together and are drained in one chunk
        Assert.True(loop.Post(_ => { entered.Set(); gate.Wait(Wait); }));
        Assert.True(entered.Wait(Wait));
        Assert.True(loop.Post(_ => throw new InvalidOperationException("a bug in an action")));
        var behind = loop.InvokeAsync(_ => 42, CancellationToken.None); // no token: only the loop can end it
        var alsoBehind = loop.InvokeAsync(_ => { }, CancellationToken.None);
        gate.Set();
        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => loop.Completion.WaitAsync(Wait));
        Assert.Equal("a bug in an action", failed.Message);
        await Assert.ThrowsAnyAsync<ObjectDisposedException>(() => behind.WaitAsync(Wait));
        await Assert.ThrowsAnyAsync<ObjectDisposedException>(() => alsoBehind.WaitAsync(Wait));
        await loop.DisposeAsync();
    }

    [Fact]
    public async Task A_queued_call_ends_with_its_token_while_the_loop_is_stalled_and_never_runs_later()
    {
        var core = new PingPongCore();
        await using var loop = new CoreLoop<PingEvent>(core, new CoreLoopTests.RecordingSender(), _ => { });
        loop.Start();
        using var gate = new ManualResetEventSlim();
        using var entered = new ManualResetEventSlim();
        Assert.True(loop.Post(_ => { entered.Set(); gate.Wait(Wait); }));
        Assert.True(entered.Wait(Wait));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        int ran = 0;
        var call = loop.InvokeAsync(_ => Interlocked.Increment(ref ran), cts.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(Wait)); // while the loop is still held
        Assert.False(gate.IsSet);
        gate.Set();
        Assert.Equal(7, await loop.InvokeAsync(_ => 7, CancellationToken.None)); // the loop goes on
        Assert.Equal(0, Volatile.Read(ref ran)); // the cancelled call was not run afterwards
    }
}
