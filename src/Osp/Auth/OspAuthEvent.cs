namespace OspBridge.Osp.Auth;

/// <summary>Why OSP authentication failed (<see cref="OspAuthFailed.Reason"/>, <see cref="OspAuthenticationResult.Failure"/>).</summary>
public enum OspAuthFailure
{
    /// <summary>No failure.</summary>
    None = 0,

    /// <summary>The peer did not send the next message in time, or the whole authentication took longer than its limit.</summary>
    Timeout,

    /// <summary>Our user did not enter the PIN in time (sent as auth-status <c>validation-took-too-long</c>).</summary>
    PinEntryTimeout,

    /// <summary>Our user dismissed the PIN prompt (sent as auth-status <c>secret-unknown</c>).</summary>
    PinEntryCancelled,

    /// <summary>The peer's key confirmation did not verify: a wrong PIN, or a tampered or replayed message (auth-status <c>proof-invalid</c>).</summary>
    ProofInvalid,

    /// <summary>The peer's SPAKE2 share is not a valid group element (auth-status <c>proof-invalid</c>).</summary>
    InvalidShare,

    /// <summary>The first auth-spake2-handshake to the advertising agent lacked the auth-initiation token (TXT <c>at</c>); dropped.</summary>
    MissingAuthToken,

    /// <summary>An auth-spake2-handshake carried a token that is not the advertiser's <c>at</c>; dropped.</summary>
    InvalidAuthToken,

    /// <summary>An auth message arrived out of order or twice (e.g. a second or replayed auth-spake2-handshake) (auth-status <c>unknown-error</c>).</summary>
    UnexpectedMessage,

    /// <summary>The peer reported a failure with auth-status.</summary>
    PeerRejected,

    /// <summary>Neither side can enter a PIN, or the peer's auth-capabilities are out of range.</summary>
    IncompatibleCapabilities,

    /// <summary>The peer (fingerprint or address) is in its back-off period after failed attempts (<see cref="AuthAttemptLimiter"/>).</summary>
    RateLimited,

    /// <summary>The connection closed before authentication finished.</summary>
    ConnectionClosed,

    /// <summary>
    /// Listening side only: the advertising agent closed the connection with <c>401</c> before sending any auth message —
    /// it refused to pair (no consent for a new peer, or its back-off after failed attempts). Nothing was proven either way.
    /// </summary>
    PeerRefused,
}

/// <summary>Which side of PIN pairing an agent plays (Open Screen Network Protocol §Authentication).</summary>
public enum OspAuthRole
{
    /// <summary>Shows the PSK (the lower psk-ease-of-input; the advertising agent on a tie). Plays SPAKE2 Alice.</summary>
    Presenter,

    /// <summary>Lets the user type the PSK. Plays SPAKE2 Bob.</summary>
    Consumer,
}

/// <summary>Something the host of an <see cref="OspAuthenticator"/> must act on (polled with <see cref="OspAuthenticator.TryPollEvent"/>).</summary>
public abstract record OspAuthEvent;

/// <summary>The roles are settled (after both auth-capabilities).</summary>
/// <param name="Role">Our role.</param>
public sealed record OspAuthRoleDecided(OspAuthRole Role) : OspAuthEvent;

/// <summary>We are the presenter: show this fresh PSK to the user (base-10 and/or QR) until authentication ends.</summary>
/// <param name="Pin">The PSK (a secret: do not log it).</param>
public sealed record OspAuthShowPin(OspPsk Pin) : OspAuthEvent;

/// <summary>We are the consumer and the peer shows a PSK: ask the user for it, then call <see cref="OspAuthenticator.SubmitPin(OspPsk, TimeSpan)"/>.</summary>
/// <param name="Deadline">When PIN entry times out (the core's clock).</param>
public sealed record OspAuthNeedPin(TimeSpan Deadline) : OspAuthEvent;

/// <summary>The peer's key confirmation verified: the peer knows the PSK and holds the certificate with <paramref name="PeerFingerprint"/>.</summary>
/// <param name="PeerFingerprint">The peer's agent fingerprint (base64 SHA-256 of its SPKI).</param>
public sealed record OspAuthAuthenticated(string PeerFingerprint) : OspAuthEvent;

/// <summary>Authentication failed; the connection must be closed at once (after sending the queued auth-status, if any).</summary>
/// <param name="Reason">Why.</param>
/// <param name="Message">A human-readable explanation (never contains the PSK).</param>
public sealed record OspAuthFailed(OspAuthFailure Reason, string Message) : OspAuthEvent;
