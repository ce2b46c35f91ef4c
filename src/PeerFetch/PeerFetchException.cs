namespace OspBridge.PeerFetch;

/// <summary>What went wrong in PeerFetch.</summary>
public enum PeerFetchError
{
    /// <summary>The peer broke the protocol (bad frame, bad state, flow-control violation).</summary>
    Protocol,
    /// <summary>The request was reset (cancelled or refused) by the peer.</summary>
    StreamReset,
    /// <summary>The peer sent GOAWAY; no new requests can be started on this channel.</summary>
    GoingAway,
    /// <summary>The channel closed.</summary>
    ChannelClosed,
    /// <summary>The device speaks only v1 and the request cannot be expressed in v1.</summary>
    NotSupportedByV1,
    /// <summary>A size or count limit was exceeded.</summary>
    LimitExceeded,
    /// <summary>No answer in time.</summary>
    Timeout,
}

/// <summary>The one exception type of the PeerFetch layer.</summary>
public sealed class PeerFetchException : Exception
{
    /// <summary>Creates an exception.</summary>
    public PeerFetchException(PeerFetchError error, string message, Exception? innerException = null)
        : base(message, innerException) => Error = error;

    /// <summary>The error code.</summary>
    public PeerFetchError Error { get; }
}
