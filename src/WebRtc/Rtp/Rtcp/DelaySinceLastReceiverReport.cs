using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>One DLRR sub-block: the receiver it answers, its last RRTR's NTP middle 32 bits, the delay since (1/65536 s).</summary>
/// <param name="Ssrc">SSRC of the receiver whose RRTR is answered.</param>
/// <param name="LastReceiverReport">Middle 32 bits of that RRTR's NTP timestamp (LRR).</param>
/// <param name="DelaySinceLastReceiverReport">Delay between receiving that RRTR and sending this block, in 1/65536 s (DLRR).</param>
public readonly record struct DlrrSubBlock(uint Ssrc, uint LastReceiverReport, uint DelaySinceLastReceiverReport)
{
    /// <summary>Length of a sub-block.</summary>
    public const int Size = 12;
}

/// <summary>
/// DLRR: delay since last receiver report block (RFC 3611 §4.5), XR block type 5: 12-octet sub-blocks, the block
/// length being 3 × their count. The receiver computes RTT = now − LRR − DLRR (all in 1/65536 s).
/// <code>
///  |     BT=5      |   reserved    |         block length          |
///  |                 SSRC_1 (SSRC of first receiver)               |
///  |                         last RR (LRR)                         |
///  |                   delay since last RR (DLRR)                  |
///  :                              ...                              :
/// </code>
/// </summary>
public readonly ref struct DelaySinceLastReceiverReport
{
    /// <summary>XR block type.</summary>
    public const byte BlockType = 5;

    /// <summary>Most sub-blocks written or read per block.</summary>
    public const int MaxSubBlocks = 64;

    private readonly ReadOnlySpan<byte> _block;

    private DelaySinceLastReceiverReport(ReadOnlySpan<byte> block, int count)
    {
        _block = block;
        Count = count;
    }

    /// <summary>Number of sub-blocks.</summary>
    public int Count { get; }

    /// <summary>Sub-block <paramref name="index"/>.</summary>
    public DlrrSubBlock SubBlock(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index));
        var b = _block.Slice(ExtendedReport.BlockHeaderSize + index * DlrrSubBlock.Size);
        return new DlrrSubBlock(BinaryPrimitives.ReadUInt32BigEndian(b), BinaryPrimitives.ReadUInt32BigEndian(b.Slice(4)), BinaryPrimitives.ReadUInt32BigEndian(b.Slice(8)));
    }

    /// <summary>
    /// Parses a DLRR block (as returned by <see cref="ExtendedReportBlockReader"/>); false when the block length is not a
    /// multiple of 3 words or does not match. More than <see cref="MaxSubBlocks"/> sub-blocks: only the first are read.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> block, out DelaySinceLastReceiverReport dlrr)
    {
        dlrr = default;
        if (block.Length < ExtendedReport.BlockHeaderSize || block[0] != BlockType)
            return false;
        int words = BinaryPrimitives.ReadUInt16BigEndian(block.Slice(2));
        if (words % 3 != 0 || ExtendedReport.BlockHeaderSize + 4 * words != block.Length)
            return false;
        dlrr = new DelaySinceLastReceiverReport(block, Math.Min(words / 3, MaxSubBlocks));
        return true;
    }

    /// <summary>Octets of an XR packet carrying one DLRR block with <paramref name="subBlocks"/> sub-blocks.</summary>
    public static int PacketSize(int subBlocks) => ExtendedReport.HeaderSize + ExtendedReport.BlockHeaderSize + subBlocks * DlrrSubBlock.Size;

    /// <summary>Writes an XR packet from <paramref name="ssrc"/> with one DLRR block (1 to <see cref="MaxSubBlocks"/> sub-blocks).</summary>
    public static bool TryWrite(Span<byte> destination, uint ssrc, ReadOnlySpan<DlrrSubBlock> subBlocks, out int written)
    {
        written = 0;
        int length = PacketSize(subBlocks.Length);
        if (subBlocks.IsEmpty || subBlocks.Length > MaxSubBlocks || destination.Length < length)
            return false;
        ExtendedReport.WriteHeader(destination, ssrc, length);
        ExtendedReport.WriteBlockHeader(destination.Slice(ExtendedReport.HeaderSize), BlockType, 3 * subBlocks.Length);
        var b = destination.Slice(ExtendedReport.HeaderSize + ExtendedReport.BlockHeaderSize);
        foreach (var s in subBlocks)
        {
            BinaryPrimitives.WriteUInt32BigEndian(b, s.Ssrc);
            BinaryPrimitives.WriteUInt32BigEndian(b.Slice(4), s.LastReceiverReport);
            BinaryPrimitives.WriteUInt32BigEndian(b.Slice(8), s.DelaySinceLastReceiverReport);
            b = b.Slice(DlrrSubBlock.Size);
        }
        written = length;
        return true;
    }
}
