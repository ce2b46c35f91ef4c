namespace OspBridge.WebRtc.Media;

/// <summary>
/// Packetizes audio frames one frame per packet (RFC 7587 §4.2 for Opus, RFC 3551 §4.5.14 for G.711); the marker
/// bit is left clear (no talkspurt signalling).
/// </summary>
public abstract class SingleFramePacketizer : RtpPacketizer
{
    private ReadOnlyMemory<byte> _frame;
    private bool _pending;

    /// <inheritdoc/>
    public override int MinimumPayloadSize => 1;

    /// <inheritdoc/>
    public override bool TryWriteNext(Span<byte> destination, out int written, out bool marker)
    {
        written = 0;
        marker = false;
        if (!_pending)
            return false;
        if (destination.Length < _frame.Length)
            throw new ArgumentException("Destination is shorter than the frame.", nameof(destination));
        _frame.Span.CopyTo(destination);
        written = _frame.Length;
        _pending = false;
        return true;
    }

    private protected override bool OnBegin(ReadOnlyMemory<byte> frame, int maxPayload)
    {
        _frame = frame;
        _pending = maxPayload > 0 && !frame.IsEmpty && frame.Length <= maxPayload;
        return _pending;
    }
}

/// <summary>Opus (RFC 7587): one Opus packet per RTP packet, 48 kHz RTP clock.</summary>
public sealed class OpusPacketizer : SingleFramePacketizer
{
    /// <inheritdoc/>
    public override MediaCodec Codec => MediaCodec.Opus;
}

/// <summary>PCMU/PCMA (RFC 3551): one frame of 8-bit samples per RTP packet, 8 kHz clock (timestamp advances by the sample count).</summary>
public sealed class G711Packetizer : SingleFramePacketizer
{
    /// <summary>A packetizer for <see cref="MediaCodec.Pcmu"/> or <see cref="MediaCodec.Pcma"/>.</summary>
    public G711Packetizer(MediaCodec codec)
    {
        if (codec is not (MediaCodec.Pcmu or MediaCodec.Pcma))
            throw new ArgumentOutOfRangeException(nameof(codec));
        Codec = codec;
    }

    /// <inheritdoc/>
    public override MediaCodec Codec { get; }
}
