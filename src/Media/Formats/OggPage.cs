using System.Buffers.Binary;

namespace OspBridge.Media.Formats;

/// <summary>
/// One Ogg page (RFC 3533 §6). Layout: "OggS" | version (0) | header_type (0x01 continued, 0x02 BOS, 0x04 EOS) |
/// granule_position (64-bit LE) | bitstream serial (32 LE) | page sequence (32 LE) | CRC (32 LE) | page_segments (n) |
/// segment table (n lacing values) | data (sum of lacing values). A page is at most 27 + 255 + 255·255 octets.
/// </summary>
/// <param name="HeaderType">The header_type flags.</param>
/// <param name="GranulePosition">The granule position (-1: no packet ends on this page).</param>
/// <param name="Serial">The bitstream serial number.</param>
/// <param name="Sequence">The page sequence number.</param>
/// <param name="SegmentCount">Number of lacing values.</param>
/// <param name="HeaderLength">27 + segment count: the offset of the data.</param>
/// <param name="TotalLength">Header plus data.</param>
public readonly record struct OggPage(byte HeaderType, long GranulePosition, uint Serial, uint Sequence, int SegmentCount, int HeaderLength, int TotalLength)
{
    /// <summary>The largest page: 27 + 255 + 255 × 255 octets.</summary>
    public const int MaxLength = 27 + 255 + (255 * 255);

    /// <summary>header_type bit: the first packet continues one from the previous page.</summary>
    public const byte Continued = 0x01;

    /// <summary>header_type bit: beginning of stream.</summary>
    public const byte BeginningOfStream = 0x02;

    /// <summary>header_type bit: end of stream.</summary>
    public const byte EndOfStream = 0x04;

    /// <summary>
    /// Reads one page from the start of <paramref name="data"/>. Returns false when more bytes are needed;
    /// <paramref name="valid"/> is false (and the page must be skipped by resynchronizing) when the capture pattern,
    /// version or CRC is wrong. Touches nothing on false.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out OggPage page, out bool valid)
    {
        page = default;
        valid = false;
        if (data.Length < 27)
            return false;
        if (!data.StartsWith("OggS"u8) || data[4] != 0)
        {
            page = new OggPage(0, 0, 0, 0, 0, 0, 1);
            return true; // not a page here: the caller skips to the next capture pattern
        }
        int segments = data[26];
        int headerLength = 27 + segments;
        if (data.Length < headerLength)
            return false;
        int bodyLength = 0;
        foreach (byte lace in data.Slice(27, segments))
            bodyLength += lace;
        int total = headerLength + bodyLength;
        if (data.Length < total)
            return false;
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(data[22..]);
        uint crc = OggCrc.Update(0, data[..22]);
        crc = OggCrc.Update(crc, [0, 0, 0, 0]);
        crc = OggCrc.Update(crc, data[26..total]);
        page = new OggPage(data[5], BinaryPrimitives.ReadInt64LittleEndian(data[6..]), BinaryPrimitives.ReadUInt32LittleEndian(data[14..]),
            BinaryPrimitives.ReadUInt32LittleEndian(data[18..]), segments, headerLength, crc == stored ? total : 1);
        valid = crc == stored;
        return true;
    }

    /// <summary>
    /// Writes a page with the given lacing values and data, computing the CRC. Returns false if
    /// <paramref name="destination"/> is too small or there are more than 255 lacing values.
    /// </summary>
    public static bool TryWrite(Span<byte> destination, byte headerType, long granulePosition, uint serial, uint sequence, ReadOnlySpan<byte> lacing, ReadOnlySpan<byte> body, out int written)
    {
        written = 0;
        int total = 27 + lacing.Length + body.Length;
        if (lacing.Length > 255 || destination.Length < total)
            return false;
        "OggS"u8.CopyTo(destination);
        destination[4] = 0;
        destination[5] = headerType;
        BinaryPrimitives.WriteInt64LittleEndian(destination[6..], granulePosition);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[14..], serial);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[18..], sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[22..], 0);
        destination[26] = (byte)lacing.Length;
        lacing.CopyTo(destination[27..]);
        body.CopyTo(destination[(27 + lacing.Length)..]);
        uint crc = OggCrc.Update(0, destination[..total]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[22..], crc);
        written = total;
        return true;
    }
}
