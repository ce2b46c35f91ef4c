namespace OspBridge.Net;

/// <summary>Error codes of the networking layer (sockets, mDNS/DNS-SD, message channels, simulation).</summary>
public enum NetError
{
    /// <summary>An unspecified internal error.</summary>
    InternalError = 0,
    /// <summary>Input from the network was malformed.</summary>
    Malformed,
    /// <summary>A configured limit (length, count, depth, buffer) would be exceeded.</summary>
    LimitExceeded,
    /// <summary>The operation is invalid in the current state.</summary>
    InvalidState,
    /// <summary>The channel or socket was closed.</summary>
    Closed,
    /// <summary>The operation timed out.</summary>
    Timeout,
    /// <summary>The requested interface or address is unavailable.</summary>
    AddressUnavailable,
    /// <summary>A name was already claimed by another responder and could not be renamed.</summary>
    NameConflict,
}

/// <summary>The one exception type of OspBridge.Net; <see cref="Error"/> says what went wrong.</summary>
public sealed class NetException : Exception
{
    /// <summary>Creates an exception with an error code and message.</summary>
    public NetException(NetError error, string message, Exception? inner = null) : base(message, inner) => Error = error;

    /// <summary>What went wrong.</summary>
    public NetError Error { get; }
}
