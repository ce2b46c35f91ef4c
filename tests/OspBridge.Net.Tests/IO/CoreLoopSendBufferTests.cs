using System.Net;
using Microsoft.Extensions.Time.Testing;
using OspBridge.Net.IO;

namespace OspBridge.Net.Tests.IO;

/// <summary>
/// Issue 14: a loop keeps its send slots across the short waits of a busy connection (given back and rented on every
/// wait, a QUIC loop's 512 KiB array missed <c>ArrayPool.Shared</c> now and then and was allocated anew) and gives them
/// back once it has not sent for <see cref="CoreLoop{TEvent}.SendBufferIdleRelease"/> (issue 13: an idle loop holds none);
/// a loop that sent only a few times (a handshake, thousands of them in a flood) gives them back at every wait as before.
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

        // A few sends (a handshake, a flood of them): the slots go back at every wait, as before.
        int sent = 0;
        for (int i = 0; i < CoreLoop<PingEvent>.KeepSendSlotsAfter; i++)
        {
            await loop.InvokeAsync(_ => core.SendPing(sent++, to), ct);
            await WaitUntil(() => loop.IsWaitingForInput && !loop.HoldsSendBuffer, $"send {i}: a loop that has sent only a few times kept its slots");
            time.Advance(TimeSpan.FromMilliseconds(10));
        }
        // A loop that keeps sending: the slots stay across the waits in between.
        for (int i = 0; i < 3; i++)
        {
            await loop.InvokeAsync(_ => core.SendPing(sent++, to), ct);
            await WaitUntil(() => loop.IsWaitingForInput, "the loop did not wait");
            Assert.True(loop.HoldsSendBuffer, $"busy send {i}: the slots went back at the wait right after a send");
            time.Advance(CoreLoop<PingEvent>.SendBufferIdleRelease / 4);
        }
        Assert.Equal(sent, sender.Count);

        // The core's own deadline still fires on time while the release is armed too.
        await loop.InvokeAsync(now => { core.SendPing(sent++, to); core.Deadline = now + TimeSpan.FromMilliseconds(10); }, ct);
        time.Advance(TimeSpan.FromMilliseconds(10));
        await WaitUntil(() => core.Deadline is null, "the core's deadline did not fire");
        await WaitUntil(() => loop.IsWaitingForInput, "the loop did not wait");
        Assert.True(loop.HoldsSendBuffer);

        // No send for SendBufferIdleRelease: the loop's timer comes back and the wait after it holds no slots.
        time.Advance(CoreLoop<PingEvent>.SendBufferIdleRelease);
        await WaitUntil(() => loop.IsWaitingForInput && !loop.HoldsSendBuffer, "the slots were not given back after the idle time");
        Assert.Equal(0, loop.Counters.EarlyTimerPasses); // the release's timer pass is not counted as an early one
    }
}
