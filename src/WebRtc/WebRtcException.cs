namespace OspBridge.WebRtc;

/// <summary>Error codes of the WebRTC layer (SDP, ICE, DTLS transport, SCTP, data channels).</summary>
public enum WebRtcError
{
    /// <summary>An unspecified internal error.</summary>
    InternalError = 0,
    /// <summary>Input from the network was malformed.</summary>
    Malformed,
    /// <summary>A configured limit (length, count, buffer, message size) would be exceeded.</summary>
    LimitExceeded,
    /// <summary>The operation is invalid in the current state.</summary>
    InvalidState,
    /// <summary>An argument was out of range or otherwise invalid.</summary>
    InvalidArgument,
    /// <summary>The association, transport or channel was closed.</summary>
    Closed,
    /// <summary>The peer aborted the association.</summary>
    Aborted,
    /// <summary>The operation timed out (e.g. too many retransmissions).</summary>
    Timeout,
    /// <summary>A message is larger than the peer's or our maximum message size.</summary>
    MessageTooLarge,
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
