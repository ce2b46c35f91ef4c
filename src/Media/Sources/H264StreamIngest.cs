using OspBridge.Media.Formats;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Sources;

/// <summary>
/// Turns a piped H.264 Annex B elementary stream into frames: access units from <see cref="AnnexBAccessUnitReader"/>,
/// SPS/PPS remembered (and the resolution parsed from the SPS), SPS/PPS put before keyframes that lack them.
/// </summary>
internal sealed class H264StreamIngest
{
    private readonly AnnexBAccessUnitReader _reader = new();
    private readonly Action<EncodedFrame> _emit;
    private readonly Action<H264SpsInfo, byte[], byte[]> _parameterSets;
    private readonly Func<TimeSpan> _timestamp;
    private byte[]? _sps;
    private byte[]? _pps;
    private byte[] _scratch = new byte[64 * 1024];

    public H264StreamIngest(Func<TimeSpan> timestamp, Action<EncodedFrame> emit, Action<H264SpsInfo, byte[], byte[]> parameterSets)
    {
        _timestamp = timestamp;
        _emit = emit;
        _parameterSets = parameterSets;
    }

    public long AccessUnits { get; private set; }

    public void Write(ReadOnlySpan<byte> data)
    {
        _reader.Write(data);
        while (_reader.TryRead(out var au, out var info))
            OnAccessUnit(au, info);
    }

    /// <summary>A new stream begins (the child restarted): forget the partial data.</summary>
    public void Reset() => _reader.TryReadFinal(out _, out _);

    private void OnAccessUnit(ReadOnlySpan<byte> au, AnnexBAccessUnitInfo info)
    {
        if (info.HasSps || info.HasPps)
        {
            foreach (var nal in new AnnexBNalUnits(au))
            {
                int type = AnnexBNalUnits.H264Type(nal);
                if (type == H264NalType.Sps && (_sps is null || !nal.SequenceEqual(_sps)))
                    _sps = nal.ToArray();
                else if (type == H264NalType.Pps && (_pps is null || !nal.SequenceEqual(_pps)))
                    _pps = nal.ToArray();
                else
                    continue;
                if (_sps is not null && _pps is not null && H264SpsInfo.TryParse(_sps, out var sps))
                    _parameterSets(sps, _sps, _pps);
            }
        }
        AccessUnits++;
        var ts = _timestamp();
        if (info.IsKeyframe && !(info.HasSps && info.HasPps) && _sps is not null && _pps is not null)
        {
            int length = 8 + _sps.Length + _pps.Length + au.Length;
            if (_scratch.Length < length)
                _scratch = new byte[Math.Max(length, _scratch.Length * 2)];
            var dst = _scratch.AsSpan();
            int o = 0;
            o += Put(dst[o..], _sps);
            o += Put(dst[o..], _pps);
            au.CopyTo(dst[o..]);
            _emit(new EncodedFrame(MediaCodec.H264, _scratch.AsMemory(0, o + au.Length), ts, true));
            return;
        }
        // The reader's span is only valid during this call, and so is the frame's memory (EncodedFrame contract).
        if (_scratch.Length < au.Length)
            _scratch = new byte[Math.Max(au.Length, _scratch.Length * 2)];
        au.CopyTo(_scratch);
        _emit(new EncodedFrame(MediaCodec.H264, _scratch.AsMemory(0, au.Length), ts, info.IsKeyframe));
    }

    private static int Put(Span<byte> dst, byte[] nal)
    {
        dst[0] = 0;
        dst[1] = 0;
        dst[2] = 0;
        dst[3] = 1;
        nal.CopyTo(dst[4..]);
        return 4 + nal.Length;
    }
}
