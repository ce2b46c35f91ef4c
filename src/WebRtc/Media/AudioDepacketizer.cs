namespace OspBridge.WebRtc.Media;

/// <summary>
/// Audio depacketizer (Opus RFC 7587, G.711 RFC 3551): one RTP payload is one frame; empty payloads are dropped.
/// </summary>
public class AudioDepacketizer : IRtpDepacketizer
{
    /// <summary>A depacketizer for an audio codec.</summary>
    public AudioDepacketizer(MediaCodec codec)
    {
        if (codec is not (MediaCodec.Opus or MediaCodec.Pcmu or MediaCodec.Pcma))
            throw new ArgumentOutOfRangeException(nameof(codec));
        Codec = codec;
    }

    /// <inheritdoc/>
    public MediaCodec Codec { get; }

    /// <inheritdoc/>
    public long DroppedFrames { get; private set; }

    /// <inheritdoc/>
    public bool TryAdd(ReadOnlySpan<byte> payload, ushort sequenceNumber, uint timestamp, bool marker, out ReadOnlySpan<byte> frame, out MediaFrameInfo info)
    {
        if (payload.IsEmpty)
        {
            DroppedFrames++;
            frame = default;
            info = default;
            return false;
        }
        frame = payload;
        info = new MediaFrameInfo(timestamp, true, false);
        return true;
    }
}

/// <summary>Opus depacketizer (RFC 7587): one RTP payload = one Opus packet.</summary>
public sealed class OpusDepacketizer() : AudioDepacketizer(MediaCodec.Opus);
