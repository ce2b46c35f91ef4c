using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// XR: extended report (RFC 3611 §2), PT 207: a header, the sender's SSRC, then report blocks, each with a 4-octet
/// block header whose length counts the 32-bit words that follow it.
/// <code>
///  |V=2|P|reserved |   PT=XR=207   |             length            |
///  |                              SSRC                             |
///  |      BT       | type-specific |         block length          |
///  :             type-specific block contents                      :
/// </code>
/// Blocks are read with <see cref="Blocks"/>; the ones we use are <see cref="ReceiverReferenceTime"/> (BT 4) and
/// <see cref="DelaySinceLastReceiverReport"/> (BT 5).
/// </summary>
public readonly ref struct ExtendedReport
{
    /// <summary>Octets before the first block (RTCP header + SSRC).</summary>
    public const int HeaderSize = 8;

    /// <summary>Octets of a block header.</summary>
    public const int BlockHeaderSize = 4;

    private readonly ReadOnlySpan<byte> _packet;

    private ExtendedReport(ReadOnlySpan<byte> packet) => _packet = packet;

    /// <summary>SSRC of the packet's sender.</summary>
    public uint Ssrc => BinaryPrimitives.ReadUInt32BigEndian(_packet.Slice(4));

    /// <summary>The report blocks.</summary>
    public ExtendedReportBlockReader Blocks => new(_packet[HeaderSize..]);

    /// <summary>Parses one XR packet (padding removed); false when it is not an XR or is shorter than its header.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out ExtendedReport report)
    {
        report = default;
        if (!RtcpHeader.TryRead(packet, out var h) || h.PacketType != (byte)RtcpPacketType.ExtendedReport || h.Length < HeaderSize)
            return false;
        var body = RtcpCompoundReader.WithoutPadding(h, packet[..h.Length]);
        if (body.Length < HeaderSize)
            return false;
        report = new ExtendedReport(body);
        return true;
    }

    /// <summary>Writes the XR header for a packet of <paramref name="length"/> octets (a multiple of 4) into <paramref name="destination"/>.</summary>
    internal static void WriteHeader(Span<byte> destination, uint ssrc, int length)
    {
        RtcpHeader.Write(destination, 0, RtcpPacketType.ExtendedReport, length);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(4), ssrc);
    }

    /// <summary>Writes a block header.</summary>
    internal static void WriteBlockHeader(Span<byte> destination, byte blockType, int wordsAfterHeader)
    {
        destination[0] = blockType;
        destination[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), (ushort)wordsAfterHeader);
    }
}

/// <summary>
/// Iterates the report blocks of an <see cref="ExtendedReport"/>. Each block is returned whole (block header included);
/// a block whose length runs past the packet stops the walk with <see cref="IsMalformed"/> set.
/// </summary>
public ref struct ExtendedReportBlockReader
{
    private readonly ReadOnlySpan<byte> _blocks;
    private int _at;

    internal ExtendedReportBlockReader(ReadOnlySpan<byte> blocks)
    {
        _blocks = blocks;
        _at = 0;
        IsMalformed = false;
    }

    /// <summary>True when the walk stopped at a block that does not fit.</summary>
    public bool IsMalformed { get; private set; }

    /// <summary>Reads the next block; false at the end or at a malformed block.</summary>
    public bool TryRead(out byte blockType, out ReadOnlySpan<byte> block)
    {
        blockType = 0;
        block = default;
        if (_at >= _blocks.Length)
            return false;
        var rest = _blocks[_at..];
        if (rest.Length < ExtendedReport.BlockHeaderSize)
        {
            IsMalformed = true;
            _at = _blocks.Length;
            return false;
        }
        int length = ExtendedReport.BlockHeaderSize + 4 * BinaryPrimitives.ReadUInt16BigEndian(rest.Slice(2));
        if (length > rest.Length)
        {
            IsMalformed = true;
            _at = _blocks.Length;
            return false;
        }
        blockType = rest[0];
        block = rest[..length];
        _at += length;
        return true;
    }
}
