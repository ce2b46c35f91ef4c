namespace OspBridge.Quic;

/// <summary>What went wrong in a QUIC operation (values match System.Net.Quic's <c>QuicError</c>).</summary>
public enum QuicError
{
    /// <summary>No error.</summary>
    Success = 0,
    /// <summary>An internal implementation error.</summary>
    InternalError = 1,
    /// <summary>The peer closed the connection with an application error code.</summary>
    ConnectionAborted = 2,
    /// <summary>The peer aborted the stream (RESET_STREAM or STOP_SENDING) with an application error code.</summary>
    StreamAborted = 3,
    /// <summary>The handshake did not complete in time.</summary>
    ConnectionTimeout = 6,
    /// <summary>The peer refused the connection.</summary>
    ConnectionRefused = 8,
    /// <summary>No common QUIC version.</summary>
    VersionNegotiationError = 9,
    /// <summary>The connection was idle longer than the idle timeout.</summary>
    ConnectionIdle = 10,
    /// <summary>The operation was aborted locally (connection or stream closed/disposed).</summary>
    OperationAborted = 12,
    /// <summary>Another listener already uses the ALPN on this endpoint.</summary>
    AlpnInUse = 13,
    /// <summary>A QUIC transport error; see <see cref="QuicException.TransportErrorCode"/>.</summary>
    TransportError = 14,
    /// <summary>A user callback failed.</summary>
    CallbackError = 15,
}
