using OspBridge.Quic.Http3.Qpack;

namespace OspBridge.Quic.Http3;

/// <summary>Receives the parts of an HTTP message as they are parsed.</summary>
internal interface IHttp3MessageSink
{
    /// <summary>A HEADERS frame was decoded (<paramref name="trailers"/>: after DATA).</summary>
    void OnHeaders(List<HeaderField> fields, bool trailers);

    /// <summary>Body bytes (a slice of the input; copy to keep).</summary>
    void OnData(ReadOnlySpan<byte> data);
}

/// <summary>
/// Sans-IO parser of one request or response stream (RFC 9114 §4.1): HEADERS, DATA*, optional trailing
/// HEADERS; unknown and reserved (grease) frame types are skipped without buffering; DATA payloads are
/// passed through as they arrive; HEADERS are buffered up to a limit. Accepts any split of the input.
/// </summary>
internal sealed class Http3MessageReader
{
    private enum Part { Headers, Body, AfterTrailers }

    private readonly int _maxHeadersFrame;
    private Http3FrameHeaderAccumulator _header;
    private Part _part = Part.Headers;
    private ulong _frameType;
    private ulong _remaining;
    private bool _inFrame;
    private byte[]? _headerBuf;
    private int _headerFill;

    public Http3MessageReader(int maxHeadersFrame = QpackDecoder.DefaultMaxFieldSectionSize)
    {
        _maxHeadersFrame = maxHeadersFrame;
    }

    /// <summary>True once the leading HEADERS frame was decoded.</summary>
    public bool HasHeaders => _part != Part.Headers;

    public void Process(ReadOnlySpan<byte> data, IHttp3MessageSink sink)
    {
        while (!data.IsEmpty)
        {
            if (!_inFrame)
            {
                if (!_header.TryRead(ref data, out ulong type, out ulong len)) return;
                BeginFrame(type, len, sink);
                continue;
            }
            int n = (int)Math.Min((ulong)data.Length, _remaining);
            var chunk = data[..n];
            data = data[n..];
            _remaining -= (ulong)n;
            if (_frameType == Http3FrameType.Data)
            {
                if (n > 0) sink.OnData(chunk);
            }
            else if (_frameType == Http3FrameType.Headers)
            {
                chunk.CopyTo(_headerBuf.AsSpan(_headerFill));
                _headerFill += n;
            }
            if (_remaining == 0) EndFrame(sink);
        }
    }

    private void BeginFrame(ulong type, ulong len, IHttp3MessageSink sink)
    {
        _frameType = type;
        _remaining = len;
        _inFrame = true;
        switch (type)
        {
            case Http3FrameType.Headers:
                if (_part == Part.AfterTrailers) throw Http3Errors.Unexpected("HEADERS after trailers");
                if (len > (ulong)_maxHeadersFrame) throw Http3Errors.Error(Http3ErrorCode.ExcessiveLoad, "HEADERS frame too large");
                _headerBuf = new byte[len];
                _headerFill = 0;
                break;
            case Http3FrameType.Data:
                if (_part != Part.Body) throw Http3Errors.Unexpected(_part == Part.Headers ? "DATA before HEADERS" : "DATA after trailers");
                break;
            case Http3FrameType.Settings or Http3FrameType.Goaway or Http3FrameType.MaxPushId or Http3FrameType.CancelPush:
                throw Http3Errors.Unexpected($"frame 0x{type:x} on a request stream");
            case Http3FrameType.PushPromise:
                throw Http3Errors.Error(Http3ErrorCode.IdError, "PUSH_PROMISE without MAX_PUSH_ID");
            default:
                if (Http3FrameType.IsReservedHttp2(type)) throw Http3Errors.Unexpected($"HTTP/2 frame type 0x{type:x}");
                break; // unknown/grease: skipped
        }
        if (len == 0) EndFrame(sink);
    }

    private void EndFrame(IHttp3MessageSink sink)
    {
        _inFrame = false;
        if (_frameType != Http3FrameType.Headers) return;
        var fields = HeadersFrame.Decode(_headerBuf, _maxHeadersFrame);
        _headerBuf = null;
        bool trailers = _part == Part.Body;
        _part = trailers ? Part.AfterTrailers : Part.Body;
        sink.OnHeaders(fields, trailers);
    }

    /// <summary>The stream ended (FIN): a partial frame or a missing HEADERS is H3_FRAME_ERROR / H3_REQUEST_INCOMPLETE.</summary>
    public void Finish()
    {
        if (_inFrame || _header.IsPartial) throw Http3Errors.Frame("stream ended inside a frame");
        if (_part == Part.Headers) throw Http3Errors.Error(Http3ErrorCode.RequestIncomplete, "stream ended before HEADERS");
    }
}
