using System.Security.Cryptography;

namespace OspBridge.Quic.Core;

/// <summary>Settings of one sans-IO connection core (filled from the public options by the driver).</summary>
internal sealed class CoreOptions
{
    /// <summary>The process-wide system generator (thread-safe), the default of <see cref="Random"/>.</summary>
    public static readonly RandomNumberGenerator SystemRandom = RandomNumberGenerator.Create();

    public bool IsClient;
    /// <summary>Length of the connection IDs we issue (0 = zero-length CIDs; then the peer address alone identifies us).</summary>
    public int LocalCidLength = 8;
    public TimeSpan IdleTimeout = TimeSpan.FromSeconds(30);
    /// <summary>The handshake must complete within this time after it starts (0 = only the idle timeout applies).</summary>
    public TimeSpan HandshakeTimeout;
    /// <summary>Send a PING when nothing was received for this long (0 = never).</summary>
    public TimeSpan KeepAliveInterval;
    public TimeSpan InitialRtt = TimeSpan.FromMilliseconds(333);
    public TimeSpan MaxAckDelay = TimeSpan.FromMilliseconds(25);
    public int AckDelayExponent = 3;
    /// <summary>Largest UDP payload we send once the path is known to carry it (Initial datagrams are 1200).</summary>
    public int MaxDatagramSize = 1452;
    /// <summary>
    /// Largest UDP payload we accept (the max_udp_payload_size we announce) and the upper bound of Path MTU
    /// discovery (RFC 9000 §14.3); at or below <see cref="MaxDatagramSize"/>, no discovery.
    /// </summary>
    public int MaxUdpPayloadSize = 1452;
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
    /// <summary>Congestion controller (the driver maps <c>QuicConnectionOptions.CongestionControl</c>).</summary>
    public Transport.CongestionAlgorithm CongestionControl = Transport.CongestionAlgorithm.NewReno;
    /// <summary>Most bytes buffered per stream for sending before writes block.</summary>
    public int StreamSendBufferLimit = 4 << 20;
    /// <summary>Key of the stateless-reset tokens of the CIDs we issue (RFC 9000 §10.3.2); null = drawn from <see cref="Random"/>.</summary>
    public byte[]? StatelessResetKey;
    /// <summary>Initiate a key update after this many 1-RTT packets (0 = never); used by interop tests.</summary>
    public long KeyUpdateInterval;
    /// <summary>
    /// Packets sealed with one 1-RTT key before the key must change (0 = the cipher suite's RFC 9001 §6.6 limit,
    /// 2^23 for AES-GCM). A key update starts at three quarters of it; the connection closes with
    /// AEAD_LIMIT_REACHED at fifteen sixteenths if no key update was possible. Tests use tiny limits.
    /// </summary>
    public long AeadConfidentialityLimit;
    /// <summary>
    /// Received Handshake/1-RTT packets failing authentication after which the connection closes with
    /// AEAD_LIMIT_REACHED (0 = the cipher suite's RFC 9001 §6.6 limit, 2^52 for AES-GCM).
    /// </summary>
    public long AeadIntegrityLimit;
    /// <summary>
    /// Where the core's randomness comes from (connection IDs, stateless-reset keys and padding, Retry and
    /// Version Negotiation bytes); tests pass a seeded deterministic generator. QuicConnection hands the same
    /// generator to the TLS engine (QuicTlsOptions.Random: hello randoms, key shares).
    /// </summary>
    public RandomNumberGenerator Random = SystemRandom;
}
