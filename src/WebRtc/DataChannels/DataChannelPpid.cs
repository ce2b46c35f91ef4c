namespace OspBridge.WebRtc.DataChannels;

/// <summary>SCTP payload protocol identifiers of WebRTC data channels (RFC 8831 §8, RFC 8832 §8.1).</summary>
public static class DataChannelPpid
{
    /// <summary>DCEP control messages (DATA_CHANNEL_OPEN / DATA_CHANNEL_ACK).</summary>
    public const uint Dcep = 50;
    /// <summary>A UTF-8 string message.</summary>
    public const uint String = 51;
    /// <summary>Deprecated: a partial string (legacy; accepted on receive, concatenated until <see cref="String"/>).</summary>
    public const uint StringPartial = 52;
    /// <summary>A binary message.</summary>
    public const uint Binary = 53;
    /// <summary>Deprecated: a partial binary message (legacy; accepted on receive).</summary>
    public const uint BinaryPartial = 54;
    /// <summary>An empty string (carried as one 0x00 byte, which is ignored).</summary>
    public const uint StringEmpty = 56;
    /// <summary>An empty binary message (carried as one 0x00 byte, which is ignored).</summary>
    public const uint BinaryEmpty = 57;
}
