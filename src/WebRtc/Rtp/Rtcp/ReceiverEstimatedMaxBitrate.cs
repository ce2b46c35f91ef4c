using System.Buffers.Binary;

namespace OspBridge.WebRtc.Rtp.Rtcp;

/// <summary>
/// REMB: receiver estimated maximum bitrate (draft-alvestrand-rmcat-remb-03 §2.2): PSFB (206), FMT 15 (application
/// layer feedback), media SSRC 0, FCI = "REMB", number of SSRCs, 6-bit exponent and 18-bit mantissa
/// (bitrate = mantissa × 2^exp bit/s), then the SSRCs it applies to.
/// <code>
///  |  Unique identifier 'R' 'E' 'M' 'B'                            |
///  |  Num SSRC     | BR Exp    |  BR Mantissa                      |
///  |   SSRC feedback                                               |
/// </code>
/// </summary>
public readonly ref struct ReceiverEstimatedMaxBitrate
{
    /// <summary>FMT value (application layer feedback).</summary>
    public const byte Format = 15;

    private readonly ReadOnlySpan<byte> _ssrcs;

    private ReceiverEstimatedMaxBitrate(RtcpFeedbackHeader header, ulong bitrate, ReadOnlySpan<byte> ssrcs)
    {
        Header = header;
        Bitrate = bitrate;
        _ssrcs = ssrcs;
    }

    /// <summary>Sender SSRC.</summary>
    public RtcpFeedbackHeader Header { get; }

    /// <summary>Estimated maximum bitrate in bit/s.</summary>
    public ulong Bitrate { get; }

    /// <summary>Number of SSRCs the estimate applies to.</summary>
    public int SsrcCount => _ssrcs.Length / 4;

    /// <summary>SSRC <paramref name="index"/>.</summary>
    public uint Ssrc(int index) => (uint)index < (uint)SsrcCount
        ? BinaryPrimitives.ReadUInt32BigEndian(_ssrcs.Slice(4 * index))
        : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>Parses a REMB.</summary>
    public static bool TryRead(ReadOnlySpan<byte> packet, out ReceiverEstimatedMaxBitrate remb)
    {
        remb = default;
        if (!RtcpFeedbackHeader.TryRead(packet, RtcpPacketType.PayloadFeedback, Format, out var h, out var fci) || fci.Length < 8 || !fci[..4].SequenceEqual("REMB"u8))
            return false;
        int n = fci[4];
        if (fci.Length < 8 + 4 * n)
            return false;
        int exp = fci[5] >> 2;
        ulong mantissa = ((ulong)(fci[5] & 3) << 16) | ((ulong)fci[6] << 8) | fci[7];
        ulong bitrate = exp > 46 ? ulong.MaxValue : mantissa << exp; // 18 + 46 bits = 64: beyond that it saturates
        remb = new ReceiverEstimatedMaxBitrate(h, bitrate, fci.Slice(8, 4 * n));
        return true;
    }

    /// <summary>Writes a REMB for <paramref name="bitrate"/> bit/s (rounded down to 18 significant bits) and up to 255 SSRCs.</summary>
    public static bool TryWrite(Span<byte> destination, uint senderSsrc, ulong bitrate, ReadOnlySpan<uint> ssrcs, out int written)
    {
        written = 0;
        int length = RtcpFeedbackHeader.Size + 8 + 4 * ssrcs.Length;
        if (ssrcs.Length > 255 || destination.Length < length)
            return false;
        int exp = 0;
        while ((bitrate >> exp) > 0x3ffff)
            exp++;
        ulong mantissa = bitrate >> exp;
        new RtcpFeedbackHeader(Format, RtcpPacketType.PayloadFeedback, senderSsrc, 0).Write(destination, length);
        "REMB"u8.CopyTo(destination.Slice(12));
        destination[16] = (byte)ssrcs.Length;
        destination[17] = (byte)((exp << 2) | (int)(mantissa >> 16));
        destination[18] = (byte)(mantissa >> 8);
        destination[19] = (byte)mantissa;
        for (int i = 0; i < ssrcs.Length; i++)
            BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(20 + 4 * i), ssrcs[i]);
        written = length;
        return true;
    }
}
