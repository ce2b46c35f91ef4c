namespace OspBridge.WebRtc.Media;

/// <summary>
/// Splits one <see cref="EncodedFrame"/> payload into RTP payloads (the part after the RTP header) of at most a
/// given size. Pull-style and allocation-free per packet: <see cref="Begin"/> a frame, then call
/// <see cref="TryWriteNext"/> with the payload area of the packet being built (for example
/// <c>packet[RtpHeader.FixedLength..]</c>) until it returns false; the marker bit to put in each packet comes back
/// with it. <see cref="Packetize"/> is the push-style form over an <see cref="IRtpPayloadSink"/>.
/// </summary>
/// <remarks>The frame memory must stay unchanged until the last packet is written. Not thread-safe.</remarks>
public abstract class RtpPacketizer
{
    private byte[] _scratch = [];

    /// <summary>The codec this packetizer formats.</summary>
    public abstract MediaCodec Codec { get; }

    /// <summary>The smallest <c>maxPayload</c> <see cref="Begin"/> accepts.</summary>
    public abstract int MinimumPayloadSize { get; }

    /// <summary>
    /// Starts packetizing <paramref name="frame"/> (H.264/H.265: an Annex B access unit; audio: one codec frame)
    /// into payloads of at most <paramref name="maxPayload"/> octets. Returns false (and produces no packets) when
    /// <paramref name="maxPayload"/> is below <see cref="MinimumPayloadSize"/> or the frame cannot be carried
    /// (an audio frame larger than <paramref name="maxPayload"/>). Any frame in progress is abandoned.
    /// </summary>
    public bool Begin(ReadOnlyMemory<byte> frame, int maxPayload)
    {
        if (maxPayload < MinimumPayloadSize)
        {
            OnBegin(default, 0);
            return false;
        }
        return OnBegin(frame, maxPayload);
    }

    /// <summary>
    /// Writes the next payload into <paramref name="destination"/> (which must hold the <c>maxPayload</c> given to
    /// <see cref="Begin"/>); <paramref name="marker"/> is the RTP marker bit for it (video: last packet of the access
    /// unit). Returns false when the frame is done.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than the payload.</exception>
    public abstract bool TryWriteNext(Span<byte> destination, out int written, out bool marker);

    /// <summary>Packetizes <paramref name="frame"/> into <paramref name="sink"/>; returns the number of payloads (0 when <see cref="Begin"/> refused it).</summary>
    public int Packetize(ReadOnlyMemory<byte> frame, int maxPayload, IRtpPayloadSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (!Begin(frame, maxPayload))
            return 0;
        if (_scratch.Length < maxPayload)
            _scratch = new byte[maxPayload];
        int n = 0;
        while (TryWriteNext(_scratch, out int written, out bool marker))
        {
            sink.OnPayload(_scratch.AsSpan(0, written), marker);
            n++;
        }
        return n;
    }

    /// <summary>A packetizer for <paramref name="codec"/>.</summary>
    public static RtpPacketizer Create(MediaCodec codec) => codec switch
    {
        MediaCodec.H264 => new H264Packetizer(),
        MediaCodec.H265 => new H265Packetizer(),
        MediaCodec.Opus => new OpusPacketizer(),
        MediaCodec.Pcmu or MediaCodec.Pcma => new G711Packetizer(codec),
        _ => throw new ArgumentOutOfRangeException(nameof(codec)),
    };

    /// <summary>Starts a frame; <paramref name="maxPayload"/> is already at least <see cref="MinimumPayloadSize"/> (or 0 to clear).</summary>
    private protected abstract bool OnBegin(ReadOnlyMemory<byte> frame, int maxPayload);
}
