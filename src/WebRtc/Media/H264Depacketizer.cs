namespace OspBridge.WebRtc.Media;

/// <summary>
/// Reassembles H.264 access units from RTP payloads (RFC 6184, packetization-mode 1: single NAL unit packets 1–23,
/// STAP-A 24, FU-A 28) into Annex B byte streams. STAP-B, MTAP and FU-B (not in mode 1) break the access unit.
/// Keyframe = an IDR slice (type 5); parameter sets = SPS (7) and PPS (8).
/// </summary>
public sealed class H264Depacketizer : NalUnitDepacketizer
{
    /// <inheritdoc/>
    public override MediaCodec Codec => MediaCodec.H264;

    private protected override int AllParameterSets => 3;

    private protected override int NalHeaderLength => 1;

    private protected override (bool Keyframe, int ParameterSet) Classify(ReadOnlySpan<byte> nalHeader) => (nalHeader[0] & 0x1f) switch
    {
        5 => (true, 0),
        7 => (false, 1),
        8 => (false, 2),
        _ => (false, 0),
    };

    private protected override void Process(ReadOnlySpan<byte> p)
    {
        if (p.IsEmpty || (p[0] & 0x80) != 0)
        {
            Break(); // forbidden_zero_bit set or empty
            return;
        }
        switch (p[0] & 0x1f)
        {
            case >= 1 and <= 23:
                AppendNal(p);
                break;
            case 24: // STAP-A: [hdr] ([size16][nal])*
                if (InFragment)
                    Break();
                else
                    AppendAggregated(p[1..]);
                break;
            case 28: // FU-A: [indicator][S E R type][fragment]
                if (p.Length < 3)
                {
                    Break();
                    return;
                }
                AppendFragment([(byte)((p[0] & 0xe0) | (p[1] & 0x1f))], p[2..], (p[1] & 0x80) != 0, (p[1] & 0x40) != 0);
                break;
            default:
                Break(); // STAP-B, MTAP, FU-B: not in packetization-mode 1
                break;
        }
    }
}
