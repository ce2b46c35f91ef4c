using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Crypto.Identity;
using OspBridge.Crypto.Spake2;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Auth;

/// <summary>Settings of <see cref="OspAuthentication.AuthenticateAsync"/>.</summary>
public sealed class OspAuthenticationOptions
{
    /// <summary>Our agent identity (its fingerprint is our SPAKE2 identity; its <c>at</c> is the advertiser's token).</summary>
    public required AgentIdentity Identity { get; init; }

    /// <summary>True on the advertising agent (the side that accepted the QUIC connection).</summary>
    public required bool IsAdvertiser { get; init; }

    /// <summary>
    /// The advertiser's <c>at</c> token. On the advertiser it defaults to <see cref="AgentIdentity.AuthToken"/> (set it
    /// when the token was rotated); on the listener it is the TXT <c>at</c> from discovery (required to pair).
    /// </summary>
    public string? AuthToken { get; init; }

    /// <summary>Our auth-capabilities (default: ease 50, numeric, 20 bits). A screenless agent says ease 0 and presents.</summary>
    public AuthCapabilities? Capabilities { get; init; }

    /// <summary>SPAKE2 suite (default: the OSP profile, edwards25519).</summary>
    public Spake2Suite Suite { get; init; } = Spake2Suite.Edwards25519Sha256;

    /// <summary>Step timeout (see <see cref="OspAuthenticatorOptions.StepTimeout"/>).</summary>
    public TimeSpan StepTimeout { get; init; } = OspAuthenticatorOptions.DefaultStepTimeout;

    /// <summary>PIN entry timeout (see <see cref="OspAuthenticatorOptions.PinEntryTimeout"/>).</summary>
    public TimeSpan PinEntryTimeout { get; init; } = OspAuthenticatorOptions.DefaultPinEntryTimeout;

    /// <summary>Overall timeout (see <see cref="OspAuthenticatorOptions.Timeout"/>).</summary>
    public TimeSpan Timeout { get; init; } = OspAuthenticatorOptions.DefaultTimeout;

    /// <summary>Brute-force policy shared by all connections of an agent (null: none).</summary>
    public AuthAttemptLimiter? Limiter { get; init; }

    /// <summary>The peer's display name for prompts, when known.</summary>
    public string? PeerDisplayName { get; init; }

    /// <summary>CSPRNG for PSKs and SPAKE2 scalars (null: the system's).</summary>
    public RandomNumberGenerator? Random { get; init; }

    /// <summary>Clock for timeouts.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Logger (never receives the PIN).</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Options for the advertising agent (QUIC server).</summary>
    public static OspAuthenticationOptions ForAdvertiser(AgentIdentity identity) => new() { Identity = identity, IsAdvertiser = true };

    /// <summary>Options for the listening agent (QUIC client) with the advertiser's TXT <c>at</c>.</summary>
    public static OspAuthenticationOptions ForListener(AgentIdentity identity, string? advertisedAuthToken) =>
        new() { Identity = identity, IsAdvertiser = false, AuthToken = advertisedAuthToken };
}

/// <summary>The outcome of <see cref="OspAuthentication.AuthenticateAsync"/>.</summary>
/// <param name="PeerFingerprint">The peer's agent fingerprint (from its TLS certificate).</param>
/// <param name="Role">Our role, when it was decided.</param>
/// <param name="Failure"><see cref="OspAuthFailure.None"/> on success.</param>
/// <param name="Message">Why it failed (null on success).</param>
/// <param name="RetryAfter">For <see cref="OspAuthFailure.RateLimited"/> and failures under a limiter: the back-off now in force.</param>
public sealed record OspAuthenticationResult(string PeerFingerprint, OspAuthRole? Role, OspAuthFailure Failure, string? Message, TimeSpan RetryAfter)
{
    /// <summary>True when the peer proved knowledge of the PSK and the connection is now authenticated.</summary>
    public bool IsAuthenticated => Failure == OspAuthFailure.None;
}

/// <summary>
/// Runs <see cref="OspAuthenticator"/> over a live <see cref="OspConnection"/>: auth messages in and out, the clock,
/// the PIN display and prompt through <see cref="IOspPairingHost"/>, the brute-force policy. Used by both sides.
/// On success the connection is marked authenticated; on any failure it is closed at once (application error
/// <see cref="OspConnection.NotAuthenticatedErrorCode"/>) after the auth-status went out.
/// </summary>
public static class OspAuthentication
{
    private const int MaxPinPrompts = 3;
    private const int InboxLimit = 32;

    /// <summary>Authenticates <paramref name="connection"/> with PIN pairing (one attempt, a fresh PSK).</summary>
    /// <param name="connection">A connection on which no authentication ran yet.</param>
    /// <param name="options">Our side.</param>
    /// <param name="host">Shows or asks for the PIN.</param>
    /// <param name="cancellationToken">Cancels the attempt (the connection is then closed).</param>
    /// <returns>The result; <see cref="OspAuthenticationResult.IsAuthenticated"/> tells success.</returns>
    public static Task<OspAuthenticationResult> AuthenticateAsync(OspConnection connection, OspAuthenticationOptions options,
        IOspPairingHost host, CancellationToken cancellationToken = default) =>
        AuthenticateAfterAsync(connection, options, host, first: null, cancellationToken);

    /// <summary>As the public overload, with an auth message the caller already took from the connection (handled first).</summary>
    internal static async Task<OspAuthenticationResult> AuthenticateAfterAsync(OspConnection connection, OspAuthenticationOptions options,
        IOspPairingHost host, IOspMessage? first, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(host);
        ILogger log = options.Logger ?? NullLogger.Instance;
        var peer = new OspPairingPeer(connection.RemoteFingerprint, connection.RemoteEndPoint, options.PeerDisplayName);
        AuthAttemptLimiter? limiter = options.Limiter;
        if (limiter is not null && !limiter.TryBeginAttempt(connection.RemoteFingerprint, connection.RemoteEndPoint.Address, out TimeSpan wait))
        {
            if (log.IsEnabled(LogLevel.Warning)) log.LogWarning("Refusing authentication from {Fingerprint} at {EndPoint}: back-off for {Seconds:0.#} s", connection.RemoteFingerprint, connection.RemoteEndPoint, wait.TotalSeconds);
            await CloseQuietlyAsync(connection).ConfigureAwait(false);
            var limited = new OspAuthenticationResult(connection.RemoteFingerprint, null, OspAuthFailure.RateLimited, $"too many failed attempts: retry in {wait.TotalSeconds:0.#} s", wait);
            await host.PairingEndedAsync(peer, limited, CancellationToken.None).ConfigureAwait(false);
            return limited;
        }

        var inbox = Channel.CreateBounded<IOspMessage>(new BoundedChannelOptions(InboxLimit) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        bool overflow = false;
        bool heardFromPeer = false;
        void Post(IOspMessage m)
        {
            Volatile.Write(ref heardFromPeer, true);
            if (!inbox.Writer.TryWrite(m)) overflow = true;
        }

        if (first is not null) Post(first);
        using var s1 = connection.Subscribe<AuthCapabilities>(Post);
        using var s2 = connection.Subscribe<AuthSpake2Handshake>(Post);
        using var s3 = connection.Subscribe<AuthSpake2Confirmation>(Post);
        using var s4 = connection.Subscribe<AuthStatus>(Post);

        var coreOptions = new OspAuthenticatorOptions
        {
            IsAdvertiser = options.IsAdvertiser,
            LocalFingerprint = options.Identity.Fingerprint,
            RemoteFingerprint = connection.RemoteFingerprint,
            AuthToken = options.AuthToken ?? (options.IsAdvertiser ? options.Identity.AuthToken : null),
            Capabilities = options.Capabilities ?? OspAuthenticatorOptions.DefaultCapabilities(),
            Suite = options.Suite,
            Random = options.Random ?? RandomNumberGenerator.Create(),
            StepTimeout = options.StepTimeout,
            PinEntryTimeout = options.PinEntryTimeout,
            Timeout = options.Timeout,
        };
        TimeProvider clock = options.TimeProvider;
        long start = clock.GetTimestamp();
        TimeSpan Now() => clock.GetElapsedTime(start);

        using var core = new OspAuthenticator(coreOptions);
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<string?>? pinTask = null;
        int prompts = 0;
        string? failureMessage = null;
        core.Start(Now());
        try
        {
            while (true)
            {
                await FlushAsync(core, connection, attempt.Token).ConfigureAwait(false);
                while (core.TryPollEvent(out OspAuthEvent ev))
                {
                    switch (ev)
                    {
                        case OspAuthRoleDecided role:
                            if (log.IsEnabled(LogLevel.Debug)) log.LogDebug("Authentication with {Fingerprint}: we are the {Role}", peer.Fingerprint, role.Role);
                            break;
                        case OspAuthShowPin show:
                            await host.ShowPinAsync(show.Pin, peer, attempt.Token).ConfigureAwait(false);
                            break;
                        case OspAuthNeedPin:
                            prompts++;
                            pinTask = host.RequestPinAsync(peer, attempt.Token).AsTask();
                            break;
                        case OspAuthFailed failed:
                            failureMessage = failed.Message;
                            break;
                    }
                }

                if (core.IsCompleted)
                {
                    break;
                }

                if (overflow)
                {
                    core.Abort(OspAuthFailure.UnexpectedMessage, "the peer flooded auth messages");
                    continue;
                }

                // Messages that arrived before a close are processed first (e.g. the confirmation that shows a wrong PIN).
                if (inbox.Reader.TryRead(out IOspMessage? message))
                {
                    core.Receive(message, Now());
                    continue;
                }

                if (connection.Closed.IsCompleted)
                {
                    // An advertiser that refuses a new peer (no consent, back-off) closes with 401 before any auth message:
                    // tell that apart from a connection lost mid-way, so the user learns the agent said no.
                    if (!options.IsAdvertiser && !Volatile.Read(ref heardFromPeer) && connection.Closed.Result == OspConnection.NotAuthenticatedErrorCode)
                    {
                        core.Abort(OspAuthFailure.PeerRefused, "the agent closed the connection before authentication began (no consent for a new peer, or a back-off after failed attempts)");
                    }
                    else
                    {
                        core.Abort(OspAuthFailure.ConnectionClosed, "the connection closed during authentication");
                    }

                    continue;
                }

                if (pinTask is { IsCompleted: true })
                {
                    string? text = await GetPinAsync(pinTask).ConfigureAwait(false);
                    pinTask = null;
                    if (text is null)
                    {
                        core.CancelPinEntry(Now());
                    }
                    else if (!core.SubmitPin(text, Now()))
                    {
                        if (prompts >= MaxPinPrompts)
                        {
                            core.CancelPinEntry(Now());
                        }
                        else
                        {
                            prompts++;
                            pinTask = host.RequestPinAsync(peer, attempt.Token).AsTask();
                        }
                    }

                    continue;
                }

                TimeSpan now = Now();
                if (core.NextDeadline is { } deadline && deadline <= now)
                {
                    core.HandleDeadline(now);
                    continue;
                }

                using var wake = CancellationTokenSource.CreateLinkedTokenSource(attempt.Token);
                var waits = new List<Task>(4) { inbox.Reader.WaitToReadAsync(wake.Token).AsTask(), connection.Closed };
                if (pinTask is not null) waits.Add(pinTask);
                if (core.NextDeadline is { } next) waits.Add(Task.Delay(next - now, clock, wake.Token));
                await Task.WhenAny(waits).ConfigureAwait(false);
                await wake.CancelAsync().ConfigureAwait(false);
                attempt.Token.ThrowIfCancellationRequested();
            }

            // The last messages (our confirmation, auth-status) go out before we report or close.
            await FlushAsync(core, connection, attempt.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            core.Abort(OspAuthFailure.ConnectionClosed, "authentication was cancelled");
            await CloseQuietlyAsync(connection).ConfigureAwait(false);
            throw;
        }
        catch (OspException ex)
        {
            core.Abort(OspAuthFailure.ConnectionClosed, "sending failed: " + ex.Message);
            failureMessage ??= "sending failed: " + ex.Message;
        }
        finally
        {
            await attempt.CancelAsync().ConfigureAwait(false);
            if (pinTask is not null)
            {
                await GetPinAsync(pinTask).ConfigureAwait(false);
            }
        }

        OspAuthenticationResult result;
        if (core.State == OspAuthState.Authenticated)
        {
            connection.MarkAuthenticated();
            limiter?.RecordSuccess(connection.RemoteFingerprint, connection.RemoteEndPoint.Address);
            if (log.IsEnabled(LogLevel.Information)) log.LogInformation("Authenticated {Fingerprint} at {EndPoint} as {Role}", peer.Fingerprint, peer.RemoteEndPoint, core.Role);
            result = new OspAuthenticationResult(connection.RemoteFingerprint, core.Role, OspAuthFailure.None, null, TimeSpan.Zero);
        }
        else
        {
            TimeSpan backoff = limiter?.RecordFailure(connection.RemoteFingerprint, connection.RemoteEndPoint.Address) ?? TimeSpan.Zero;
            if (log.IsEnabled(LogLevel.Warning)) log.LogWarning("Authentication with {Fingerprint} at {EndPoint} failed: {Reason} ({Message})", peer.Fingerprint, peer.RemoteEndPoint, core.Failure, failureMessage);
            await CloseQuietlyAsync(connection).ConfigureAwait(false);
            result = new OspAuthenticationResult(connection.RemoteFingerprint, core.Role, core.Failure, failureMessage, backoff);
        }

        await host.PairingEndedAsync(peer, result, CancellationToken.None).ConfigureAwait(false);
        return result;
    }

    private static async Task FlushAsync(OspAuthenticator core, OspConnection connection, CancellationToken cancellationToken)
    {
        while (core.TryPollTransmit(out IOspMessage message))
        {
            await connection.SendAsync(message, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<string?> GetPinAsync(Task<string?> pinTask)
    {
        try
        {
            return await pinTask.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    private static async ValueTask CloseQuietlyAsync(OspConnection connection)
    {
        try
        {
            await connection.CloseAsync(OspConnection.NotAuthenticatedErrorCode).ConfigureAwait(false);
        }
        catch (OspException)
        {
        }
    }
}
