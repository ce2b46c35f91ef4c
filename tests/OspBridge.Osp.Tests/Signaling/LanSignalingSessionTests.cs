using OspBridge.Crypto.Identity;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Messages;
using OspBridge.Osp.Signaling;
using OspBridge.Osp.Tests.Agent;

namespace OspBridge.Osp.Tests.Signaling;

/// <summary>The LAN signaling library API over real loopback QUIC connections between two agents.</summary>
public sealed class LanSignalingSessionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static OspAgentOptions Agent(string name) => new() { Identity = AgentIdentity.CreateEphemeral(name), DisplayName = name, RequireAuthentication = false };

    /// <summary>The controller (client side, <c>c</c> in the tests) connected to the device (server side, <c>d</c>).</summary>
    private static Task<OspLoopbackLink> ConnectAsync() => OspLoopbackLink.OpenAsync(Agent("Device"), Agent("Controller"));

    [Fact]
    public async Task Offers_get_the_answers_the_serving_callback_makes_and_a_throwing_callback_rejects_only_that_offer()
    {
        await using var link = await ConnectAsync();
        var (c, d) = (link.Client, link.Server);
        using var cts = new CancellationTokenSource(Timeout);
        using var offerer = new LanSignalingSession(c);
        using var answerer = new LanSignalingSession(d);
        var seen = new List<(string Sdp, string? Label, bool? Trickle)>();
        var serving = answerer.ServeAsync((offer, _) =>
        {
            seen.Add((offer.Sdp, offer.Label, offer.TrickleIce));
            return offer.Sdp.Contains("bad", StringComparison.Ordinal)
                ? throw new InvalidOperationException("cannot take this one")
                : Task.FromResult("answer to " + offer.Sdp);
        }, cts.Token);

        Assert.Equal("answer to v=0 first", await offerer.OfferAsync("v=0 first", "chat", cts.Token));
        var rejected = await Assert.ThrowsAsync<OspException>(() => offerer.OfferAsync("v=0 bad", null, cts.Token));
        Assert.Equal(OspError.Refused, rejected.Error);
        Assert.Contains("cannot take this one", rejected.Message, StringComparison.Ordinal);
        Assert.Equal("answer to v=0 third", await offerer.OfferAsync("v=0 third", null, cts.Token));
        Assert.Equal([("v=0 first", "chat", false), ("v=0 bad", null, false), ("v=0 third", null, false)], seen);

        // Both directions: the device may offer too, answered by a session that accepts offers itself.
        var accepting = Task.Run(async () =>
        {
            var offer = await offerer.AcceptOfferAsync(cts.Token);
            await offerer.AnswerAsync(offer!, "pong", cts.Token);
        });
        Assert.Equal("pong", await answerer.OfferAsync("ping", null, cts.Token));
        await accepting.WaitAsync(Timeout);

        // Serving ends (normally) when the connection closes; accepting then yields null.
        await c.CloseAsync(OspConnection.NoErrorCode, cts.Token);
        await serving.WaitAsync(Timeout);
        Assert.Null(await answerer.AcceptOfferAsync(cts.Token));
    }

    /// <summary>
    /// Serving with <c>maxConcurrentAnswers: 4</c> runs four answer callbacks at once: each waits until all four are in
    /// flight, which could never happen one by one. A fifth offer waits for a free slot, and a throwing callback rejects
    /// only its own offer.
    /// </summary>
    [Fact]
    public async Task Serving_with_concurrency_answers_offers_in_parallel_up_to_the_limit()
    {
        await using var link = await ConnectAsync();
        var (c, d) = (link.Client, link.Server);
        using var cts = new CancellationTokenSource(Timeout);
        using var offerer = new LanSignalingSession(c);
        using var answerer = new LanSignalingSession(d);
        var allFourIn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int inFlight = 0, maxInFlight = 0;
        var serving = answerer.ServeAsync(async (offer, ct) =>
        {
            int now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref maxInFlight, now);
            try
            {
                if (now == 4) allFourIn.TrySetResult();
                if (offer.Sdp.StartsWith("v=0 wait", StringComparison.Ordinal)) await allFourIn.Task.WaitAsync(ct);
                if (offer.Sdp.Contains("bad", StringComparison.Ordinal)) throw new InvalidOperationException("not this one");
                return "answer to " + offer.Sdp;
            }
            finally
            {
                Interlocked.Decrement(ref inFlight);
            }
        }, maxConcurrentAnswers: 4, cts.Token);

        var offers = Enumerable.Range(0, 4).Select(i => offerer.OfferAsync("v=0 wait " + i, null, cts.Token)).ToList();
        string[] answers = await Task.WhenAll(offers).WaitAsync(Timeout);
        Assert.Equal(Enumerable.Range(0, 4).Select(i => "answer to v=0 wait " + i), answers);
        Assert.Equal(4, Volatile.Read(ref maxInFlight));

        var bad = await Assert.ThrowsAsync<OspException>(() => offerer.OfferAsync("v=0 bad", null, cts.Token));
        Assert.Equal(OspError.Refused, bad.Error);
        Assert.Equal("answer to v=0 after", await offerer.OfferAsync("v=0 after", null, cts.Token));
        Assert.True(Volatile.Read(ref maxInFlight) <= 4, $"at most 4 at once, saw {maxInFlight}");

        await c.CloseAsync(OspConnection.NoErrorCode, cts.Token);
        await serving.WaitAsync(Timeout);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    [Fact]
    public async Task An_unanswered_offer_times_out_and_explicit_rejections_carry_their_result()
    {
        await using var link = await ConnectAsync();
        var (c, d) = (link.Client, link.Server);
        using var cts = new CancellationTokenSource(Timeout);
        using var offerer = new LanSignalingSession(c, new LanSignalingOptions { AnswerTimeout = TimeSpan.FromMilliseconds(300) });
        using var answerer = new LanSignalingSession(d);

        var timeout = await Assert.ThrowsAsync<OspException>(() => offerer.OfferAsync("v=0 nobody answers", null, cts.Token));
        Assert.Equal(OspError.Timeout, timeout.Error);
        var pending = await answerer.AcceptOfferAsync(cts.Token); // it did arrive, and waited in the queue
        Assert.Equal("v=0 nobody answers", pending!.Sdp);

        using var patient = new CancellationTokenSource(Timeout);
        var offer = c.WaitForAsync<LanSignalingAnswer>(a => a.RequestId == 77, Timeout, cts.Token);
        await c.SendAsync(new LanSignalingOffer { RequestId = 77, SessionId = 77, Sdp = "v=0" }, cts.Token);
        await answerer.RejectAsync((await answerer.AcceptOfferAsync(cts.Token))!, "busy", Result.TransientError, cts.Token);
        var answer = await offer;
        Assert.Equal(Result.TransientError, answer.Result);
        Assert.Equal("busy", answer.ErrorMessage);
        Assert.Null(answer.Sdp);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => answerer.RejectAsync(pending, "no", Result.Success, cts.Token));

        // One session per connection takes the offers.
        Assert.Throws<InvalidOperationException>(() => new LanSignalingSession(d));
    }

    [Fact]
    public async Task Offers_beyond_the_pending_limit_are_refused_at_once_not_buffered()
    {
        await using var link = await ConnectAsync();
        var (c, d) = (link.Client, link.Server);
        using var cts = new CancellationTokenSource(Timeout);
        using var answerer = new LanSignalingSession(d, new LanSignalingOptions { MaxPendingOffers = 2 });

        // Five offers nobody accepts yet: two wait in the queue, the other three are answered transient-error.
        var answers = new List<Task<LanSignalingAnswer>>();
        for (ulong id = 1; id <= 5; id++)
        {
            ulong requestId = id;
            answers.Add(c.WaitForAsync<LanSignalingAnswer>(a => a.RequestId == requestId, Timeout, cts.Token));
        }

        for (ulong id = 1; id <= 5; id++)
        {
            await c.SendAsync(new LanSignalingOffer { RequestId = id, SessionId = id, Sdp = "v=0 " + id }, cts.Token);
        }

        var refusedIds = new HashSet<ulong>();
        while (refusedIds.Count < 3)
        {
            var done = await Task.WhenAny(answers).WaitAsync(Timeout);
            answers.Remove(done);
            var answer = await done;
            Assert.Equal(Result.TransientError, answer.Result);
            Assert.Equal("too many pending offers", answer.ErrorMessage);
            refusedIds.Add(answer.RequestId);
        }

        // The two queued ones are still there, in the order they were taken.
        var queued = new List<ulong> { (await answerer.AcceptOfferAsync(cts.Token))!.RequestId, (await answerer.AcceptOfferAsync(cts.Token))!.RequestId };
        Assert.Equal(5, refusedIds.Count + queued.Count);
        Assert.Empty(refusedIds.Intersect(queued));
        foreach (ulong id in queued)
        {
            await answerer.AnswerAsync(new LanSignalingOffer { RequestId = id, SessionId = id, Sdp = "x" }, "ok " + id, cts.Token);
        }

        foreach (var pending in answers)
        {
            var answer = await pending.WaitAsync(Timeout);
            Assert.Equal(Result.Success, answer.Result);
            Assert.Equal("ok " + answer.RequestId, answer.Sdp);
        }
    }
}
