using System.Diagnostics;

namespace OspBridge.WebRtc.Tests.PeerConnection;

/// <summary>
/// Receive-side back-pressure through <see cref="RTCDataChannel.ReceiveAsync"/> (issue 14, session 11): a reader that
/// stops reading stops the peer's sender at the SCTP receive window — its queue stays within the window, no error, the
/// channel stays open — and the transfer completes, every message in order, once it reads again. Before, unread
/// messages were taken out of SCTP regardless and the channel closed with LimitExceeded at 16 MiB queued.
/// Ours ↔ ours over real UDP sockets on 127.0.0.1 (loopback only).
/// </summary>
public class ReceiveBackPressureTests
{
    private const int Size = 65536;
    private const int Count = 400; // 25 MiB: far more than the 1 MiB receive window and the 16 MiB queue cap

    [Fact]
    public async Task A_reader_that_stops_holds_the_sender_at_the_window_and_it_resumes_when_read()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var log = new List<string>();
        var cfg = new RTCConfiguration { LocalAddresses = [System.Net.IPAddress.Loopback] };
        await using var a = new RTCPeerConnection(cfg, LoopbackPeerConnectionTests.Options("A", log));
        await using var b = new RTCPeerConnection(cfg, LoopbackPeerConnectionTests.Options("B", log));
        var remote = new TaskCompletionSource<RTCDataChannel>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.OnDataChannel += c => remote.TrySetResult(c);
        var ch = a.CreateDataChannel("bp");
        await a.SetLocalDescriptionAsync(await a.CreateOfferAsync(cts.Token), cts.Token);
        await b.SetRemoteDescriptionAsync(a.LocalDescription!, cts.Token);
        await b.SetLocalDescriptionAsync(await b.CreateAnswerAsync(cts.Token), cts.Token);
        await a.SetRemoteDescriptionAsync(b.LocalDescription!, cts.Token);
        await ch.WaitOpenAsync(cts.Token);
        var rx = await remote.Task.WaitAsync(cts.Token);
        int errors = 0;
        rx.OnError += _ => Interlocked.Increment(ref errors);
        ch.OnError += _ => Interlocked.Increment(ref errors);

        int sent = 0;
        var sender = Task.Run(async () =>
        {
            for (int i = 0; i < Count; i++)
            {
                var m = new byte[Size];
                BitConverter.TryWriteBytes(m, i);
                m[^1] = (byte)i;
                await ch.SendAsync(m, isText: false, cts.Token);
                Volatile.Write(ref sent, i + 1);
            }
        });

        // Read one message, then stop reading.
        var first = await rx.ReceiveAsync(cts.Token);
        Assert.True(first.HasValue, "the channel closed");
        Assert.Equal(0, BitConverter.ToInt32(first.Value.Data.Span));

        // Wait until the transfer stands still: nothing new queued at the reader for one second.
        int lastQueued = -1;
        var still = Stopwatch.StartNew();
        while (still.Elapsed < TimeSpan.FromSeconds(1))
        {
            await Task.Delay(100, cts.Token);
            int q = rx.QueuedMessages;
            if (q != lastQueued) { lastQueued = q; still.Restart(); }
        }
        int queued = rx.QueuedMessages;
        // The window is 1 MiB; a message charges its length: at most 16 messages of 64 KiB wait at the reader.
        Assert.InRange(queued, 1, (1 << 20) / Size);
        Assert.False(sender.IsCompleted, $"the sender finished although the reader stopped (sent {Volatile.Read(ref sent)})");
        Assert.True(ch.BufferedAmount > 0, "the sender should be held back with data buffered");
        Assert.Equal(RTCDataChannelState.Open, rx.ReadyState);
        Assert.Equal(0, Volatile.Read(ref errors));
        int sentWhileStopped = Volatile.Read(ref sent);
        // What the sender handed over is what is queued, buffered at the sender, or in the window; nothing was dropped.
        Assert.InRange(sentWhileStopped, queued, Count - 1);

        // Read again: every message arrives, in order, and the sender completes.
        for (int i = 1; i < Count; i++)
        {
            var r = await rx.ReceiveAsync(cts.Token);
            Assert.True(r.HasValue, $"the channel closed before message {i}");
            var m = r.Value;
            Assert.Equal(Size, m.Data.Length);
            Assert.Equal(i, BitConverter.ToInt32(m.Data.Span));
            Assert.Equal((byte)i, m.Data.Span[^1]);
        }
        await sender.WaitAsync(cts.Token);
        Assert.Equal(0, Volatile.Read(ref errors));
        Assert.Equal(RTCDataChannelState.Open, rx.ReadyState);
    }
}
