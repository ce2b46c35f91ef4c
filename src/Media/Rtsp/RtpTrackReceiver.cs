using OspBridge.Media.Formats;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Rtp;

namespace OspBridge.Media.Rtsp;

/// <summary>
/// Turns the RTP packets of one RTSP track into frames: H.264 through <see cref="H264Depacketizer"/> (SPS/PPS from
/// sprop-parameter-sets or in band put before keyframes that lack them); Opus/PCMU/PCMA one frame per packet.
/// Timestamps are the RTP timestamp extended over wraps, relative to the first packet, in the track's clock rate.
/// Packets must arrive in order (TCP interleaved); a sequence gap drops the H.264 access unit in progress. Over UDP the
/// packets go through an <see cref="RtpReceiveStream"/> first (reorder ring) and its frames come in by <see cref="OnFrame"/>.
/// A camera that restarts inside the session (new SSRC, new random timestamp base) continues the timeline one frame
/// interval (the last one seen) after its previous frame instead of jumping by a random amount (<see cref="SsrcChanges"/>).
/// </summary>
internal sealed class RtpTrackReceiver
{
    private readonly MediaCodec _codec;
    private readonly int _clockRate;
    private readonly int _payloadType;
    private readonly H264Depacketizer? _h264;
    private byte[]? _sps;
    private byte[]? _pps;
    private bool _started;
    private uint _lastTimestamp;
    private uint _ssrc;
    private long _extended;
    private long _lastStep;
    private byte[] _scratch = new byte[64 * 1024];

    public RtpTrackReceiver(MediaCodec codec, int clockRate, int payloadType, byte[]? sps, byte[]? pps)
    {
        _codec = codec;
        _clockRate = clockRate > 0 ? clockRate : codec is MediaCodec.Pcmu or MediaCodec.Pcma ? 8000 : codec == MediaCodec.Opus ? 48000 : 90000;
        _payloadType = payloadType;
        _sps = sps;
        _pps = pps;
        if (codec == MediaCodec.H264)
            _h264 = new H264Depacketizer();
    }

    public long Packets { get; private set; }

    public long Frames { get; private set; }

    public long DroppedAccessUnits => _h264?.DroppedAccessUnits ?? 0;

    /// <summary>Times the camera's SSRC changed within the session.</summary>
    public int SsrcChanges { get; private set; }

    /// <summary>The SPS in use (from SDP or in band).</summary>
    public byte[]? Sps => _sps;

    /// <summary>The PPS in use.</summary>
    public byte[]? Pps => _pps;

    /// <summary>Adds one RTP packet; when a frame completes it is passed to <paramref name="emit"/> (memory valid during the call).</summary>
    public void OnPacket(ReadOnlySpan<byte> packet, Action<EncodedFrame> emit)
    {
        if (!RtpHeader.TryRead(packet, out var h) || (_payloadType >= 0 && h.PayloadType != _payloadType))
            return;
        Packets++;
        var payload = packet[h.HeaderLength..(packet.Length - h.PaddingLength)];
        if (_started && h.Ssrc != _ssrc)
        {
            // a restarted camera: keep the timeline going one frame interval later (never backwards, never a random jump)
            SsrcChanges++;
            _extended += _lastStep > 0 ? _lastStep : _clockRate / 30;
        }
        else if (_started)
        {
            int step = (int)(h.Timestamp - _lastTimestamp);
            _extended += step;
            if (step > 0 && step < _clockRate)
                _lastStep = step;
        }
        _started = true;
        _ssrc = h.Ssrc;
        _lastTimestamp = h.Timestamp;
        var ts = TimeSpan.FromTicks(_extended * TimeSpan.TicksPerSecond / _clockRate);
        if (_h264 is null)
        {
            if (payload.IsEmpty)
                return;
            Frames++;
            emit(new EncodedFrame(_codec, Copy(payload, default, default), ts, true));
            return;
        }
        if (!_h264.TryAdd(payload, h.SequenceNumber, h.Timestamp, h.Marker, out var au, out var info))
            return;
        EmitAccessUnit(au, info.IsKeyframe, info.IsKeyframe || info.HasParameterSets, ts, emit);
    }

    /// <summary>
    /// Adds one frame already reassembled in order by an <see cref="RtpReceiveStream"/> (RTSP over UDP: reordering,
    /// loss accounting and receiver reports are that stream's); H.264 gets the same SPS/PPS tracking and insertion as
    /// <see cref="OnPacket"/>. The frame's timestamp (from 0 at the stream's first frame) is kept.
    /// </summary>
    public void OnFrame(in EncodedFrame frame, Action<EncodedFrame> emit)
    {
        if (frame.Data.IsEmpty)
            return;
        Packets++;
        if (_h264 is null)
        {
            Frames++;
            emit(new EncodedFrame(_codec, Copy(frame.Data.Span, default, default), frame.Timestamp, true));
            return;
        }
        EmitAccessUnit(frame.Data.Span, frame.IsKeyframe, true, frame.Timestamp, emit);
    }

    private void EmitAccessUnit(ReadOnlySpan<byte> au, bool keyframe, bool scan, TimeSpan ts, Action<EncodedFrame> emit)
    {
        bool hasSps = false, hasPps = false;
        if (scan)
        {
            foreach (var nal in new AnnexBNalUnits(au))
            {
                int type = AnnexBNalUnits.H264Type(nal);
                if (type == H264NalType.Sps)
                {
                    hasSps = true;
                    if (_sps is null || !nal.SequenceEqual(_sps))
                        _sps = nal.ToArray();
                }
                else if (type == H264NalType.Pps)
                {
                    hasPps = true;
                    if (_pps is null || !nal.SequenceEqual(_pps))
                        _pps = nal.ToArray();
                }
            }
        }
        Frames++;
        bool prepend = keyframe && !(hasSps && hasPps) && _sps is not null && _pps is not null;
        emit(new EncodedFrame(MediaCodec.H264, prepend ? Copy(au, _sps, _pps) : Copy(au, default, default), ts, keyframe));
    }

    private ReadOnlyMemory<byte> Copy(ReadOnlySpan<byte> data, ReadOnlySpan<byte> sps, ReadOnlySpan<byte> pps)
    {
        int extra = sps.IsEmpty ? 0 : 8 + sps.Length + pps.Length;
        int length = extra + data.Length;
        if (_scratch.Length < length)
            _scratch = new byte[Math.Max(length, _scratch.Length * 2)];
        int o = 0;
        if (extra > 0)
        {
            _scratch.AsSpan(0, 4).Clear();
            _scratch[3] = 1;
            sps.CopyTo(_scratch.AsSpan(4));
            o = 4 + sps.Length;
            _scratch.AsSpan(o, 4).Clear();
            _scratch[o + 3] = 1;
            pps.CopyTo(_scratch.AsSpan(o + 4));
            o += 4 + pps.Length;
        }
        data.CopyTo(_scratch.AsSpan(o));
        return _scratch.AsMemory(0, length);
    }
}
