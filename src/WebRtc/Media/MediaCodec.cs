namespace OspBridge.WebRtc.Media;

/// <summary>The codecs carried without transcoding (issue 12). The RTP clock rate of each is fixed by its RFC.</summary>
public enum MediaCodec
{
    /// <summary>H.264 (RFC 6184), 90 kHz. Frames are Annex B access units (start code before each NAL unit).</summary>
    H264,

    /// <summary>H.265 (RFC 7798), 90 kHz. Frames are Annex B access units.</summary>
    H265,

    /// <summary>Opus (RFC 7587), 48 kHz RTP clock whatever the coded rate. One frame = one Opus packet.</summary>
    Opus,

    /// <summary>G.711 µ-law (RFC 3551, payload type 0), 8 kHz. One frame = a run of 8-bit samples.</summary>
    Pcmu,

    /// <summary>G.711 A-law (RFC 3551, payload type 8), 8 kHz. One frame = a run of 8-bit samples.</summary>
    Pcma,
}
