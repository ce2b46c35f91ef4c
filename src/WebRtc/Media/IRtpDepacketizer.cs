namespace OspBridge.WebRtc.Media;

/// <summary>
/// Reassembles frames of one codec from RTP payloads fed in sequence order (after the receive stream's reordering
/// and NACK stage). Implementations keep one frame buffer; the frame returned is valid until the next call.
/// </summary>
public interface IRtpDepacketizer
{
    /// <summary>The codec reassembled.</summary>
    MediaCodec Codec { get; }

    /// <summary>Frames dropped because of loss, malformed payloads or size.</summary>
    long DroppedFrames { get; }

    /// <summary>
    /// Adds one RTP payload. Returns true when a frame completed; it is then in <paramref name="frame"/> (valid until
    /// the next call) with its RTP timestamp and whether it is a keyframe.
    /// </summary>
    bool TryAdd(ReadOnlySpan<byte> payload, ushort sequenceNumber, uint timestamp, bool marker, out ReadOnlySpan<byte> frame, out MediaFrameInfo info);

    /// <summary>A depacketizer for <paramref name="codec"/>.</summary>
    static IRtpDepacketizer Create(MediaCodec codec) => codec switch
    {
        MediaCodec.H264 => new H264Depacketizer(),
        MediaCodec.H265 => new H265Depacketizer(),
        MediaCodec.Opus or MediaCodec.Pcmu or MediaCodec.Pcma => new AudioDepacketizer(codec),
        _ => throw new ArgumentOutOfRangeException(nameof(codec)),
    };
}

/// <summary>Facts about a reassembled frame.</summary>
/// <param name="Timestamp">RTP timestamp.</param>
/// <param name="IsKeyframe">Video: contains an IDR (H.264 type 5) / IRAP (H.265 16–23) slice. Audio: always true.</param>
/// <param name="HasParameterSets">Video: carries its parameter sets in band (H.264 SPS+PPS, H.265 VPS+SPS+PPS).</param>
public readonly record struct MediaFrameInfo(uint Timestamp, bool IsKeyframe, bool HasParameterSets);
