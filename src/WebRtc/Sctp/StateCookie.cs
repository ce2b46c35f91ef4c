using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OspBridge.WebRtc.Sctp;

/// <summary>
/// Our State Cookie (RFC 9260 §5.1.3): everything needed to build the association from a COOKIE ECHO, authenticated
/// with HMAC-SHA256 under a per-association random secret, with a creation time and lifetime.
/// <code>
///  | Version = 1 (1) | Flags (1): bit0 peer FORWARD-TSN, bit1 peer RE-CONFIG | Reserved (2) |
///  | Created (8, ticks of the association's monotonic clock) | Lifetime (4, ms)             |
///  | Local Tag (4) | Peer Tag (4) | Local Initial TSN (4) | Peer Initial TSN (4)             |
///  | Peer a_rwnd (4) | Peer Outbound Streams (2) | Peer Inbound Streams (2)                  |
///  | HMAC-SHA256 over all of the above (32)                                                  |
/// </code>
/// </summary>
internal readonly struct StateCookie
{
    public const int BodyLength = 44;
    public const int Length = BodyLength + 32;
    public const byte FlagPeerForwardTsn = 1;
    public const byte FlagPeerReconfig = 2;

    public byte Flags { get; init; }
    public long CreatedTicks { get; init; }
    public uint LifetimeMs { get; init; }
    public uint LocalTag { get; init; }
    public uint PeerTag { get; init; }
    public uint LocalInitialTsn { get; init; }
    public uint PeerInitialTsn { get; init; }
    public uint PeerReceiverWindow { get; init; }
    public ushort PeerOutboundStreams { get; init; }
    public ushort PeerInboundStreams { get; init; }

    public void Write(Span<byte> destination, ReadOnlySpan<byte> key)
    {
        var d = destination.Slice(0, BodyLength);
        d[0] = 1;
        d[1] = Flags;
        d[2] = 0;
        d[3] = 0;
        BinaryPrimitives.WriteInt64BigEndian(d.Slice(4), CreatedTicks);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(12), LifetimeMs);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(16), LocalTag);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(20), PeerTag);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(24), LocalInitialTsn);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(28), PeerInitialTsn);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(32), PeerReceiverWindow);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(36), PeerOutboundStreams);
        BinaryPrimitives.WriteUInt16BigEndian(d.Slice(38), PeerInboundStreams);
        BinaryPrimitives.WriteUInt32BigEndian(d.Slice(40), 0);
        HMACSHA256.HashData(key, d, destination.Slice(BodyLength, 32));
    }

    /// <summary>Verifies length, version and MAC (constant time) and reads the cookie. Does not check the lifetime.</summary>
    public static bool TryRead(ReadOnlySpan<byte> cookie, ReadOnlySpan<byte> key, out StateCookie result)
    {
        result = default;
        if (cookie.Length != Length || cookie[0] != 1)
        {
            return false;
        }
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(key, cookie.Slice(0, BodyLength), mac);
        if (!CryptographicOperations.FixedTimeEquals(mac, cookie.Slice(BodyLength, 32)))
        {
            return false;
        }
        result = new StateCookie
        {
            Flags = cookie[1],
            CreatedTicks = BinaryPrimitives.ReadInt64BigEndian(cookie.Slice(4)),
            LifetimeMs = BinaryPrimitives.ReadUInt32BigEndian(cookie.Slice(12)),
            LocalTag = BinaryPrimitives.ReadUInt32BigEndian(cookie.Slice(16)),
            PeerTag = BinaryPrimitives.ReadUInt32BigEndian(cookie.Slice(20)),
            LocalInitialTsn = BinaryPrimitives.ReadUInt32BigEndian(cookie.Slice(24)),
            PeerInitialTsn = BinaryPrimitives.ReadUInt32BigEndian(cookie.Slice(28)),
            PeerReceiverWindow = BinaryPrimitives.ReadUInt32BigEndian(cookie.Slice(32)),
            PeerOutboundStreams = BinaryPrimitives.ReadUInt16BigEndian(cookie.Slice(36)),
            PeerInboundStreams = BinaryPrimitives.ReadUInt16BigEndian(cookie.Slice(38)),
        };
        return true;
    }
}
