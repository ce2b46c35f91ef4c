namespace OspBridge.WebRtc.Sctp.Parameters;

/// <summary>Parameter type codes (RFC 9260 §3.3.2-3, RFC 3758, RFC 5061, RFC 6525).</summary>
internal static class SctpParameterType
{
    public const ushort HeartbeatInfo = 1;
    public const ushort StateCookie = 7;
    public const ushort UnrecognizedParameter = 8;
    public const ushort CookiePreservative = 9;
    public const ushort SupportedAddressTypes = 12;
    public const ushort OutgoingSsnResetRequest = 13;
    public const ushort IncomingSsnResetRequest = 14;
    public const ushort SsnTsnResetRequest = 15;
    public const ushort ReconfigurationResponse = 16;
    public const ushort AddOutgoingStreamsRequest = 17;
    public const ushort AddIncomingStreamsRequest = 18;
    public const ushort Ecn = 0x8000;
    public const ushort Random = 0x8002;
    public const ushort ChunkList = 0x8003;
    public const ushort HmacAlgorithm = 0x8004;
    public const ushort SupportedExtensions = 0x8008;
    public const ushort ForwardTsnSupported = 0xC000;
}

/// <summary>Error cause codes (RFC 9260 §3.3.10).</summary>
internal static class SctpErrorCause
{
    public const ushort InvalidStreamIdentifier = 1;
    public const ushort MissingMandatoryParameter = 2;
    public const ushort StaleCookie = 3;
    public const ushort OutOfResource = 4;
    public const ushort UnrecognizedChunkType = 6;
    public const ushort InvalidMandatoryParameter = 7;
    public const ushort UnrecognizedParameters = 8;
    public const ushort NoUserData = 9;
    public const ushort CookieWhileShuttingDown = 10;
    public const ushort UserInitiatedAbort = 12;
    public const ushort ProtocolViolation = 13;
}
