using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Packets;

/// <summary>Long-header packet types of QUIC v1 (RFC 9000 §17.2).</summary>
internal enum LongPacketType : byte
{
    Initial = 0,
    ZeroRtt = 1,
    Handshake = 2,
    Retry = 3,
}

/// <summary>
/// The unprotected parts of a packet header located in a datagram, as offsets (so callers can remove
/// header protection in place). Long header (RFC 9000 §17.2):
/// <code>
/// 1 1 T T x x x x | Version (32) | DCID Len (8) | DCID | SCID Len (8) | SCID | type-specific...
///   Initial:   Token Length (i) | Token | Length (i) | Packet Number (8..32) | Payload
///   Handshake: Length (i) | Packet Number | Payload;   Retry: Retry Token | Integrity Tag (128)
/// </code>
/// Short header (§17.3): <c>0 1 S R R K P P | DCID (known length) | Packet Number | Payload</c>.
/// Version negotiation (§17.2.1): long form with Version 0, then a list of 32-bit versions.
/// </summary>
internal struct PacketHeader
{
    public const uint Version1 = 0x00000001;
    public const int MaxConnectionIdLength = 20;

    public byte FirstByte;
    public bool IsLong;
    public LongPacketType Type;
    public uint Version;
    public int DcidOffset, DcidLength, ScidOffset, ScidLength;
    public int TokenOffset, TokenLength;
    /// <summary>Offset of the (protected) packet number.</summary>
    public int PnOffset;
    /// <summary>Total bytes of this packet in the datagram (long headers: up to the end of Length; short: rest of the datagram).</summary>
    public int PacketLength;

    public readonly bool IsVersionNegotiation => IsLong && Version == 0;

    /// <summary>
    /// Parses the invariant and version-1 header fields of the packet at the start of <paramref name="data"/>.
    /// False on malformed or truncated input (the rest of the datagram must then be dropped).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> data, int shortDcidLength, out PacketHeader h)
    {
        h = default;
        var r = new QuicReader(data);
        if (!r.TryReadByte(out byte first)) return false;
        h.FirstByte = first;
        if ((first & 0x80) == 0)
        {
            if (data.Length < 1 + shortDcidLength) return false;
            h.DcidOffset = 1;
            h.DcidLength = shortDcidLength;
            h.PnOffset = 1 + shortDcidLength;
            h.PacketLength = data.Length;
            return true;
        }
        h.IsLong = true;
        if (!r.TryReadUInt32(out h.Version)) return false;
        if (!r.TryReadByte(out byte dl) || dl > 255) return false;
        h.DcidOffset = r.Position; h.DcidLength = dl;
        if (!r.TryReadBytes(dl, out _)) return false;
        if (!r.TryReadByte(out byte sl)) return false;
        h.ScidOffset = r.Position; h.ScidLength = sl;
        if (!r.TryReadBytes(sl, out _)) return false;
        if (h.Version == 0)
        {
            h.PacketLength = data.Length;
            return true;
        }
        if (h.Version != Version1)
        {
            h.PacketLength = data.Length;
            return true; // unknown version: caller may send version negotiation
        }
        if (dl > MaxConnectionIdLength || sl > MaxConnectionIdLength) return false;
        h.Type = (LongPacketType)((first >> 4) & 3);
        if (h.Type == LongPacketType.Retry)
        {
            h.TokenOffset = r.Position;
            h.TokenLength = data.Length - r.Position - 16;
            if (h.TokenLength < 0) return false;
            h.PacketLength = data.Length;
            return true;
        }
        if (h.Type == LongPacketType.Initial)
        {
            if (!r.TryReadVarint(out ulong tl) || tl > (ulong)r.Remaining) return false;
            h.TokenOffset = r.Position; h.TokenLength = (int)tl;
            r.Advance((int)tl);
        }
        if (!r.TryReadVarint(out ulong len) || len > (ulong)r.Remaining || len < 20) return false;
        h.PnOffset = r.Position;
        h.PacketLength = r.Position + (int)len;
        return true;
    }
}
