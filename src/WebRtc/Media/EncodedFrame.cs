namespace OspBridge.WebRtc.Media;

/// <summary>
/// One encoded media frame as it moves between a source (camera, RTSP client, <c>exec:</c> child, test camera), the
/// fan-out and an RTP sender, or from an RTP receiver (depacketizer) to a sink — the seam between OspBridge.Media and
/// OspBridge.WebRtc. Video frames are whole access units in Annex B form; audio frames are one codec packet.
/// </summary>
/// <param name="Codec">The codec of <paramref name="Data"/>.</param>
/// <param name="Data">
/// The payload. H.264/H.265: one access unit, Annex B (each NAL unit preceded by 00 00 01 or 00 00 00 01), parameter
/// sets (SPS/PPS/VPS) included before keyframes by sources that know them. Opus: one Opus packet. PCMU/PCMA: samples.
/// The memory belongs to the frame's consumer only for the duration of the call it is passed to; copy to keep.
/// </param>
/// <param name="Timestamp">
/// Presentation time relative to the source's start (monotonic, never wall-clock). A sender converts it to its RTP
/// clock with its own random offset, so every viewer gets its own timestamp base.
/// </param>
/// <param name="IsKeyframe">True for an access unit a decoder can start from (H.264 IDR, H.265 IRAP). Audio: true.</param>
public readonly record struct EncodedFrame(MediaCodec Codec, ReadOnlyMemory<byte> Data, TimeSpan Timestamp, bool IsKeyframe);
