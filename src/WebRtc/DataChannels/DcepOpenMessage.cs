using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace OspBridge.WebRtc.DataChannels;

/// <summary>
/// DATA_CHANNEL_OPEN (RFC 8832 §5.1), sent reliably and ordered on the new channel's stream with PPID 50.
/// <code>
///  | Message Type = 0x03 | Channel Type  |            Priority           |
///  |                    Reliability Parameter                            |
///  |         Label Length              |       Protocol Length           |
///  |                 Label (UTF-8, Label Length bytes)                   |
///  |                 Protocol (UTF-8, Protocol Length bytes)             |
/// </code>
/// </summary>
internal readonly record struct DcepOpenMessage(DataChannelType ChannelType, ushort Priority, uint ReliabilityParameter, string Label, string Protocol)
{
    public const byte MessageType = 0x03;
    public const int FixedLength = 12;

    public int Length => FixedLength + Encoding.UTF8.GetByteCount(Label) + Encoding.UTF8.GetByteCount(Protocol);

    /// <summary>Parses an OPEN message: known channel type, exact length, valid UTF-8.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out DcepOpenMessage message)
    {
        message = default;
        if (data.Length < FixedLength || data[0] != MessageType)
        {
            return false;
        }
        var type = (DataChannelType)data[1];
        if (!Enum.IsDefined(type))
        {
            return false;
        }
        int labelLength = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(8));
        int protocolLength = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(10));
        if (data.Length != FixedLength + labelLength + protocolLength)
        {
            return false;
        }
        var label = data.Slice(FixedLength, labelLength);
        var protocol = data.Slice(FixedLength + labelLength, protocolLength);
        if (!Utf8.IsValid(label) || !Utf8.IsValid(protocol))
        {
            return false;
        }
        message = new DcepOpenMessage(type, BinaryPrimitives.ReadUInt16BigEndian(data.Slice(2)), BinaryPrimitives.ReadUInt32BigEndian(data.Slice(4)),
            Encoding.UTF8.GetString(label), Encoding.UTF8.GetString(protocol));
        return true;
    }

    /// <summary>Writes the message; <paramref name="destination"/> must hold <see cref="Length"/> bytes.</summary>
    public int Write(Span<byte> destination)
    {
        destination[0] = MessageType;
        destination[1] = (byte)ChannelType;
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), Priority);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), ReliabilityParameter);
        int l = Encoding.UTF8.GetBytes(Label, destination.Slice(FixedLength));
        int p = Encoding.UTF8.GetBytes(Protocol, destination.Slice(FixedLength + l));
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(8), checked((ushort)l));
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(10), checked((ushort)p));
        return FixedLength + l + p;
    }

    public byte[] ToArray()
    {
        var b = new byte[Length];
        Write(b);
        return b;
    }
}
