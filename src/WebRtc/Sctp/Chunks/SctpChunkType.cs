namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>Chunk type codes (RFC 9260 §3.2, RFC 3758, RFC 6525).</summary>
internal static class SctpChunkType
{
    public const byte Data = 0;
    public const byte Init = 1;
    public const byte InitAck = 2;
    public const byte Sack = 3;
    public const byte Heartbeat = 4;
    public const byte HeartbeatAck = 5;
    public const byte Abort = 6;
    public const byte Shutdown = 7;
    public const byte ShutdownAck = 8;
    public const byte Error = 9;
    public const byte CookieEcho = 10;
    public const byte CookieAck = 11;
    public const byte ShutdownComplete = 14;
    public const byte ReConfig = 130;
    public const byte ForwardTsn = 192;
}
