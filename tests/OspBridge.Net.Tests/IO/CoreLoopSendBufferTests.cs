using System.Net;
using Microsoft.Extensions.Time.Testing;
using OspBridge.Net.IO;

namespace OspBridge.Net.Tests.IO;

/// <summary>
/// Issue 14: a loop keeps its send slots across the short waits of a busy connection (given back and rented on every
/// wait, a QUIC loop's 512 KiB array missed <c>ArrayPool.Shared</c> now and then and was allocated anew) and gives them
/// back once it has not sent for <see cref="CoreLoop{TEvent}.SendBufferIdleRelease"/> (issue 13: an idle loop holds none).
/// </summary>
public sealed class CoreLoopSendBufferTests
{
    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), what);
            await Task.Delay(2);
        }
    }

    [Fact]
    public async Task A_loop_that_sent_keeps_its_send_slots_while_it_waits_and_gives_them_back_after_the_idle_time()
    {
        var time = new FakeTimeProvider();
        var core = new PingPongCore();
        var sender = new CoreLoopTests.RecordingSender();
        await using var loop = new CoreLoop<PingEvent>(core, sender, _ => { }, new CoreLoopOptions { TimeProvider = time });
        loop.Start();
        var to = new IPEndPoint(IPAddress.Loopback, 9);
        var ct = CancellationToken.None;

        // A pass that sends nothing: the loop waits without slots.
        await loop.InvokeAsync(_ => { }, ct);
        await WaitUntil(() => loop.IsWaitingForInput && !loop.HoldsSendBuffer, "an idle loop kept its send slots");

        // A pass that sends: the slots stay across the wait that follows, and across more sends.
        for (int i = 0; i < 3; i++)
        {
            await loop.InvokeAsync(_ => core.SendPing(i, to), ct);
            await WaitUntil(() => loop.IsWaitingForInput, "the loop did not wait");
            Assert.True(loop.HoldsSendBuffer, $"send {i}: the slots went back at the wait right after a send");
            time.Advance(CoreLoop<PingEvent>.SendBufferIdleRelease / 4);
        }
        Assert.Equal(3, sender.Count);

        // No send for SendBufferIdleRelease: the loop's timer comes back and the wait after it holds no slots.
        time.Advance(CoreLoop<PingEvent>.SendBufferIdleRelease);
        await WaitUntil(() => loop.IsWaitingForInput && !loop.HoldsSendBuffer, "the slots were not given back after the idle time");
        Assert.Equal(0, loop.Counters.EarlyTimerPasses); // the release's timer passes are not counted as early ones

        // The core's own deadline still fires on time while a release is pending.
        await loop.InvokeAsync(now => { core.SendPing(9, to); core.Deadline = now + TimeSpan.FromMilliseconds(10); }, ct);
        time.Advance(TimeSpan.FromMilliseconds(10));
        await WaitUntil(() => core.Deadline is null, "the core's deadline did not fire");
        Assert.Equal(0, loop.Counters.EarlyTimerPasses);
    }
}
