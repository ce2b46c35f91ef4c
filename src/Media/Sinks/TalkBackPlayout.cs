using OspBridge.Media.Formats;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Sinks;

/// <summary>
/// One talk-back session's received Opus → an <see cref="IAudioSinkSession"/> (or nowhere: count only), played out
/// through an <see cref="AudioJitterBuffer"/> (reordering, late-frame drop, fixed <see cref="TargetDelay"/>) so the
/// sink gets packets in timestamp order. A frame that is due but missing is written — once the next real frame
/// arrives, so a pause or the session's end adds no tail — as a TOC-only Opus packet of the previous packet's
/// configuration (code 0, zero-length frame: RFC 6716 §3.2.1 — the decoder conceals it), so the Ogg timeline keeps
/// its length across losses. A gap longer than the buffer's idle limit (25 frames, 0.5 s) is not filled. Time only via <c>now</c>; not thread-safe (one driver loop per session).
/// </summary>
public sealed class TalkBackPlayout
{
    /// <summary>The playout delay after the first frame's arrival.</summary>
    public static readonly TimeSpan TargetDelay = TimeSpan.FromMilliseconds(60);

    private const int MaxConcealed = 25;

    private readonly IAudioSinkSession? _sink;
    private readonly AudioJitterBuffer _buffer = new(48000, TargetDelay, maxFrames: 64, maxFrameSize: 1500, maxConsecutiveLost: MaxConcealed);
    private readonly byte[] _out = new byte[1500];
    private byte _lastToc = 0xF8; // CELT FB 20 ms mono, until a packet is seen
    private int _pendingLost;

    /// <summary>Creates a playout writing to <paramref name="sink"/> (null: count only).</summary>
    public TalkBackPlayout(IAudioSinkSession? sink) => _sink = sink;

    /// <summary>Opus packets received.</summary>
    public long PacketsReceived { get; private set; }

    /// <summary>48 kHz samples received (from each packet's TOC).</summary>
    public long SamplesReceived { get; private set; }

    /// <summary>Frames concealed (due but missing) in the output.</summary>
    public long FramesConcealed => _buffer.FramesLost;

    /// <summary>Frames dropped as late or refused by the buffer.</summary>
    public long FramesLate => _buffer.FramesLate + _buffer.FramesRefused;

    /// <summary>When the next frame is due (null: nothing waiting).</summary>
    public TimeSpan? NextDeadline => _sink is null ? null : _buffer.NextPlayout;

    /// <summary>Takes one received frame (non-Opus frames are ignored).</summary>
    public void Push(in EncodedFrame frame, TimeSpan now)
    {
        if (frame.Codec != MediaCodec.Opus)
            return;
        int samples = OpusPacket.GetSampleCount(frame.Data.Span);
        if (samples == 0)
            return;
        PacketsReceived++;
        SamplesReceived += samples;
        if (_sink is null)
            return;
        uint rtp = (uint)(ulong)(frame.Timestamp.Ticks * 48000 / TimeSpan.TicksPerSecond);
        _buffer.Push(frame.Data.Span, rtp, now);
    }

    /// <summary>Writes every frame due at <paramref name="now"/> to the sink.</summary>
    public async ValueTask DrainAsync(TimeSpan now, CancellationToken cancellationToken)
    {
        if (_sink is null)
            return;
        while (true)
        {
            var r = _buffer.TryPop(now, _out, out int written, out _);
            if (r == AudioPlayout.None)
                return;
            if (r == AudioPlayout.Frame && written > 0)
            {
                if (_pendingLost > 0)
                {
                    byte toc = (byte)(_lastToc & 0xFC); // same configuration, code 0, no frame data: the decoder conceals
                    for (; _pendingLost > 0; _pendingLost--)
                        await _sink.WriteAsync(new[] { toc }, cancellationToken).ConfigureAwait(false);
                }
                _lastToc = _out[0];
                await _sink.WriteAsync(_out.AsMemory(0, written), cancellationToken).ConfigureAwait(false);
            }
            else if (r == AudioPlayout.Lost)
            {
                // written only if audio follows; a longer gap (the buffer went idle) is not filled
                _pendingLost = _buffer.Count == 0 && _pendingLost >= MaxConcealed - 1 ? 0 : _pendingLost + 1;
            }
        }
    }

    /// <summary>At the session's end: writes what is still buffered (as if its time had come).</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        for (int i = 0; i < 256 && NextDeadline is { } due && _buffer.Count > 0; i++)
            await DrainAsync(due, cancellationToken).ConfigureAwait(false);
    }
}
