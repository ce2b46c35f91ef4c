namespace OspBridge.WebRtc;

/// <summary>Error codes of the WebRTC layer (SDP, STUN/ICE, SCTP, data channels, peer connection).</summary>
public enum WebRtcError
{
    /// <summary>An unspecified internal error.</summary>
    InternalError = 0,
    /// <summary>Input from the network or the application (SDP, STUN, SCTP) was malformed.</summary>
    Malformed,
    /// <summary>A configured limit (length, count, size) would be exceeded.</summary>
    LimitExceeded,
    /// <summary>The operation is invalid in the current state (e.g. setting an answer without an offer).</summary>
    InvalidState,
    /// <summary>The session description is well formed but not acceptable (missing ICE credentials, fingerprint...).</summary>
    InvalidDescription,
    /// <summary>ICE failed: no candidate pair worked, or consent expired.</summary>
    IceFailed,
    /// <summary>The peer connection or channel was closed.</summary>
    Closed,
    /// <summary>The operation timed out.</summary>
    Timeout,
    /// <summary>The message is larger than the peer's max-message-size.</summary>
    MessageTooLarge,
    /// <summary>The DTLS transport failed (see the inner CryptoException).</summary>
    DtlsFailed,
    /// <summary>The SCTP association failed or was aborted.</summary>
    SctpFailed,
    /// <summary>An argument was out of range or otherwise invalid.</summary>
    InvalidArgument,
    /// <summary>The peer aborted the association.</summary>
    Aborted,
    /// <summary>The send buffer is full; wait for the buffered amount to drop.</summary>
    SendBufferFull,
    /// <summary>No free stream id (data channel id) is available.</summary>
    NoStreamAvailable,
    /// <summary>The peer violated the protocol.</summary>
    ProtocolViolation,
}

/// <summary>The one exception type of OspBridge.WebRtc; <see cref="Error"/> says what went wrong.</summary>
public sealed class WebRtcException : Exception
{
    /// <summary>Creates an exception with an error code and message.</summary>
    public WebRtcException(WebRtcError error, string message, Exception? inner = null) : base(message, inner) => Error = error;

    /// <summary>What went wrong.</summary>
    public WebRtcError Error { get; }
}
