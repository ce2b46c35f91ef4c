using OspBridge.Media.Formats;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Writers;

/// <summary>
/// Writes H.264 access units as an Annex B elementary stream (what <c>ffprobe -f h264</c> reads). Output starts at
/// the first keyframe; when a keyframe lacks SPS/PPS, the last ones seen are written before it so the file can be
/// decoded from its start.
/// </summary>
public sealed class AnnexBFileWriter : IAsyncDisposable
{
    private static readonly byte[] StartCode = [0, 0, 0, 1];
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private byte[]? _sps;
    private byte[]? _pps;
    private bool _started;

    /// <summary>Creates a writer over <paramref name="stream"/>.</summary>
    public AnnexBFileWriter(Stream stream, bool leaveOpen = false)
    {
        _stream = stream;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Access units written.</summary>
    public long Frames { get; private set; }

    /// <summary>Keyframes written.</summary>
    public long Keyframes { get; private set; }

    /// <summary>Frames skipped before the first keyframe.</summary>
    public long SkippedBeforeKeyframe { get; private set; }

    /// <summary>Parameter sets (SPS, PPS) to use when keyframes come without them (e.g. from SDP sprop-parameter-sets).</summary>
    public void SetParameterSets(ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps)
    {
        _sps = sps.ToArray();
        _pps = pps.ToArray();
    }

    /// <summary>Appends one access unit (Annex B). Non-H.264 frames are refused with false.</summary>
    public async ValueTask<bool> WriteAsync(EncodedFrame frame, CancellationToken cancellationToken = default)
    {
        if (frame.Codec != MediaCodec.H264)
            return false;
        bool hasSps = false, hasPps = false;
        foreach (var nal in new AnnexBNalUnits(frame.Data.Span))
        {
            int type = AnnexBNalUnits.H264Type(nal);
            if (type == H264NalType.Sps)
            {
                hasSps = true;
                _sps = nal.ToArray();
            }
            else if (type == H264NalType.Pps)
            {
                hasPps = true;
                _pps = nal.ToArray();
            }
        }
        if (!_started && !frame.IsKeyframe)
        {
            SkippedBeforeKeyframe++;
            return false;
        }
        _started = true;
        if (frame.IsKeyframe && (!hasSps || !hasPps) && _sps is not null && _pps is not null)
        {
            await _stream.WriteAsync(StartCode, cancellationToken).ConfigureAwait(false);
            await _stream.WriteAsync(_sps, cancellationToken).ConfigureAwait(false);
            await _stream.WriteAsync(StartCode, cancellationToken).ConfigureAwait(false);
            await _stream.WriteAsync(_pps, cancellationToken).ConfigureAwait(false);
        }
        await _stream.WriteAsync(frame.Data, cancellationToken).ConfigureAwait(false);
        Frames++;
        if (frame.IsKeyframe)
            Keyframes++;
        return true;
    }

    /// <summary>Flushes; closes the stream unless left open.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stream.FlushAsync().ConfigureAwait(false);
        if (!_leaveOpen)
            await _stream.DisposeAsync().ConfigureAwait(false);
    }
}
