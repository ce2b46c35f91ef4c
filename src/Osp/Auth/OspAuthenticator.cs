using System.Security.Cryptography;
using System.Text;
using OspBridge.Crypto.Spake2;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Auth;

/// <summary>Where an <see cref="OspAuthenticator"/> stands.</summary>
public enum OspAuthState
{
    /// <summary>Not started.</summary>
    Idle,

    /// <summary>Our auth-capabilities are out; waiting for the peer's.</summary>
    AwaitingCapabilities,

    /// <summary>Waiting for the peer's auth-spake2-handshake (psk-needs-presentation on the presenting advertiser, psk-shown on a consumer).</summary>
    AwaitingHandshake,

    /// <summary>Consumer: waiting for our user's PIN.</summary>
    AwaitingPin,

    /// <summary>Presenter: our share pA is out, the PIN is shown; waiting for the peer's psk-input handshake with pB.</summary>
    AwaitingShare,

    /// <summary>Our confirmation is out; waiting for the peer's.</summary>
    AwaitingConfirmation,

    /// <summary>The peer's confirmation verified.</summary>
    Authenticated,

    /// <summary>Authentication failed; the connection must be closed.</summary>
    Failed,
}

/// <summary>
/// The sans-IO OSP authentication core (Open Screen Network Protocol §Authentication: auth-capabilities, SPAKE2
/// per RFC 9382 with a PSK, auth-status) for one attempt on one connection. Feed it received auth messages
/// (<see cref="Receive"/>), the user's PIN (<see cref="SubmitPin(OspPsk, TimeSpan)"/>) and the time
/// (<see cref="HandleDeadline"/>); send what <see cref="TryPollTransmit"/> yields, in order; act on
/// <see cref="TryPollEvent"/>. It never blocks, never reads a clock and raises no callbacks.
/// </summary>
/// <remarks>
/// <para>Flow (docs/pairing.md): both sides send auth-capabilities. The presenter is the side with the lower
/// psk-ease-of-input (the advertiser on a tie). The listening agent (QUIC client) always sends the first
/// auth-spake2-handshake, carrying the advertiser's <c>at</c>, so nothing is shown before the token checked:
/// as consumer it sends <c>psk-needs-presentation</c> with an empty public value (a request, not a share); as
/// presenter it shows the PSK and sends <c>psk-shown</c> with pA. The presenter is SPAKE2 Alice (it alone knows
/// the PSK first); the consumer answers <c>psk-input</c> with pB once its user typed the PIN, then both send
/// their confirmation (32-byte HMAC + 32 zero bytes in the 64-byte field) and, once the peer's verified,
/// auth-status authenticated. SPAKE2 identities: A = the client's fingerprint, B = the server's (raw 32 bytes).</para>
/// <para>Any failure queues an auth-status with the reason (except for a bad token: that message is dropped
/// unanswered) and ends in <see cref="OspAuthState.Failed"/>: the host must close the connection at once.</para>
/// </remarks>
public sealed class OspAuthenticator : IDisposable
{
    private const int MaxShareLength = 133; // P-521 uncompressed; anything longer is not a share of any suite

    private readonly OspAuthenticatorOptions _options;
    private readonly byte[] _identityA;
    private readonly byte[] _identityB;
    private readonly Queue<IOspMessage> _transmit = new();
    private readonly Queue<OspAuthEvent> _events = new();
    private AuthCapabilities? _peerCapabilities;
    private AuthSpake2Handshake? _stashedHandshake;
    private AuthSpake2Confirmation? _stashedConfirmation;
    private Spake2? _spake;
    private byte[]? _peerShare;
    private TimeSpan _overallDeadline;
    private TimeSpan? _stepDeadline;
    private bool _receivedHandshake;

    /// <summary>Creates a core; nothing happens until <see cref="Start"/>.</summary>
    /// <exception cref="ArgumentException">A fingerprint is not base64 of 32 bytes, or the advertiser has no token.</exception>
    public OspAuthenticator(OspAuthenticatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        byte[] local = DecodeFingerprint(options.LocalFingerprint, nameof(options.LocalFingerprint));
        byte[] remote = DecodeFingerprint(options.RemoteFingerprint, nameof(options.RemoteFingerprint));
        (_identityA, _identityB) = options.IsAdvertiser ? (remote, local) : (local, remote);
        if (options.IsAdvertiser && string.IsNullOrEmpty(options.AuthToken))
        {
            throw new ArgumentException("the advertising agent needs its at token", nameof(options));
        }

        if (options.Capabilities.PskEaseOfInput > 100)
        {
            throw new ArgumentException("psk-ease-of-input is 0..100", nameof(options));
        }
    }

    /// <summary>The current state.</summary>
    public OspAuthState State { get; private set; }

    /// <summary>Our role, once both auth-capabilities are known.</summary>
    public OspAuthRole? Role { get; private set; }

    /// <summary>Why authentication failed (<see cref="OspAuthFailure.None"/> unless <see cref="State"/> is Failed).</summary>
    public OspAuthFailure Failure { get; private set; }

    /// <summary>True once authenticated or failed.</summary>
    public bool IsCompleted => State is OspAuthState.Authenticated or OspAuthState.Failed;

    /// <summary>The next time <see cref="HandleDeadline"/> must be called; null when completed or not started.</summary>
    public TimeSpan? NextDeadline =>
        IsCompleted || State == OspAuthState.Idle ? null
        : _stepDeadline is { } step && step < _overallDeadline ? step : _overallDeadline;

    /// <summary>Starts: queues our auth-capabilities.</summary>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    public void Start(TimeSpan now)
    {
        if (State != OspAuthState.Idle) throw new InvalidOperationException("the authenticator has already started");
        _overallDeadline = now + _options.Timeout;
        _transmit.Enqueue(_options.Capabilities);
        Enter(OspAuthState.AwaitingCapabilities, now + _options.StepTimeout);
    }

    /// <summary>Takes one received message. Messages other than auth-* are ignored (returns false), as is everything after completion.</summary>
    public bool Receive(IOspMessage message, TimeSpan now)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (IsCompleted || State == OspAuthState.Idle) return false;
        switch (message)
        {
            case AuthCapabilities caps:
                OnCapabilities(caps, now);
                return true;
            case AuthSpake2Handshake handshake:
                OnHandshake(handshake, now);
                return true;
            case AuthSpake2Confirmation confirmation:
                OnConfirmation(confirmation);
                return true;
            case AuthStatus status:
                OnStatus(status);
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// The PIN our user typed (consumer, after <see cref="OspAuthNeedPin"/>). A wrong PIN is not detected here:
    /// it fails at key confirmation, and the attempt is over (a new attempt needs a new connection and a new PSK).
    /// </summary>
    /// <returns>False when no PIN is expected now.</returns>
    public bool SubmitPin(OspPsk pin, TimeSpan now)
    {
        ArgumentNullException.ThrowIfNull(pin);
        if (State != OspAuthState.AwaitingPin) return false;
        byte[] pw = pin.ToPasswordBytes();
        try
        {
            _spake = Spake2.Create(_options.Suite, Spake2Role.Bob, pw, _identityA, _identityB, _options.Random);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pw);
        }

        if (!_spake.TryProcessPeerShare(_peerShare, out _))
        {
            Fail(OspAuthFailure.InvalidShare, "the presenter's SPAKE2 share is not a valid group element", AuthStatusResult.ProofInvalid);
            return true;
        }

        _transmit.Enqueue(new AuthSpake2Handshake
        {
            InitiationToken = new AuthInitiationToken { Token = _options.AuthToken },
            PskStatus = AuthSpake2PskStatus.PskInput,
            PublicValue = _spake.PublicShare.ToArray(),
        });
        _transmit.Enqueue(OwnConfirmation());
        Enter(OspAuthState.AwaitingConfirmation, now + _options.StepTimeout);
        return true;
    }

    /// <summary>Parses and submits a typed PIN (dashes and spaces ignored).</summary>
    /// <returns>False when the text is not a PIN (the prompt may ask again) or no PIN is expected now.</returns>
    public bool SubmitPin(string pinText, TimeSpan now) => OspPsk.TryParse(pinText, out var pin) && SubmitPin(pin, now);

    /// <summary>Our user dismissed the PIN prompt: fails with auth-status <c>secret-unknown</c>.</summary>
    public void CancelPinEntry(TimeSpan now)
    {
        _ = now;
        if (State == OspAuthState.AwaitingPin)
        {
            Fail(OspAuthFailure.PinEntryCancelled, "PIN entry was cancelled", AuthStatusResult.SecretUnknown);
        }
    }

    /// <summary>Ends a running authentication from outside (connection closed, host gave up); queues no message.</summary>
    public void Abort(OspAuthFailure reason, string message)
    {
        if (!IsCompleted && reason != OspAuthFailure.None) Fail(reason, message, null);
    }

    /// <summary>Applies timeouts; call at <see cref="NextDeadline"/>.</summary>
    public void HandleDeadline(TimeSpan now)
    {
        if (NextDeadline is not { } deadline || now < deadline) return;
        if (now >= _overallDeadline)
        {
            Fail(OspAuthFailure.Timeout, $"authentication did not finish within {_options.Timeout.TotalSeconds:0.#} s", AuthStatusResult.Timeout);
        }
        else if (State == OspAuthState.AwaitingPin)
        {
            Fail(OspAuthFailure.PinEntryTimeout, $"the PIN was not entered within {_options.PinEntryTimeout.TotalSeconds:0.#} s", AuthStatusResult.ValidationTookTooLong);
        }
        else
        {
            Fail(OspAuthFailure.Timeout, $"the peer sent nothing while {State}", AuthStatusResult.Timeout);
        }
    }

    /// <summary>The next message to send (in order, each on its own stream).</summary>
    public bool TryPollTransmit(out IOspMessage message) => _transmit.TryDequeue(out message!);

    /// <summary>The next event.</summary>
    public bool TryPollEvent(out OspAuthEvent authEvent) => _events.TryDequeue(out authEvent!);

    /// <summary>Zeroes the SPAKE2 secrets.</summary>
    public void Dispose()
    {
        _spake?.Dispose();
        _spake = null;
    }

    private void OnCapabilities(AuthCapabilities caps, TimeSpan now)
    {
        if (_peerCapabilities is not null)
        {
            Fail(OspAuthFailure.UnexpectedMessage, "a second auth-capabilities", AuthStatusResult.UnknownError);
            return;
        }

        if (caps.PskEaseOfInput > 100)
        {
            Fail(OspAuthFailure.IncompatibleCapabilities, $"psk-ease-of-input {caps.PskEaseOfInput} is out of 0..100", AuthStatusResult.UnknownError);
            return;
        }

        _peerCapabilities = caps;
        AuthCapabilities own = _options.Capabilities;
        bool weArePresenter = own.PskEaseOfInput < caps.PskEaseOfInput || (own.PskEaseOfInput == caps.PskEaseOfInput && _options.IsAdvertiser);
        AuthCapabilities consumer = weArePresenter ? caps : own;
        if (consumer.PskEaseOfInput == 0 && consumer.PskInputMethods.Count == 0)
        {
            Fail(OspAuthFailure.IncompatibleCapabilities, "neither agent can enter a PSK", AuthStatusResult.UnknownError);
            return;
        }

        Role = weArePresenter ? OspAuthRole.Presenter : OspAuthRole.Consumer;
        _events.Enqueue(new OspAuthRoleDecided(Role.Value));
        if (_options.IsAdvertiser)
        {
            Enter(OspAuthState.AwaitingHandshake, now + _options.StepTimeout);
        }
        else if (weArePresenter)
        {
            PresentAndSendShare(now);
        }
        else
        {
            _transmit.Enqueue(new AuthSpake2Handshake
            {
                InitiationToken = new AuthInitiationToken { Token = _options.AuthToken },
                PskStatus = AuthSpake2PskStatus.PskNeedsPresentation,
                PublicValue = ReadOnlyMemory<byte>.Empty,
            });
            Enter(OspAuthState.AwaitingHandshake, now + _options.StepTimeout);
        }

        if (_stashedHandshake is { } early && !IsCompleted)
        {
            _stashedHandshake = null;
            OnHandshake(early, now);
        }
    }

    private void OnHandshake(AuthSpake2Handshake handshake, TimeSpan now)
    {
        if (State == OspAuthState.AwaitingCapabilities)
        {
            // Each message has its own stream: the peer's handshake may overtake its auth-capabilities.
            if (_stashedHandshake is not null)
            {
                Fail(OspAuthFailure.UnexpectedMessage, "a second auth-spake2-handshake before auth-capabilities", AuthStatusResult.UnknownError);
                return;
            }

            _stashedHandshake = handshake;
            return;
        }

        if (!CheckToken(handshake.InitiationToken.Token))
        {
            return;
        }

        bool first = !_receivedHandshake;
        _receivedHandshake = true;
        AuthSpake2PskStatus status = handshake.PskStatus;
        bool presenter = Role == OspAuthRole.Presenter;
        if (State == OspAuthState.AwaitingHandshake && first && presenter && status == AuthSpake2PskStatus.PskNeedsPresentation)
        {
            PresentAndSendShare(now);
        }
        else if (State == OspAuthState.AwaitingHandshake && first && !presenter && status == AuthSpake2PskStatus.PskShown)
        {
            if (!TakeShare(handshake.PublicValue)) return;
            TimeSpan deadline = now + _options.PinEntryTimeout;
            _events.Enqueue(new OspAuthNeedPin(deadline < _overallDeadline ? deadline : _overallDeadline));
            Enter(OspAuthState.AwaitingPin, deadline);
        }
        else if (State == OspAuthState.AwaitingShare && presenter && status == AuthSpake2PskStatus.PskInput)
        {
            if (!TakeShare(handshake.PublicValue)) return;
            if (!_spake!.TryProcessPeerShare(_peerShare, out _))
            {
                Fail(OspAuthFailure.InvalidShare, "the consumer's SPAKE2 share is not a valid group element", AuthStatusResult.ProofInvalid);
                return;
            }

            _transmit.Enqueue(OwnConfirmation());
            Enter(OspAuthState.AwaitingConfirmation, now + _options.StepTimeout);
            if (_stashedConfirmation is { } early)
            {
                _stashedConfirmation = null;
                OnConfirmation(early);
            }
        }
        else
        {
            Fail(OspAuthFailure.UnexpectedMessage, $"an auth-spake2-handshake ({status}) while {State}", AuthStatusResult.UnknownError);
        }
    }

    private bool CheckToken(string? token)
    {
        string? expected = _options.AuthToken;
        if (_options.IsAdvertiser && !_receivedHandshake && token is null)
        {
            // The listener sends the first handshake; it must carry our at. Dropped, unanswered.
            Fail(OspAuthFailure.MissingAuthToken, "the first auth-spake2-handshake lacks the auth-initiation token", null);
            return false;
        }

        if (token is not null && expected is not null &&
            !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(expected)))
        {
            Fail(OspAuthFailure.InvalidAuthToken, "an auth-spake2-handshake carries a wrong auth-initiation token", null);
            return false;
        }

        return true;
    }

    private bool TakeShare(ReadOnlyMemory<byte> share)
    {
        if (share.IsEmpty || share.Length > MaxShareLength)
        {
            Fail(OspAuthFailure.InvalidShare, $"a SPAKE2 share of {share.Length} bytes", AuthStatusResult.ProofInvalid);
            return false;
        }

        _peerShare = share.ToArray();
        return true;
    }

    private void PresentAndSendShare(TimeSpan now)
    {
        int bits = Math.Max(OspPsk.ClampEntropyBits(_options.Capabilities.PskMinBitsOfEntropy), OspPsk.ClampEntropyBits(_peerCapabilities!.PskMinBitsOfEntropy));
        OspPsk pin = OspPsk.Generate(bits, _options.Random);
        byte[] pw = pin.ToPasswordBytes();
        try
        {
            _spake = Spake2.Create(_options.Suite, Spake2Role.Alice, pw, _identityA, _identityB, _options.Random);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pw);
        }

        _events.Enqueue(new OspAuthShowPin(pin));
        _transmit.Enqueue(new AuthSpake2Handshake
        {
            InitiationToken = new AuthInitiationToken { Token = _options.AuthToken },
            PskStatus = AuthSpake2PskStatus.PskShown,
            PublicValue = _spake.PublicShare.ToArray(),
        });
        Enter(OspAuthState.AwaitingShare, now + _options.PinEntryTimeout);
    }

    private void OnConfirmation(AuthSpake2Confirmation confirmation)
    {
        if (State == OspAuthState.AwaitingShare && _stashedConfirmation is null)
        {
            // The consumer sends psk-input then its confirmation on separate streams: they may arrive swapped.
            _stashedConfirmation = confirmation;
            return;
        }

        if (State != OspAuthState.AwaitingConfirmation)
        {
            Fail(OspAuthFailure.UnexpectedMessage, $"an auth-spake2-confirmation while {State}", AuthStatusResult.UnknownError);
            return;
        }

        // 64-byte field: the 32-byte HMAC (constant-time compare) and 32 zero bytes (docs/spake2.md, decision 7).
        if (!_spake!.TryVerifyPeerOspConfirmationField(confirmation.ConfirmationValue.Span, out _))
        {
            Fail(OspAuthFailure.ProofInvalid, "the peer's key confirmation does not verify (wrong PIN or tampered handshake)", AuthStatusResult.ProofInvalid);
            return;
        }

        _transmit.Enqueue(new AuthStatus { Result = AuthStatusResult.Authenticated });
        _spake.Dispose();
        _spake = null;
        State = OspAuthState.Authenticated;
        _stepDeadline = null;
        _events.Enqueue(new OspAuthAuthenticated(_options.RemoteFingerprint));
    }

    private void OnStatus(AuthStatus status)
    {
        // auth-status is informational: "authenticated" from the peer proves nothing; anything else ends the attempt.
        if (status.Result != AuthStatusResult.Authenticated)
        {
            Fail(OspAuthFailure.PeerRejected, $"the peer reported auth-status {status.Result}", null);
        }
    }

    private AuthSpake2Confirmation OwnConfirmation() => new() { ConfirmationValue = _spake!.GetOspConfirmationField() };

    private void Enter(OspAuthState state, TimeSpan stepDeadline)
    {
        State = state;
        _stepDeadline = stepDeadline;
    }

    private void Fail(OspAuthFailure reason, string message, AuthStatusResult? status)
    {
        if (status is { } result)
        {
            _transmit.Enqueue(new AuthStatus { Result = result });
        }

        _spake?.Dispose();
        _spake = null;
        _stashedHandshake = null;
        _stashedConfirmation = null;
        State = OspAuthState.Failed;
        Failure = reason;
        _stepDeadline = null;
        _events.Enqueue(new OspAuthFailed(reason, message));
    }

    private static byte[] DecodeFingerprint(string fingerprint, string name)
    {
        ArgumentNullException.ThrowIfNull(fingerprint, name);
        var bytes = new byte[33];
        if (!Convert.TryFromBase64String(fingerprint, bytes, out int written) || written != 32)
        {
            throw new ArgumentException("an agent fingerprint is base64 of 32 bytes", name);
        }

        return bytes[..32];
    }
}
