using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Signaling;

/// <summary>Limits and timeouts of a <see cref="LanSignalingSession"/>.</summary>
public sealed class LanSignalingOptions
{
    /// <summary>How long <see cref="LanSignalingSession.OfferAsync"/> waits for the answer (default 20 s).</summary>
    public TimeSpan AnswerTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Incoming offers kept until they are accepted; more are rejected at once with <c>transient-error</c> (default 16).</summary>
    public int MaxPendingOffers { get; init; } = 16;
}

/// <summary>
/// LAN signaling over one OSP connection: a WebRTC (or any SDP) offer/answer carried in the OspBridge extension
/// messages <c>lan-signaling-offer</c> (8193) and <c>lan-signaling-answer</c> (8194, docs/osp-messages.md §5),
/// so two agents need no signaling server. Non-trickle: each description carries all its candidates.
/// SDP travels as strings, so this layer knows nothing about WebRTC.
/// </summary>
/// <remarks>
/// A session takes every <c>lan-signaling-offer</c> that arrives on its connection (one session per connection)
/// and queues it, bounded by <see cref="LanSignalingOptions.MaxPendingOffers"/>, for
/// <see cref="AcceptOfferAsync"/> or <see cref="ServeAsync(Func{LanSignalingOffer, CancellationToken, Task{string}}, int, CancellationToken)"/>. Failures are <see cref="OspException"/>s.
/// </remarks>
public sealed class LanSignalingSession : IDisposable
{
    private readonly LanSignalingOptions _options;
    private readonly ILogger _logger;
    private readonly Channel<LanSignalingOffer> _offers;
    private readonly IDisposable _subscription;

    /// <summary>Starts LAN signaling on <paramref name="connection"/> (not owned).</summary>
    /// <exception cref="InvalidOperationException">Another session already takes the offers of this connection.</exception>
    public LanSignalingSession(OspConnection connection, LanSignalingOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        Connection = connection;
        _options = options ?? new LanSignalingOptions();
        _logger = logger ?? NullLogger.Instance;
        _offers = Channel.CreateBounded<LanSignalingOffer>(new BoundedChannelOptions(_options.MaxPendingOffers)
        {
            SingleReader = false,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: the offer is rejected, not queued
        });
        _subscription = connection.Subscribe<LanSignalingOffer>(OnOffer);
        _ = connection.Closed.ContinueWith(_ => _offers.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>The OSP connection the messages travel on.</summary>
    public OspConnection Connection { get; }

    /// <summary>
    /// Sends <paramref name="offerSdp"/> as a new offer and returns the peer's answer SDP.
    /// </summary>
    /// <param name="offerSdp">The complete offer (JSEP, non-trickle).</param>
    /// <param name="label">An optional label for the peer (e.g. what the session is for).</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="OspException"><see cref="OspError.Refused"/> when the peer answers with an error,
    /// <see cref="OspError.Timeout"/> after <see cref="LanSignalingOptions.AnswerTimeout"/>, <see cref="OspError.ProtocolError"/> for
    /// a success without SDP, or the connection's failure.</exception>
    public Task<string> OfferAsync(string offerSdp, string? label = null, CancellationToken cancellationToken = default) =>
        OfferCoreAsync(null, offerSdp, label, cancellationToken);

    /// <summary>
    /// Like <see cref="OfferAsync"/>, for the signaling session <paramref name="sessionId"/> (from <see cref="NewSessionId"/>),
    /// so that trickled candidates (<see cref="SendCandidateAsync"/>) and the end of the session (<see cref="CloseAsync"/>)
    /// can follow the offer by session id.
    /// </summary>
    /// <exception cref="OspException">As <see cref="OfferAsync"/>.</exception>
    public Task<string> OfferSessionAsync(ulong sessionId, string offerSdp, string? label, CancellationToken cancellationToken) =>
        OfferCoreAsync(sessionId, offerSdp, label, cancellationToken);

    /// <summary>A session id for <see cref="OfferSessionAsync"/>, unique on this connection.</summary>
    public ulong NewSessionId() => Connection.NextRequestId();

    /// <summary>
    /// Sends a trickled ICE candidate (<c>candidate:…</c> without <c>a=</c>; null = end-of-candidates) of signaling session
    /// <paramref name="sessionId"/> (<c>lan-signaling-candidate</c>).
    /// </summary>
    /// <exception cref="OspException">The connection failed.</exception>
    public ValueTask SendCandidateAsync(ulong sessionId, string? candidate, string? sdpMid, ulong? sdpMLineIndex, string? usernameFragment, CancellationToken cancellationToken) =>
        Connection.SendAsync(new LanSignalingCandidate
        {
            SessionId = sessionId,
            Candidate = candidate,
            SdpMid = sdpMid,
            SdpMLineIndex = sdpMLineIndex,
            UsernameFragment = usernameFragment,
        }, cancellationToken);

    /// <summary>Ends signaling session <paramref name="sessionId"/> (<c>lan-signaling-close</c>; the peer decides what ends with it).</summary>
    /// <exception cref="OspException">The connection failed.</exception>
    public ValueTask CloseAsync(ulong sessionId, LanSignalingCloseReason reason, string? message, CancellationToken cancellationToken) =>
        Connection.SendAsync(new LanSignalingClose { SessionId = sessionId, Reason = reason, Message = message }, cancellationToken);

    /// <summary>
    /// Asks the answerer of signaling session <paramref name="sessionId"/> to restart ICE with the offerer's new credentials
    /// (<c>lan-signaling-ice-restart</c>, 8197) and returns its answer, a trickle SDP fragment (RFC 8840) with its new
    /// ICE credentials and candidates (<c>lan-signaling-ice-restart-response</c>, 8198).
    /// </summary>
    /// <exception cref="OspException">As <see cref="OfferAsync"/>.</exception>
    public async Task<string> RestartIceAsync(ulong sessionId, string iceUfrag, string icePwd, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(iceUfrag);
        ArgumentException.ThrowIfNullOrEmpty(icePwd);
        ulong requestId = Connection.NextRequestId();
        var answer = await RequestAsync<LanSignalingIceRestartResponse>(
            new LanSignalingIceRestart { RequestId = requestId, SessionId = sessionId, IceUfrag = iceUfrag, IcePwd = icePwd },
            a => a.RequestId == requestId, cancellationToken).ConfigureAwait(false);
        if (answer.Result != Result.Success)
            throw new OspException(OspError.Refused, $"peer refused the ICE restart: {answer.Result} {answer.ErrorMessage}".TrimEnd());
        return answer.Sdpfrag ?? throw new OspException(OspError.ProtocolError, "peer answered the ICE restart with success but without a fragment");
    }

    private async Task<string> OfferCoreAsync(ulong? sessionId, string offerSdp, string? label, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(offerSdp);
        ulong requestId = Connection.NextRequestId();
        LanSignalingAnswer answer = await RequestAsync<LanSignalingAnswer>(new LanSignalingOffer
        {
            RequestId = requestId,
            SessionId = sessionId ?? requestId,
            Sdp = offerSdp,
            Label = label,
            TrickleIce = false,
        }, a => a.RequestId == requestId, cancellationToken).ConfigureAwait(false);
        if (answer.Result != Result.Success)
        {
            // the answerer's result code is kept: transient-error means "not now, try again" (e.g. nothing published yet)
            throw new OspException(OspError.Refused, $"peer rejected the offer: {answer.Result} {answer.ErrorMessage}".TrimEnd(), applicationErrorCode: (long)answer.Result);
        }

        return answer.Sdp ?? throw new OspException(OspError.ProtocolError, "peer answered the offer with success but without SDP");
    }

    /// <summary>
    /// Sends <paramref name="request"/> and waits (up to the answer timeout) for the response that <paramref name="isResponse"/>
    /// picks; the waiter is registered before sending and cancelled when the send fails.
    /// </summary>
    private async Task<TResponse> RequestAsync<TResponse>(IOspMessage request, Func<TResponse, bool> isResponse, CancellationToken cancellationToken)
        where TResponse : class, IOspMessage
    {
        using var waitCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var responseTask = Connection.WaitForAsync(isResponse, _options.AnswerTimeout, waitCts.Token);
        try
        {
            await Connection.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await waitCts.CancelAsync().ConfigureAwait(false);
            await responseTask.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            throw;
        }
        return await responseTask.ConfigureAwait(false);
    }

    /// <summary>Returns the next incoming offer; null once the connection is closed.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public async Task<LanSignalingOffer?> AcceptOfferAsync(CancellationToken cancellationToken = default)
    {
        while (await _offers.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_offers.Reader.TryRead(out LanSignalingOffer? offer))
            {
                return offer;
            }
        }

        return null;
    }

    /// <summary>Answers <paramref name="offer"/> with <paramref name="answerSdp"/>.</summary>
    /// <exception cref="OspException">The connection failed.</exception>
    public async Task AnswerAsync(LanSignalingOffer offer, string answerSdp, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offer);
        ArgumentException.ThrowIfNullOrEmpty(answerSdp);
        await Connection.SendAsync(new LanSignalingAnswer { RequestId = offer.RequestId, Result = Result.Success, Sdp = answerSdp }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Rejects <paramref name="offer"/> (the offerer's <see cref="OfferAsync"/> fails with <see cref="OspError.Refused"/>).</summary>
    /// <exception cref="OspException">The connection failed.</exception>
    public async Task RejectAsync(LanSignalingOffer offer, string reason, Result result = Result.PermanentError, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(offer);
        if (result == Result.Success)
        {
            throw new ArgumentOutOfRangeException(nameof(result), "A rejection needs an error result.");
        }

        await Connection.SendAsync(new LanSignalingAnswer { RequestId = offer.RequestId, Result = result, ErrorMessage = reason }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Answers incoming offers one by one with <paramref name="answer"/> until the connection closes (then it
    /// returns) or <paramref name="cancellationToken"/> is cancelled. When the callback throws, the offer is
    /// rejected with <c>permanent-error</c> and the exception's message, and serving goes on.
    /// </summary>
    /// <param name="answer">Makes the answer SDP for an offer.</param>
    /// <param name="cancellationToken">Stops serving.</param>
    public Task ServeAsync(Func<LanSignalingOffer, CancellationToken, Task<string>> answer, CancellationToken cancellationToken = default) =>
        ServeAsync(answer, 1, cancellationToken);

    /// <summary>
    /// Answers incoming offers with <paramref name="answer"/>, up to <paramref name="maxConcurrentAnswers"/> at once (a
    /// device that gathers candidates per offer answers 50 viewers posting together in parallel, not one gathering after
    /// the other), until the connection closes (then it returns, once the answers in flight are done) or
    /// <paramref name="cancellationToken"/> is cancelled. When the callback throws, that offer is rejected with
    /// <c>permanent-error</c> and the exception's message (<c>transient-error</c> when it is an <see cref="OspException"/>
    /// with <see cref="OspError.Refused"/> and <see cref="OspException.ApplicationErrorCode"/> = <c>transient-error</c>:
    /// "not now", e.g. nothing published yet; the offerer sees that code on its exception); when its answer cannot be sent for another reason than the
    /// connection closing (e.g. larger than the peer accepts), the offer is rejected with that reason. Serving goes on.
    /// </summary>
    /// <param name="answer">Makes the answer SDP for an offer (called on a pool thread per offer).</param>
    /// <param name="maxConcurrentAnswers">Offers answered at once (≥ 1); 1 answers strictly in order.</param>
    /// <param name="cancellationToken">Stops serving.</param>
    public async Task ServeAsync(Func<LanSignalingOffer, CancellationToken, Task<string>> answer, int maxConcurrentAnswers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(answer);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrentAnswers, 1);
        using var gate = new SemaphoreSlim(maxConcurrentAnswers);
        using var closed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var running = new List<Task>();
        try
        {
            while (await AcceptOfferAsync(closed.Token).ConfigureAwait(false) is { } offer)
            {
                await gate.WaitAsync(closed.Token).ConfigureAwait(false);
                running.RemoveAll(t => t.IsCompleted);
                running.Add(Task.Run(() => AnswerOneAsync(offer, answer, gate, closed, cancellationToken), CancellationToken.None));
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // An answer found the connection closed: serving ends like when the offers run out.
        }
        finally
        {
            await Task.WhenAll(running).ConfigureAwait(false);
        }
    }

    /// <summary>One offer: answer (or reject) it, release the gate; a send that finds the connection closed ends serving.</summary>
    private async Task AnswerOneAsync(LanSignalingOffer offer, Func<LanSignalingOffer, CancellationToken, Task<string>> answer,
        SemaphoreSlim gate, CancellationTokenSource closed, CancellationToken cancellationToken)
    {
        try
        {
            string? sdp = null;
            string? refusal = null;
            var refusalResult = Result.PermanentError;
            try
            {
                sdp = await answer(offer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                if (ex is OspException { Error: OspError.Refused, ApplicationErrorCode: (long)Result.TransientError })
                    refusalResult = Result.TransientError;
                _logger.LogWarning(ex, "lan signaling: rejecting offer {RequestId} from {Peer}: {Reason}", offer.RequestId, Connection.RemoteFingerprint, ex.Message);
                refusal = ex.Message;
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (sdp is not null)
            {
                try
                {
                    if (!await TrySendAsync(() => AnswerAsync(offer, sdp, cancellationToken)).ConfigureAwait(false))
                    {
                        closed.Cancel();
                        return;
                    }
                }
                catch (OspException ex)
                {
                    if (_logger.IsEnabled(LogLevel.Warning)) _logger.LogWarning("lan signaling: the answer to offer {RequestId} from {Peer} could not be sent: {Reason}", offer.RequestId, Connection.RemoteFingerprint, ex.Message);
                    refusal = "the answer could not be sent: " + ex.Message;
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            if (refusal is not null)
            {
                try
                {
                    if (!await TrySendAsync(() => RejectAsync(offer, refusal, refusalResult, cancellationToken)).ConfigureAwait(false)) closed.Cancel();
                }
                catch (Exception ex) when (ex is OspException or OperationCanceledException)
                {
                    if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("lan signaling: the rejection of offer {RequestId} was not sent: {Reason}", offer.RequestId, ex.Message);
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // The connection was disposed while this answer was in flight: nothing more can be sent on it.
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Stops taking offers on the connection.</summary>
    public void Dispose()
    {
        _subscription.Dispose();
        _offers.Writer.TryComplete();
    }

    private void OnOffer(LanSignalingOffer offer)
    {
        if (_offers.Writer.TryWrite(offer))
        {
            return;
        }

        // Full (or disposed): refuse rather than buffer without bound.
        _ = Task.Run(async () =>
        {
            try
            {
                await Connection.SendAsync(new LanSignalingAnswer { RequestId = offer.RequestId, Result = Result.TransientError, ErrorMessage = "too many pending offers" }).ConfigureAwait(false);
            }
            catch (OspException)
            {
            }
        });
    }

    /// <summary>Sends; false when the connection is closed (serving ends), rethrows other failures.</summary>
    private async Task<bool> TrySendAsync(Func<Task> send)
    {
        try
        {
            await send().ConfigureAwait(false);
            return true;
        }
        catch (OspException ex) when (Connection.Closed.IsCompleted || ex.Error == OspError.Closed)
        {
            return false;
        }
    }
}
