using System.Collections.Concurrent;
using System.Net;

namespace OspBridge.WebRtc.Tests.PeerConnection;

/// <summary>
/// A full send buffer makes <see cref="RTCDataChannel.Send(ReadOnlyMemory{byte}, bool)"/> throw
/// <see cref="WebRtcError.SendBufferFull"/> (W3C OperationError) at the call, on the loop and off it; a message Send
/// accepted is never dropped. Regression for the `webrtc echo` stall (issue 14, session 10): an echo from
/// <c>OnMessage</c> whose SCTP send buffer was full had its message dropped with only an OnError event, the channel stayed
/// open, and the sender waited for echoes that never came.
/// Ours ↔ ours over real UDP sockets on 127.0.0.1 (loopback only).
/// </summary>
public class SendBufferFullTests
{
    private const int Size = 65536;
    private const int Attempts = 400; // 25 MiB: more than the 16 MiB send buffer
    private const int Fit = (int)(PeerConnectionCore.DataChannelSendBuffer / Size);

    private static readonly RTCConfiguration Loopback = new() { LocalAddresses = [IPAddress.Loopback] };

    private static async Task<(RTCPeerConnection A, RTCPeerConnection B, RTCDataChannel OnA, RTCDataChannel OnB)> ConnectAsync(List<string> log, CancellationToken ct)
    {
        var a = new RTCPeerConnection(Loopback, LoopbackPeerConnectionTests.Options("A", log));
        var b = new RTCPeerConnection(Loopback, LoopbackPeerConnectionTests.Options("B", log));
        var remote = new TaskCompletionSource<RTCDataChannel>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.OnDataChannel += c => remote.TrySetResult(c);
        var ch = a.CreateDataChannel("full");
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

    private static byte[] Message(int index)
    {
        var m = new byte[Size];
        BitConverter.TryWriteBytes(m, index);
        m[^1] = (byte)index;
        return m;
    }

    /// <summary>Sends messages 0, 1, 2, … on <paramref name="ch"/> until one is refused (at most <see cref="Attempts"/>): how many were accepted, and the refusal.</summary>
    private static (int Accepted, WebRtcException? Refused) SendUntilRefused(RTCDataChannel ch)
    {
        int i = 0;
        try
        {
            for (; i < Attempts; i++) ch.Send(Message(i), isText: false);
        }
        catch (WebRtcException ex)
        {
            return (i, ex);
        }
        return (i, null);
    }

    /// <summary>Collects messages on <paramref name="ch"/>; completes when <paramref name="count"/> arrived (indices checked by the caller).</summary>
    private static (ConcurrentQueue<int> Got, TaskCompletionSource Done) Collect(RTCDataChannel ch, Func<int> count)
    {
        var got = new ConcurrentQueue<int>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ch.OnMessage += m =>
        {
            if (m.Data.Length != Size) return; // the trigger message
            int i = BitConverter.ToInt32(m.Data.Span);
            Assert.Equal((byte)i, m.Data.Span[^1]);
            got.Enqueue(i);
            if (got.Count >= count()) done.TrySetResult();
        };
        return (got, done);
    }

    [Fact]
    public async Task Send_on_the_loop_throws_when_the_buffer_is_full_and_every_accepted_message_arrives()
    {
        var log = new List<string>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var (a, b, onA, onB) = await ConnectAsync(log, cts.Token);
        await using var _a = a;
        await using var _b = b;
        var errors = new ConcurrentQueue<WebRtcException>();
        onB.OnError += errors.Enqueue;
        int accepted = -1;
        WebRtcException? refused = null;
        var sent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Sends on B's loop, where nothing leaves until the action returns (OnMessage handlers used to run there; since
        // issue 14 session 12 they run off the loop and send like any other thread: the test below).
        onB.OnMessage += m => b.PostForTest(_ =>
        {
            (accepted, refused) = SendUntilRefused(onB);
            sent.TrySetResult();
        });
        var (got, done) = Collect(onA, () => Volatile.Read(ref accepted) < 0 ? int.MaxValue : Volatile.Read(ref accepted));
        onA.Send(new byte[] { 1 }, isText: false);
        await sent.Task.WaitAsync(cts.Token);

        await AssertRefusedThenAllAcceptedArriveAsync(refused, accepted, got, done, errors, onB, cts.Token);
    }

    [Fact]
    public async Task Send_off_the_loop_throws_when_reservations_fill_the_buffer_and_every_accepted_message_arrives()
    {
        var log = new List<string>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var (a, b, onA, onB) = await ConnectAsync(log, cts.Token);
        await using var _a = a;
        await using var _b = b;
        var errors = new ConcurrentQueue<WebRtcException>();
        onA.OnError += errors.Enqueue;
        int accepted = -1;
        var (got, done) = Collect(onB, () => Volatile.Read(ref accepted) < 0 ? int.MaxValue : Volatile.Read(ref accepted));

        // Hold A's loop so that nothing posted is handed to SCTP while this thread sends (bounded: 20 s).
        using var gate = new ManualResetEventSlim();
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.PostForTest(_ => { held.TrySetResult(); gate.Wait(TimeSpan.FromSeconds(20)); });
        await held.Task.WaitAsync(cts.Token);
        int i;
        long bufferedWhileHeld;
        WebRtcException? refused;
        try
        {
            (i, refused) = SendUntilRefused(onA);
            bufferedWhileHeld = onA.BufferedAmount;
        }
        finally
        {
            gate.Set();
        }
        Volatile.Write(ref accepted, i);

        Assert.Equal(accepted * (long)Size, bufferedWhileHeld); // counted in bufferedAmount at the call
        await AssertRefusedThenAllAcceptedArriveAsync(refused, accepted, got, done, errors, onA, cts.Token);
    }

    /// <summary>
    /// The send was refused with SendBufferFull after the buffer's worth; every accepted message arrives, in order; the
    /// sending channel raised no error and stays open.
    /// </summary>
    private static async Task AssertRefusedThenAllAcceptedArriveAsync(WebRtcException? refused, int accepted, ConcurrentQueue<int> got,
        TaskCompletionSource done, ConcurrentQueue<WebRtcException> errors, RTCDataChannel sender, CancellationToken ct)
    {
        Assert.NotNull(refused);
        Assert.Equal(WebRtcError.SendBufferFull, refused.Error);
        Assert.InRange(accepted, Fit - 4, Fit); // the buffer's worth, less the trigger message and DCEP still held
        if (got.Count < accepted)
        {
            await done.Task.WaitAsync(ct);
        }
        Assert.Equal(Enumerable.Range(0, accepted), got.ToArray());
        Assert.Empty(errors);
        Assert.Equal(RTCDataChannelState.Open, sender.ReadyState);
    }
}
