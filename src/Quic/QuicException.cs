namespace OspBridge.Quic;

/// <summary>The one exception type of OspBridge.Quic (shaped like System.Net.Quic's <c>QuicException</c>).</summary>
public sealed class QuicException : IOException
{
    /// <summary>Creates an exception.</summary>
    public QuicException(QuicError error, long? applicationErrorCode, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        QuicError = error;
        ApplicationErrorCode = applicationErrorCode;
    }

    /// <summary>Creates a transport-error exception.</summary>
    internal static QuicException Transport(TransportErrorCode code, string message, Exception? inner = null)
        => new(QuicError.TransportError, null, message, inner) { TransportErrorCode = (long)code };

    /// <summary>What went wrong.</summary>
    public QuicError QuicError { get; }

    /// <summary>The application error code when the peer (or we) closed/aborted with one.</summary>
    public long? ApplicationErrorCode { get; }

    /// <summary>The QUIC transport error code (RFC 9000 §20.1) when one applies.</summary>
    public long? TransportErrorCode { get; init; }
}

/// <summary>QUIC transport error codes (RFC 9000 §20.1). CRYPTO_ERROR is 0x100 + TLS alert.</summary>
public enum TransportErrorCode : long
{
    /// <summary>NO_ERROR.</summary>
    NoError = 0x0,
    /// <summary>INTERNAL_ERROR.</summary>
    InternalError = 0x1,
    /// <summary>CONNECTION_REFUSED.</summary>
    ConnectionRefused = 0x2,
    /// <summary>FLOW_CONTROL_ERROR.</summary>
    FlowControlError = 0x3,
    /// <summary>STREAM_LIMIT_ERROR.</summary>
    StreamLimitError = 0x4,
    /// <summary>STREAM_STATE_ERROR.</summary>
    StreamStateError = 0x5,
    /// <summary>FINAL_SIZE_ERROR.</summary>
    FinalSizeError = 0x6,
    /// <summary>FRAME_ENCODING_ERROR.</summary>
    FrameEncodingError = 0x7,
    /// <summary>TRANSPORT_PARAMETER_ERROR.</summary>
    TransportParameterError = 0x8,
    /// <summary>CONNECTION_ID_LIMIT_ERROR.</summary>
    ConnectionIdLimitError = 0x9,
    /// <summary>PROTOCOL_VIOLATION.</summary>
    ProtocolViolation = 0xa,
    /// <summary>INVALID_TOKEN.</summary>
    InvalidToken = 0xb,
    /// <summary>APPLICATION_ERROR.</summary>
    ApplicationError = 0xc,
    /// <summary>CRYPTO_BUFFER_EXCEEDED.</summary>
    CryptoBufferExceeded = 0xd,
    /// <summary>KEY_UPDATE_ERROR.</summary>
    KeyUpdateError = 0xe,
    /// <summary>AEAD_LIMIT_REACHED.</summary>
    AeadLimitReached = 0xf,
    /// <summary>NO_VIABLE_PATH.</summary>
    NoViablePath = 0x10,
    /// <summary>CRYPTO_ERROR base (0x100 + TLS alert).</summary>
    CryptoError = 0x100,
}
