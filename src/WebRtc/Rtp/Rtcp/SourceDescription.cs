using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// SDES: source description (RFC 3550 §6.5), PT 202, SC = number of chunks. Each chunk is an SSRC followed by
/// items (type, length, text), ended by a zero octet and padded to a 32-bit boundary.
/// <code>
///  |V=2|P|    SC   |  PT=SDES=202  |             length            |
///  |                          SSRC/CSRC_1                          |
///  |    CNAME=1    |     length    | user and domain name        ...
///  |     END=0     |  padding to 32 bits                           |
/// </code>
/// Read with <see cref="TryRead"/>, which yields every (SSRC, item type, value); the iteration is bounded by the packet.
/// </summary>
public ref struct SourceDescription
{
    /// <summary>Item type CNAME.</summary>
    public const byte CName = 1;

    private readonly ReadOnlySpan<byte> _body;
    private readonly int _chunks;
    private int _at;
    private int _chunk;
    private uint _ssrc;
    private bool _inChunk;

    private SourceDescription(ReadOnlySpan<byte> body, int chunks)
    {
        _body = body;
        _chunks = chunks;
        _at = 0;
        _chunk = 0;
        _ssrc = 0;
        _inChunk = false;
        IsMalformed = false;
    }

    /// <summary>True when iteration stopped at a malformed chunk or item.</summary>
    public bool IsMalformed { get; private set; }

    /// <summary>Starts reading one SDES packet.</summary>
    public static bool TryCreate(ReadOnlySpan<byte> packet, out SourceDescription sdes)
    {
        sdes = default;
        if (!RtcpHeader.TryRead(packet, out var h) || h.PacketType != (byte)RtcpPacketType.SourceDescription)
            return false;
        var body = RtcpCompoundReader.WithoutPadding(h, packet[..h.Length]);
        if (body.Length < RtcpHeader.Size)
            return false;
        sdes = new SourceDescription(body.Slice(RtcpHeader.Size), h.Count);
        return true;
    }

    /// <summary>Reads the next item; false at the end.</summary>
    public bool TryRead(out uint ssrc, out byte type, out ReadOnlySpan<byte> value)
    {
        ssrc = 0;
        type = 0;
        value = default;
        while (true)
        {
            if (!_inChunk)
            {
                if (_chunk >= _chunks)
                    return false;
                if (_at + 4 > _body.Length)
                    return Malformed();
                _ssrc = BinaryPrimitives.ReadUInt32BigEndian(_body.Slice(_at));
                _at += 4;
                _inChunk = true;
            }
            if (_at >= _body.Length)
                return Malformed();
            byte t = _body[_at];
            if (t == 0)
            {
                _at = (_at + 4) & ~3; // end of chunk: skip the null octet and padding to the next word
                _inChunk = false;
                _chunk++;
                continue;
            }
            if (_at + 2 > _body.Length || _at + 2 + _body[_at + 1] > _body.Length)
                return Malformed();
            ssrc = _ssrc;
            type = t;
            value = _body.Slice(_at + 2, _body[_at + 1]);
            _at += 2 + value.Length;
            return true;
        }
    }

    private bool Malformed()
    {
        IsMalformed = true;
        _chunk = _chunks;
        _inChunk = false;
        return false;
    }

    /// <summary>Writes an SDES packet with one chunk carrying a CNAME (at most 255 octets).</summary>
    public static bool TryWriteCName(Span<byte> destination, uint ssrc, ReadOnlySpan<byte> cname, out int written)
    {
        written = 0;
        if (cname.Length > 255)
            return false;
        int body = 4 + 2 + cname.Length + 1;
        int length = RtcpHeader.Size + ((body + 3) & ~3);
        if (destination.Length < length)
            return false;
        destination[..length].Clear();
        RtcpHeader.Write(destination, 1, RtcpPacketType.SourceDescription, length);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), ssrc);
        destination[8] = CName;
        destination[9] = (byte)cname.Length;
        cname.CopyTo(destination.Slice(10));
        written = length;
        return true;
    }
}
