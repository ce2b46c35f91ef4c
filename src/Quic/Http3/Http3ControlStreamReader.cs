using OspBridge.Net.Wire;

namespace OspBridge.Quic.Http3;

/// <summary>
/// Sans-IO parser of the peer's control stream after its type byte (RFC 9114 §6.2.1): the first frame must be
/// SETTINGS; later SETTINGS, DATA, HEADERS and PUSH_PROMISE are H3_FRAME_UNEXPECTED; GOAWAY is reported;
/// MAX_PUSH_ID / CANCEL_PUSH are parsed and ignored; unknown frames are skipped without buffering.
/// </summary>
internal sealed class Http3ControlStreamReader
{
    private const int MaxControlFrame = 16 * 1024;
    private Http3FrameHeaderAccumulator _header;
    private bool _inFrame;
    private ulong _type;
    private ulong _remaining;
    private byte[]? _buf;
    private int _fill;

    /// <summary>The peer's settings once received.</summary>
    public Dictionary<ulong, ulong>? Settings { get; private set; }

    /// <summary>The last GOAWAY id received, if any.</summary>
    public ulong? GoawayId { get; private set; }

    public void Process(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (!_inFrame)
            {
                if (!_header.TryRead(ref data, out ulong type, out ulong len)) return;
                Begin(type, len);
                continue;
            }
            int n = (int)Math.Min((ulong)data.Length, _remaining);
            if (_buf is not null) data[..n].CopyTo(_buf.AsSpan(_fill));
            _fill += n;
            _remaining -= (ulong)n;
            data = data[n..];
            if (_remaining == 0) End();
        }
    }

    private void Begin(ulong type, ulong len)
    {
        if (Settings is null && type != Http3FrameType.Settings)
            throw Http3Errors.Error(Http3ErrorCode.MissingSettings, "first control frame is not SETTINGS");
        switch (type)
        {
            case Http3FrameType.Settings when Settings is not null:
                throw Http3Errors.Unexpected("second SETTINGS frame");
            case Http3FrameType.Data or Http3FrameType.Headers or Http3FrameType.PushPromise:
                throw Http3Errors.Unexpected($"frame 0x{type:x} on the control stream");
        }
        if (Http3FrameType.IsReservedHttp2(type)) throw Http3Errors.Unexpected($"HTTP/2 frame type 0x{type:x}");
        bool keep = type is Http3FrameType.Settings or Http3FrameType.Goaway or Http3FrameType.MaxPushId or Http3FrameType.CancelPush;
        if (keep && len > MaxControlFrame) throw Http3Errors.Error(Http3ErrorCode.ExcessiveLoad, "control frame too large");
        _type = type;
        _remaining = len;
        _inFrame = true;
        _buf = keep ? new byte[len] : null;
        _fill = 0;
        if (len == 0) End();
    }

    private void End()
    {
        _inFrame = false;
        var payload = _buf.AsSpan(0, _buf is null ? 0 : _fill);
        switch (_type)
        {
            case Http3FrameType.Settings: Settings = SettingsFrame.Decode(payload); break;
            case Http3FrameType.Goaway:
            {
                ulong id = GoawayFrame.Decode(payload);
                if (GoawayId is ulong prev && id > prev) throw Http3Errors.Error(Http3ErrorCode.IdError, "GOAWAY id increased");
                GoawayId = id;
                break;
            }
            case Http3FrameType.MaxPushId or Http3FrameType.CancelPush:
                if (!QuicVarint.TryRead(payload, out _, out int n) || n != payload.Length) throw Http3Errors.Frame("malformed frame");
                break;
        }
        _buf = null;
    }

    /// <summary>The control stream must never close (H3_CLOSED_CRITICAL_STREAM).</summary>
    public static void OnClosed() => throw Http3Errors.Error(Http3ErrorCode.ClosedCriticalStream, "control stream closed");
}
