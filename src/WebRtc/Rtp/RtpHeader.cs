using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp;

/// <summary>
/// The RTP fixed header (RFC 3550 §5.1) with its CSRC list and header extension located, as read from or
/// written to a packet. Reading slices nothing out: use <see cref="Payload"/>, <see cref="ExtensionData"/> and
/// <see cref="Csrc"/> on the same packet span.
/// <code>
///  0                   1                   2                   3
///  |V=2|P|X|  CC   |M|     PT      |       sequence number         |
///  |                           timestamp                           |
///  |           synchronization source (SSRC) identifier            |
///  |            contributing source (CSRC) identifiers (0..15)     |
///  |  defined by profile (0xBEDE...) |           length (words)    |   when X
///  |                        header extension                       |
/// </code>
/// </summary>
public readonly record struct RtpHeader
{
    /// <summary>Length of the fixed part of the header.</summary>
    public const int FixedLength = 12;

    /// <summary>The padding bit (P): the packet ends with padding whose last octet counts it.</summary>
    public bool Padding { get; init; }

    /// <summary>The marker bit (M); for video the last packet of a frame.</summary>
    public bool Marker { get; init; }

    /// <summary>Payload type, 0–127.</summary>
    public byte PayloadType { get; init; }

    /// <summary>Sequence number.</summary>
    public ushort SequenceNumber { get; init; }

    /// <summary>RTP timestamp.</summary>
    public uint Timestamp { get; init; }

    /// <summary>Synchronization source.</summary>
    public uint Ssrc { get; init; }

    /// <summary>Number of CSRC identifiers (0–15).</summary>
    public int CsrcCount { get; init; }

    /// <summary>True when a header extension is present (X bit).</summary>
    public bool HasExtension { get; init; }

    /// <summary>The 16-bit "defined by profile" value of the extension (0xBEDE one-byte, 0x100x two-byte).</summary>
    public ushort ExtensionProfile { get; init; }

    /// <summary>Length of the extension data in octets (a multiple of 4).</summary>
    public int ExtensionLength { get; init; }

    /// <summary>Header length in octets: fixed part, CSRCs and extension.</summary>
    public int HeaderLength => FixedLength + 4 * CsrcCount + (HasExtension ? 4 + ExtensionLength : 0);

    /// <summary>Number of padding octets at the end of the packet (0 when <see cref="Padding"/> is clear).</summary>
    public int PaddingLength { get; init; }

    /// <summary>
    /// Parses a header. Returns false (and leaves <paramref name="header"/> default) when the packet is not
    /// version 2, is shorter than its header, or its padding count is zero or runs into the header.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out RtpHeader header)
    {
        header = default;
        if (packet.Length < FixedLength || (packet[0] >> 6) != 2)
            return false;
        int cc = packet[0] & 0x0f;
        bool x = (packet[0] & 0x10) != 0;
        bool p = (packet[0] & 0x20) != 0;
        int at = FixedLength + 4 * cc;
        if (packet.Length < at)
            return false;
        ushort profile = 0;
        int extLength = 0;
        if (x)
        {
            if (packet.Length < at + 4)
                return false;
            profile = BinaryPrimitives.ReadUInt16BigEndian(packet.Slice(at));
            extLength = 4 * BinaryPrimitives.ReadUInt16BigEndian(packet.Slice(at + 2));
            at += 4;
            if (packet.Length - at < extLength)
                return false;
            at += extLength;
        }
        int pad = 0;
        if (p)
        {
            pad = packet[^1];
            if (pad == 0 || packet.Length - at < pad)
                return false;
        }
        header = new RtpHeader
        {
            Padding = p,
            HasExtension = x,
            CsrcCount = cc,
            Marker = (packet[1] & 0x80) != 0,
            PayloadType = (byte)(packet[1] & 0x7f),
            SequenceNumber = BinaryPrimitives.ReadUInt16BigEndian(packet.Slice(2)),
            Timestamp = BinaryPrimitives.ReadUInt32BigEndian(packet.Slice(4)),
            Ssrc = BinaryPrimitives.ReadUInt32BigEndian(packet.Slice(8)),
            ExtensionProfile = profile,
            ExtensionLength = extLength,
            PaddingLength = pad,
        };
        return true;
    }

    /// <summary>True when the first octet looks like RTP/RTCP (version 2), as RFC 7983 demultiplexing needs (128–191).</summary>
    public static bool IsRtpOrRtcp(ReadOnlySpan<byte> datagram) => datagram.Length >= 1 && datagram[0] is >= 128 and <= 191;

    /// <summary>True when an RTP-or-RTCP datagram is RTCP (RFC 5761 §4: payload type 64–95 with the marker bit, i.e. octet 1 in 192–223).</summary>
    public static bool IsRtcp(ReadOnlySpan<byte> datagram) => datagram.Length >= 2 && datagram[1] is >= 192 and <= 223;

    /// <summary>The payload of <paramref name="packet"/> (between header and padding).</summary>
    public ReadOnlySpan<byte> Payload(ReadOnlySpan<byte> packet) => packet[HeaderLength..(packet.Length - PaddingLength)];

    /// <summary>The extension data (after the 4-octet extension header) of <paramref name="packet"/>.</summary>
    public ReadOnlySpan<byte> ExtensionData(ReadOnlySpan<byte> packet) =>
        HasExtension ? packet.Slice(FixedLength + 4 * CsrcCount + 4, ExtensionLength) : default;

    /// <summary>CSRC number <paramref name="index"/> of <paramref name="packet"/>.</summary>
    public uint Csrc(ReadOnlySpan<byte> packet, int index) =>
        (uint)index < (uint)CsrcCount ? BinaryPrimitives.ReadUInt32BigEndian(packet.Slice(FixedLength + 4 * index)) : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>
    /// Writes this header (fixed part, <paramref name="csrcs"/>, and — when <paramref name="extensionData"/> is not
    /// empty — the extension with <see cref="ExtensionProfile"/>; the data must be a multiple of 4 octets, see
    /// <see cref="RtpExtensionWriter"/>). <see cref="Padding"/>, <see cref="CsrcCount"/>, <see cref="HasExtension"/>
    /// and the lengths are taken from the arguments, not from this value. Returns false when it does not fit.
    /// </summary>
    public bool TryWrite(Span<byte> destination, ReadOnlySpan<uint> csrcs, ReadOnlySpan<byte> extensionData, out int written)
    {
        written = 0;
        if (csrcs.Length > 15 || (extensionData.Length & 3) != 0 || extensionData.Length > 4 * 0xffff || PayloadType > 127)
            return false;
        int length = FixedLength + 4 * csrcs.Length + (extensionData.IsEmpty ? 0 : 4 + extensionData.Length);
        if (destination.Length < length)
            return false;
        destination[0] = (byte)(0x80 | (extensionData.IsEmpty ? 0 : 0x10) | csrcs.Length);
        destination[1] = (byte)((Marker ? 0x80 : 0) | PayloadType);
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), SequenceNumber);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), Timestamp);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(8), Ssrc);
        int at = FixedLength;
        foreach (uint c in csrcs)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(at), c);
            at += 4;
        }
        if (!extensionData.IsEmpty)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(at), ExtensionProfile);
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(at + 2), (ushort)(extensionData.Length / 4));
            extensionData.CopyTo(destination.Slice(at + 4));
        }
        written = length;
        return true;
    }

    /// <summary>Writes a header with no CSRCs and no extension.</summary>
    public bool TryWrite(Span<byte> destination, out int written) => TryWrite(destination, default, default, out written);
}
