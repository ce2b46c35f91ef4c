namespace OspBridge.WebRtc.Media;

/// <summary>
/// H.264 packetizer, RFC 6184 packetization-mode 1: single NAL unit packets, STAP-A (type 24: F = OR of the units'
/// F bits, NRI = their maximum) for consecutive NAL units that fit in one payload (SPS + PPS + small slices), FU-A
/// (type 28, §5.8) for units larger than the payload, split into near-equal fragments. Access unit delimiters
/// (type 9) and filler data (type 12) are not sent.
/// </summary>
public sealed class H264Packetizer : NalUnitPacketizer
{
    /// <summary>STAP-A NAL unit type.</summary>
    public const int StapA = 24;

    /// <summary>FU-A NAL unit type.</summary>
    public const int FuA = 28;

    /// <inheritdoc/>
    public override MediaCodec Codec => MediaCodec.H264;

    private protected override int NalHeaderLength => 1;

    private protected override int FragmentHeaderLength => 2;

    private protected override bool Skip(ReadOnlySpan<byte> nal) => (nal[0] & 0x1f) is 9 or 12;

    private protected override void WriteAggregationHeader(Span<byte> header, ReadOnlySpan<byte> body)
    {
        int f = 0, nri = 0;
        for (int at = 0; at + 2 < body.Length;)
        {
            int size = (body[at] << 8) | body[at + 1];
            byte h = body[at + 2];
            f |= h & 0x80;
            nri = Math.Max(nri, h & 0x60);
            at += 2 + size;
        }
        header[0] = (byte)(f | nri | StapA);
    }

    private protected override void WriteFragmentHeader(Span<byte> header, ReadOnlySpan<byte> nal, bool start, bool end)
    {
        header[0] = (byte)((nal[0] & 0xe0) | FuA);
        header[1] = (byte)((start ? 0x80 : 0) | (end ? 0x40 : 0) | (nal[0] & 0x1f));
    }
}
