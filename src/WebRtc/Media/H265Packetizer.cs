namespace OspBridge.WebRtc.Media;

/// <summary>
/// H.265 packetizer, RFC 7798 with sprop-max-don-diff = 0 (no DONL/DOND fields): single NAL unit packets,
/// aggregation packets (type 48, §4.4.2: F = OR, LayerId and TID = the lowest of the aggregated units) and
/// fragmentation units (type 49, §4.4.3: payload header with the unit's F/LayerId/TID, FU header S/E/FuType).
/// Access unit delimiters (35) and filler data (38) are not sent.
/// </summary>
public sealed class H265Packetizer : NalUnitPacketizer
{
    /// <summary>Aggregation packet NAL unit type.</summary>
    public const int AggregationPacket = 48;

    /// <summary>Fragmentation unit NAL unit type.</summary>
    public const int FragmentationUnit = 49;

    /// <inheritdoc/>
    public override MediaCodec Codec => MediaCodec.H265;

    private protected override int NalHeaderLength => 2;

    private protected override int FragmentHeaderLength => 3;

    private protected override bool Skip(ReadOnlySpan<byte> nal) => ((nal[0] >> 1) & 0x3f) is 35 or 38;

    private protected override void WriteAggregationHeader(Span<byte> header, ReadOnlySpan<byte> body)
    {
        int f = 0, layer = 63, tid = 7;
        for (int at = 0; at + 3 < body.Length;)
        {
            int size = (body[at] << 8) | body[at + 1];
            byte h0 = body[at + 2], h1 = body[at + 3];
            f |= h0 & 0x80;
            layer = Math.Min(layer, ((h0 & 1) << 5) | (h1 >> 3));
            tid = Math.Min(tid, h1 & 7);
            at += 2 + size;
        }
        header[0] = (byte)(f | (AggregationPacket << 1) | (layer >> 5));
        header[1] = (byte)(((layer & 0x1f) << 3) | tid);
    }

    private protected override void WriteFragmentHeader(Span<byte> header, ReadOnlySpan<byte> nal, bool start, bool end)
    {
        header[0] = (byte)((nal[0] & 0x81) | (FragmentationUnit << 1));
        header[1] = nal[1];
        header[2] = (byte)((start ? 0x80 : 0) | (end ? 0x40 : 0) | ((nal[0] >> 1) & 0x3f));
    }
}
