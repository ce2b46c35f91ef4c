using System.Buffers.Binary;
using OspBridge.Net.Wire;
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

    /// <summary>Bytes of the 2-byte Length field the writer reserves in long headers (filled in by the sealer).</summary>
    public const int LengthFieldSize = 2;

    /// <summary>Header bytes <see cref="Write"/> produces (including the packet number).</summary>
    public static int WrittenLength(bool isLong, bool isInitial, int dcidLength, int scidLength, int tokenLength, int pnLength)
        => isLong
            ? 1 + 4 + 1 + dcidLength + 1 + scidLength + (isInitial ? QuicVarint.GetEncodedLength((ulong)tokenLength) + tokenLength : 0) + LengthFieldSize + pnLength
            : 1 + dcidLength + pnLength;

    /// <summary>
    /// The one place packet headers are written (unprotected): a v1 long header for Initial/Handshake
    /// (<paramref name="longType"/> given; Initial carries <paramref name="token"/>; the Length field is reserved at
    /// <paramref name="lengthFieldOffset"/>) or a short header with <paramref name="keyPhase"/> (longType null;
    /// lengthFieldOffset = -1), each followed by the truncated packet number at <paramref name="pnOffset"/>.
    /// Returns the header length, or 0 when <paramref name="dest"/> is too small.
    /// </summary>
    public static int Write(Span<byte> dest, LongPacketType? longType, ReadOnlySpan<byte> dcid, ReadOnlySpan<byte> scid, ReadOnlySpan<byte> token,
        int keyPhase, ulong pn, int pnLength, out int lengthFieldOffset, out int pnOffset)
    {
        bool isInitial = longType == LongPacketType.Initial;
        int need = WrittenLength(longType is not null, isInitial, dcid.Length, scid.Length, token.Length, pnLength);
        lengthFieldOffset = -1;
        pnOffset = 0;
        if (dest.Length < need) return 0;
        int p = 0;
        if (longType is { } type)
        {
            dest[p++] = (byte)(0xc0 | ((byte)type << 4) | (pnLength - 1));
            BinaryPrimitives.WriteUInt32BigEndian(dest[p..], Version1); p += 4;
            dest[p++] = (byte)dcid.Length; dcid.CopyTo(dest[p..]); p += dcid.Length;
            dest[p++] = (byte)scid.Length; scid.CopyTo(dest[p..]); p += scid.Length;
            if (isInitial)
            {
                p += QuicVarint.Write(dest[p..], (ulong)token.Length);
                token.CopyTo(dest[p..]); p += token.Length;
            }
            lengthFieldOffset = p;
            p += LengthFieldSize;
        }
        else
        {
            dest[p++] = (byte)(0x40 | (keyPhase << 2) | (pnLength - 1));
            dcid.CopyTo(dest[p..]); p += dcid.Length;
        }
        pnOffset = p;
        PacketNumber.Write(dest[p..], pn, pnLength);
        return p + pnLength;
    }

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
