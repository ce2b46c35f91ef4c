namespace OspBridge.Quic.Core;

/// <summary>Settings of one sans-IO connection core (filled from the public options by the driver).</summary>
internal sealed class CoreOptions
{
    public bool IsClient;
    /// <summary>Length of the connection IDs we issue (0 = zero-length CIDs; then the peer address alone identifies us).</summary>
    public int LocalCidLength = 8;
    public TimeSpan IdleTimeout = TimeSpan.FromSeconds(30);
    public TimeSpan InitialRtt = TimeSpan.FromMilliseconds(333);
    public TimeSpan MaxAckDelay = TimeSpan.FromMilliseconds(25);
    public int AckDelayExponent = 3;
    /// <summary>Largest UDP payload we send once the path is known to carry it (Initial datagrams are 1200).</summary>
    public int MaxDatagramSize = 1452;
    public ulong InitialMaxData = 1 << 20;
    public ulong InitialMaxStreamDataBidiLocal = 256 << 10;
    public ulong InitialMaxStreamDataBidiRemote = 256 << 10;
    public ulong InitialMaxStreamDataUni = 256 << 10;
    /// <summary>Auto-tuning caps for receive windows.</summary>
    public ulong MaxConnectionWindow = 24 << 20;
    public ulong MaxStreamWindow = 16 << 20;
    public ulong MaxInboundBidiStreams = 100;
    public ulong MaxInboundUniStreams = 100;
    public int ActiveConnectionIdLimit = 4;
    /// <summary>0 = DATAGRAM frames not offered.</summary>
    public ulong MaxDatagramFrameSize;
    /// <summary>Most bytes buffered per stream for sending before writes block.</summary>
    public int StreamSendBufferLimit = 4 << 20;
    public byte[] StatelessResetKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
    /// <summary>Initiate a key update after this many 1-RTT packets (0 = never); used by interop tests.</summary>
    public long KeyUpdateInterval;
}
