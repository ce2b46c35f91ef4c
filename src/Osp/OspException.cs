namespace OspBridge.Osp;

/// <summary>What went wrong in an Open Screen Protocol operation (<see cref="OspException.Error"/>).</summary>
public enum OspError
{
    /// <summary>An unexpected failure inside this library.</summary>
    InternalError = 0,

    /// <summary>The peer's certificate does not carry the agent fingerprint we pinned (TXT <c>fp</c>).</summary>
    FingerprintMismatch,

    /// <summary>The peer did not answer in time (connection handshake, idle timeout, or a response we waited for).</summary>
    Timeout,

    /// <summary>The peer broke the protocol: a malformed, oversized or unexpected message, a missing agent certificate.</summary>
    ProtocolError,

    /// <summary>The peer sent a message type this agent does not know (closed with application error 404).</summary>
    UnknownMessageType,

    /// <summary>The peer refused the connection (or the TLS handshake with our certificate).</summary>
    Refused,

    /// <summary>The connection is closed (by either side); <see cref="OspException.ApplicationErrorCode"/> holds the close code when known.</summary>
    Closed,

    /// <summary>The connection could not be established or broke at the transport level (unreachable, handshake failure, transport error).</summary>
    ConnectionFailed,

    /// <summary>No (trusted) peer matches the given name, id or fingerprint.</summary>
    PeerNotFound,

    /// <summary>Several peers match the given name or fingerprint prefix; the message lists them.</summary>
    AmbiguousPeer,

    /// <summary>Persisted OSP state (the trust store) is corrupt or truncated.</summary>
    CorruptState,

    /// <summary>Persisted OSP state is exposed to other users (group/world-writable) and was refused.</summary>
    InsecureState,

    /// <summary>
    /// We trust the peer but it no longer trusts us (it revoked us): it asked for PIN pairing on a connection we
    /// admitted from our trust store. Pair again to reconnect.
    /// </summary>
    NotTrustedByPeer,
}

/// <summary>
/// The one exception type of the OSP layer (agent connections, discovery, LAN signaling). Transport failures
/// are kept as <see cref="Exception.InnerException"/> (a <c>QuicException</c>, a <c>CborException</c>, …);
/// cancellation through a <see cref="CancellationToken"/> still raises <see cref="OperationCanceledException"/>.
/// </summary>
public sealed class OspException : Exception
{
    /// <summary>Creates an exception.</summary>
    public OspException(OspError error, string message, Exception? innerException = null, long? applicationErrorCode = null)
        : base(message, innerException)
    {
        Error = error;
        ApplicationErrorCode = applicationErrorCode;
    }

    /// <summary>What went wrong.</summary>
    public OspError Error { get; }

    /// <summary>The QUIC application error code the connection was closed with, when there is one (404 unknown type, 400 protocol error, …).</summary>
    public long? ApplicationErrorCode { get; }
}
