using OspBridge.Testing.Logging;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using OspBridge.Net.Channels;

namespace OspBridge.WebRtc.Tests.PeerConnection;

/// <summary>Ours ↔ ours over real UDP sockets on 127.0.0.1 (loopback only).</summary>
public class LoopbackPeerConnectionTests
{
    private static readonly RTCConfiguration Loopback = new() { LocalAddresses = [IPAddress.Loopback] };

    internal static RTCPeerConnectionOptions Options(string name, List<string> log) => new() { Logger = LineLogger.To(log, name + ": ") };

    private static async Task<(RTCPeerConnection Offerer, RTCPeerConnection Answerer)> ConnectAsync(List<string> log, bool trickle = false)
    {
        var a = new RTCPeerConnection(Loopback, Options("A", log));
        var b = new RTCPeerConnection(Loopback, Options("B", log));
        if (trickle)
        {
            a.OnIceCandidate += c => { if (c is not null) _ = b.AddIceCandidateAsync(c); };
            b.OnIceCandidate += c => { if (c is not null) _ = a.AddIceCandidateAsync(c); };
        }
        var offer = await a.CreateOfferAsync();
        await a.SetLocalDescriptionAsync(offer);
        await b.SetRemoteDescriptionAsync(trickle ? offer : a.LocalDescription!);
        var answer = await b.CreateAnswerAsync();
        await b.SetLocalDescriptionAsync(answer);
        await a.SetRemoteDescriptionAsync(trickle ? answer : b.LocalDescription!);
        return (a, b);
    }

    [Fact]
    public async Task Offer_answer_open_channel_and_echo_text_and_binary()
    {
        var log = new List<string>();
        var (a, b) = await ConnectAsync(log);
        await using var _a = a;
        await using var _b = b;
        b.OnDataChannel += ch => ch.OnMessage += m => ch.Send(m.Data, m.IsText);
        var ch = a.CreateDataChannel("echo");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try { await ch.WaitOpenAsync(cts.Token); }
        catch (OperationCanceledException) { Assert.Fail("channel did not open:\n" + string.Join("\n", log)); }
        Assert.Equal(RTCPeerConnectionState.Connected, a.ConnectionState);
        Assert.Equal(262144, ch.MaxMessageSize);

        ch.Send("hello");
        var m = await ch.ReceiveAsync(cts.Token);
        Assert.True(m!.Value.IsText);
        Assert.Equal("hello", Encoding.UTF8.GetString(m.Value.Data.Span));

        foreach (int size in new[] { 0, 1, 1000, 1200, 65536, 262144 })
        {
            var payload = RandomNumberGenerator.GetBytes(size);
            ch.Send(payload);
            var r = await ch.ReceiveAsync(cts.Token);
            Assert.False(r!.Value.IsText);
            Assert.Equal(payload, r.Value.Data.ToArray());
        }
        Assert.Throws<WebRtcException>(() => ch.Send(new byte[262145]));
    }

    [Fact]
    public async Task Trickled_candidates_and_channel_close_seen_by_peer()
    {
        var log = new List<string>();
        var (a, b) = await ConnectAsync(log, trickle: true);
        await using var _a = a;
        await using var _b = b;
        var remoteClosed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var remoteOpened = new TaskCompletionSource<RTCDataChannel>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.OnDataChannel += ch => { ch.OnClose += () => remoteClosed.TrySetResult(ch.Label); remoteOpened.TrySetResult(ch); };
        var ch = a.CreateDataChannel("closeme", new RTCDataChannelInit { Ordered = false, MaxRetransmits = 0, Protocol = "p1" });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await ch.WaitOpenAsync(cts.Token);
        var rch = await remoteOpened.Task.WaitAsync(cts.Token);
        Assert.False(rch.Ordered);
        Assert.Equal(0, rch.MaxRetransmits);
        Assert.Equal("p1", rch.Protocol);
        ch.Close();
        Assert.Equal("closeme", await remoteClosed.Task.WaitAsync(cts.Token));
        Assert.Equal(RTCDataChannelState.Closed, rch.ReadyState);
    }

    [Fact]
    public async Task Peer_close_is_seen()
    {
        var log = new List<string>();
        var (a, b) = await ConnectAsync(log);
        await using var _b = b;
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.OnConnectionStateChange += s => { if (s == RTCPeerConnectionState.Closed) closed.TrySetResult(); };
        var ch = a.CreateDataChannel("x");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await ch.WaitOpenAsync(cts.Token);
        await a.CloseAsync();
        await closed.Task.WaitAsync(cts.Token);
    }
    [Fact]
    public async Task Receiver_with_no_consumer_holds_the_sender_back_never_an_error_or_a_gap()
    {
        // Before session 11 a receiver that did not read got LimitExceeded and a close at 16 MiB queued; now unread
        // messages keep the SCTP receive window closed, so the sender waits instead (ReceiveBackPressureTests covers
        // a reader that stops after reading).
        var log = new List<string>();
        var (a, b) = await ConnectAsync(log);
        await using var _a = a;
        await using var _b = b;
        var remote = new TaskCompletionSource<RTCDataChannel>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.OnDataChannel += c => remote.TrySetResult(c);
        var ch = a.CreateDataChannel("flood");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await ch.WaitOpenAsync(cts.Token);
        var rc = await remote.Task.WaitAsync(cts.Token);
        int errors = 0;
        rc.OnError += _ => Interlocked.Increment(ref errors);

        // 24 MiB at a receiver that does not read: more than its 16 MiB queue cap.
        const int count = 384;
        var sender = Task.Run(async () =>
        {
            for (int i = 0; i < count; i++)
            {
                var payload = new byte[65536];
                BitConverter.TryWriteBytes(payload, i);
                await ch.SendAsync(payload, isText: false, cts.Token);
            }
        });
        await Task.Delay(2000, cts.Token);
        Assert.False(sender.IsCompleted, "24 MiB went through although nobody read");
        Assert.InRange(rc.QueuedMessages, 1, 16); // within the 1 MiB receive window
        Assert.Equal(0, Volatile.Read(ref errors));
        Assert.Equal(RTCDataChannelState.Open, rc.ReadyState);

        // Reading: everything arrives in order with no gap, and the sender finishes.
        for (int expected = 0; expected < count; expected++)
        {
            var m = await rc.ReceiveAsync(cts.Token);
            Assert.True(m.HasValue, $"channel ended before message {expected}");
            Assert.Equal(expected, BitConverter.ToInt32(m.Value.Data.Span));
        }
        await sender.WaitAsync(cts.Token);
        Assert.Equal(0, Volatile.Read(ref errors));
    }

    [Fact]
    public async Task Signaling_and_gathering_states_follow_W3C_and_gathering_is_awaited()
    {
        var log = new List<string>();
        await using var a = new RTCPeerConnection(Loopback, Options("A", log));
        await using var b = new RTCPeerConnection(Loopback, Options("B", log));
        var aSignaling = new List<RTCSignalingState>();
        var aGathering = new List<RTCIceGatheringState>();
        var candidates = new List<RTCIceCandidateInit?>();
        a.OnSignalingStateChange += s => aSignaling.Add(s);
        a.OnIceGatheringStateChange += s => aGathering.Add(s);
        a.OnIceCandidate += c => candidates.Add(c);
        Assert.Equal(RTCSignalingState.Stable, a.SignalingState);
        await a.SetLocalDescriptionAsync(await a.CreateOfferAsync());
        Assert.Equal(RTCSignalingState.HaveLocalOffer, a.SignalingState);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await a.WaitForGatheringCompleteAsync(cts.Token);
        Assert.Equal(RTCIceGatheringState.Complete, a.IceGatheringState);
        Assert.Contains("a=end-of-candidates", a.LocalDescription!.Sdp, StringComparison.Ordinal);
        await b.SetRemoteDescriptionAsync(a.LocalDescription!);
        Assert.Equal(RTCSignalingState.HaveRemoteOffer, b.SignalingState);
        await b.SetLocalDescriptionAsync(await b.CreateAnswerAsync());
        Assert.Equal(RTCSignalingState.Stable, b.SignalingState);
        await a.SetRemoteDescriptionAsync(b.LocalDescription!);
        Assert.Equal([RTCSignalingState.HaveLocalOffer, RTCSignalingState.Stable], aSignaling);
        Assert.Equal([RTCIceGatheringState.Gathering, RTCIceGatheringState.Complete], aGathering);
        Assert.Equal(2, candidates.Count); // one host candidate, then null
        Assert.NotNull(candidates[0]);
        Assert.Null(candidates[1]);
        // An answer without an offer is refused; a cancelled token is honoured.
        await Assert.ThrowsAsync<WebRtcException>(() => a.SetRemoteDescriptionAsync(b.LocalDescription!));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => a.CreateOfferAsync(new CancellationToken(canceled: true)));
        await a.CloseAsync();
        Assert.Equal(RTCSignalingState.Closed, a.SignalingState);
        var closed = await Assert.ThrowsAsync<WebRtcException>(() => a.CreateOfferAsync());
        Assert.Equal(WebRtcError.Closed, closed.Error);
    }

    [Fact]
    public async Task One_message_delivery_model_queued_messages_go_to_the_first_OnMessage_subscriber_and_mixing_throws()
    {
        var log = new List<string>();
        var (a, b) = await ConnectAsync(log);
        await using var _a = a;
        await using var _b = b;
        var remote = new TaskCompletionSource<RTCDataChannel>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.OnDataChannel += c => remote.TrySetResult(c); // no consumer chosen yet
        var ch = a.CreateDataChannel("model");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await ch.WaitOpenAsync(cts.Token);
        var rc = await remote.Task.WaitAsync(cts.Token);
        ch.Send("1");
        ch.Send("2");
        for (int i = 0; i < 200 && rc.QueuedMessages < 2; i++) await Task.Delay(10, cts.Token);
        Assert.Equal(2, rc.QueuedMessages); // queued, not lost, while nobody consumes

        var got = new List<string>();
        var three = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        rc.OnMessage += m => { lock (got) got.Add(Encoding.UTF8.GetString(m.Data.Span)); if (got.Count == 3) three.TrySetResult(); };
        ch.Send("3");
        await three.Task.WaitAsync(cts.Token);
        Assert.Equal(["1", "2", "3"], got);
        var mixed = await Assert.ThrowsAsync<WebRtcException>(async () => await rc.ReceiveAsync(cts.Token));
        Assert.Equal(WebRtcError.InvalidState, mixed.Error);

        // The other way round: once the reader is the consumer, subscribing to OnMessage throws.
        rc.Send("back");
        var back = await ch.ReceiveAsync(cts.Token);
        Assert.Equal("back", Encoding.UTF8.GetString(back!.Value.Data.Span));
        var ex = Assert.Throws<WebRtcException>(() => ch.OnMessage += _ => { });
        Assert.Equal(WebRtcError.InvalidState, ex.Error);
    }
}

public class LoopbackThroughputTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task Twenty_MiB_byte_exact_over_loopback()
    {
        var log = new List<string>();
        var cfg = new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] };
        await using var a = new RTCPeerConnection(cfg, LoopbackPeerConnectionTests.Options("A", log));
        await using var b = new RTCPeerConnection(cfg, LoopbackPeerConnectionTests.Options("B", log));
        var received = new MemoryStream();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        const int total = 20 * 1024 * 1024;
        b.OnDataChannel += ch => ch.OnMessage += m => { received.Write(m.Data.Span); if (received.Length >= total) done.TrySetResult(); };
        var ch = a.CreateDataChannel("bulk");
        await a.SetLocalDescriptionAsync(await a.CreateOfferAsync());
        await b.SetRemoteDescriptionAsync(a.LocalDescription!);
        await b.SetLocalDescriptionAsync(await b.CreateAnswerAsync());
        await a.SetRemoteDescriptionAsync(b.LocalDescription!);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await ch.WaitOpenAsync(cts.Token);
        var data = new byte[total];
        new Random(20).NextBytes(data);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int off = 0; off < total; off += 65536) await ch.SendAsync(data.AsMemory(off, 65536), false, cts.Token);
        try { await done.Task.WaitAsync(cts.Token); }
        catch (OperationCanceledException) { lock (log) foreach (var l in log.TakeLast(50)) output.WriteLine(l); throw new Xunit.Sdk.XunitException($"received {received.Length} of {total}"); }
        sw.Stop();
        output.WriteLine($"20 MiB ours -> ours over loopback: {sw.Elapsed.TotalSeconds:F2} s = {total * 8 / sw.Elapsed.TotalSeconds / 1e6:F0} Mbit/s");
        Assert.True(data.AsSpan().SequenceEqual(received.ToArray()));
    }

}
