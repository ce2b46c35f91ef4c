namespace OspBridge.Quic.Http3;

/// <summary>HTTP/3 (RFC 9114 §8.1) and QPACK (RFC 9204 §6) application error codes.</summary>
public enum Http3ErrorCode : long
{
    /// <summary>H3_NO_ERROR.</summary>
    NoError = 0x100,
    /// <summary>H3_GENERAL_PROTOCOL_ERROR.</summary>
    GeneralProtocolError = 0x101,
    /// <summary>H3_INTERNAL_ERROR.</summary>
    InternalError = 0x102,
    /// <summary>H3_STREAM_CREATION_ERROR.</summary>
    StreamCreationError = 0x103,
    /// <summary>H3_CLOSED_CRITICAL_STREAM.</summary>
    ClosedCriticalStream = 0x104,
    /// <summary>H3_FRAME_UNEXPECTED.</summary>
    FrameUnexpected = 0x105,
    /// <summary>H3_FRAME_ERROR.</summary>
    FrameError = 0x106,
    /// <summary>H3_EXCESSIVE_LOAD.</summary>
    ExcessiveLoad = 0x107,
    /// <summary>H3_ID_ERROR.</summary>
    IdError = 0x108,
    /// <summary>H3_SETTINGS_ERROR.</summary>
    SettingsError = 0x109,
    /// <summary>H3_MISSING_SETTINGS.</summary>
    MissingSettings = 0x10a,
    /// <summary>H3_REQUEST_REJECTED.</summary>
    RequestRejected = 0x10b,
    /// <summary>H3_REQUEST_CANCELLED.</summary>
    RequestCancelled = 0x10c,
    /// <summary>H3_REQUEST_INCOMPLETE.</summary>
    RequestIncomplete = 0x10d,
    /// <summary>H3_MESSAGE_ERROR.</summary>
    MessageError = 0x10e,
    /// <summary>H3_CONNECT_ERROR.</summary>
    ConnectError = 0x10f,
    /// <summary>H3_VERSION_FALLBACK.</summary>
    VersionFallback = 0x110,
    /// <summary>QPACK_DECOMPRESSION_FAILED.</summary>
    QpackDecompressionFailed = 0x200,
    /// <summary>QPACK_ENCODER_STREAM_ERROR.</summary>
    QpackEncoderStreamError = 0x201,
    /// <summary>QPACK_DECODER_STREAM_ERROR.</summary>
    QpackDecoderStreamError = 0x202,
}

/// <summary>Creates the Quic layer's exception for HTTP/3 protocol errors (the code goes in <see cref="QuicException.ApplicationErrorCode"/>).</summary>
internal static class Http3Errors
{
    public static QuicException Error(Http3ErrorCode code, string message) =>
        new(QuicError.ConnectionAborted, (long)code, $"HTTP/3 {code}: {message}");

    public static QuicException Frame(string message) => Error(Http3ErrorCode.FrameError, message);
    public static QuicException Unexpected(string message) => Error(Http3ErrorCode.FrameUnexpected, message);
    public static QuicException Message(string message) => Error(Http3ErrorCode.MessageError, message);
    public static QuicException Qpack(string message) => Error(Http3ErrorCode.QpackDecompressionFailed, message);
}
