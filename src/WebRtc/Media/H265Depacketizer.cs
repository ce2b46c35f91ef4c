namespace OspBridge.WebRtc.Media;

/// <summary>
/// Reassembles H.265 access units from RTP payloads (RFC 7798 without DONL, sprop-max-don-diff = 0: single NAL unit
/// packets 0–47, aggregation packets 48, fragmentation units 49) into Annex B byte streams. PACI (50) and unknown
/// types break the access unit. Keyframe = an IRAP slice (types 16–23); parameter sets = VPS (32), SPS (33), PPS (34).
/// </summary>
public sealed class H265Depacketizer : NalUnitDepacketizer
{
    /// <inheritdoc/>
    public override MediaCodec Codec => MediaCodec.H265;

    private protected override int AllParameterSets => 7;

    private protected override int NalHeaderLength => 2;

    private protected override (bool Keyframe, int ParameterSet) Classify(ReadOnlySpan<byte> nalHeader) => ((nalHeader[0] >> 1) & 0x3f) switch
    {
        >= 16 and <= 23 => (true, 0),
        32 => (false, 1),
        33 => (false, 2),
        34 => (false, 4),
        _ => (false, 0),
    };

    private protected override void Process(ReadOnlySpan<byte> p)
    {
        if (p.Length < 2 || (p[0] & 0x80) != 0)
        {
            Break();
            return;
        }
        switch ((p[0] >> 1) & 0x3f)
        {
            case <= 47:
                AppendNal(p);
                break;
            case 48: // AP: [payload hdr 2] ([size16][nal])*
                if (InFragment)
                    Break();
                else
                    AppendAggregated(p[2..]);
                break;
            case 49: // FU: [payload hdr 2][S E FuType][fragment]
                if (p.Length < 4)
                {
                    Break();
                    return;
                }
                AppendFragment([(byte)((p[0] & 0x81) | ((p[2] & 0x3f) << 1)), p[1]], p[3..], (p[2] & 0x80) != 0, (p[2] & 0x40) != 0);
                break;
            default:
                Break();
                break;
        }
    }
}
