using System.Buffers.Binary;

namespace OspBridge.Bridge.Relay;

/// <summary>
/// A ChannelData message (RFC 8656 §12.4):
/// <code>
///  0                   1                   2                   3
/// |         Channel Number        |            Length             |
/// /                       Application Data                        /
/// </code>
/// Channel numbers 0x4000-0x4FFF; over UDP the datagram may carry up to 3 padding bytes after the data.
/// </summary>
internal static class TurnChannelData
{
    public const int HeaderLength = 4;

    /// <summary>True when the first byte marks a ChannelData message (0b01: 0x40-0x7F, RFC 7983).</summary>
    public static bool IsChannelData(ReadOnlySpan<byte> datagram) => datagram.Length >= 1 && datagram[0] is >= 0x40 and <= 0x7F;

    /// <summary>Reads one ChannelData datagram; false when it is short, its length does not fit, or the channel is out of range.</summary>
    public static bool TryRead(ReadOnlySpan<byte> datagram, out ushort channel, out int dataOffset, out int dataLength)
    {
        channel = 0;
        dataOffset = HeaderLength;
        dataLength = 0;
        if (datagram.Length < HeaderLength) return false;
        channel = BinaryPrimitives.ReadUInt16BigEndian(datagram);
        if (channel is < TurnConstants.MinChannel or > TurnConstants.MaxChannel) return false;
        dataLength = BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]);
        int extra = datagram.Length - HeaderLength - dataLength;
        return extra is >= 0 and <= 3;
    }

    /// <summary>Writes a ChannelData message (no padding: UDP) and returns its length.</summary>
    public static int Write(Span<byte> dst, ushort channel, ReadOnlySpan<byte> data)
    {
        BinaryPrimitives.WriteUInt16BigEndian(dst, channel);
        BinaryPrimitives.WriteUInt16BigEndian(dst[2..], (ushort)data.Length);
        data.CopyTo(dst[HeaderLength..]);
        return HeaderLength + data.Length;
    }
}
