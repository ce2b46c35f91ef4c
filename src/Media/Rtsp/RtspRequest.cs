namespace OspBridge.Media.Rtsp;

/// <summary>
/// An RTSP request (RFC 2326 §6, RFC 7826 §7): <c>METHOD uri RTSP/1.0</c> CRLF, headers, CRLF, optional body.
/// </summary>
public sealed class RtspRequest
{
    /// <summary>Creates a request.</summary>
    public RtspRequest(string method, string uri)
    {
        Method = method;
        Uri = uri;
    }

    /// <summary>OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN...</summary>
    public string Method { get; }

    /// <summary>The request URI (absolute; "*" for OPTIONS is allowed).</summary>
    public string Uri { get; }

    /// <summary>The headers (CSeq among them).</summary>
    public RtspHeaders Headers { get; } = new();

    /// <summary>The body (an SDP, GET_PARAMETER names...).</summary>
    public ReadOnlyMemory<byte> Body { get; set; }

    /// <summary>Serializes the request; Content-Length is added when there is a body.</summary>
    public byte[] ToBytes() => Headers.ToMessageBytes($"{Method} {Uri} RTSP/1.0", Body);

    /// <summary>Reads one request from the start of <paramref name="data"/> (transactional, limits as in <see cref="RtspHeaders"/>).</summary>
    public static RtspReadStatus TryRead(ReadOnlySpan<byte> data, out RtspRequest? request, out int consumed)
    {
        request = null;
        var status = RtspHeaders.TryRead(data, out string startLine, out var headers, out var body, out consumed);
        if (status != RtspReadStatus.Complete)
            return status;
        var parts = startLine.Split(' ');
        if (parts.Length != 3 || !parts[2].StartsWith("RTSP/", StringComparison.Ordinal) || parts[0].Length == 0)
        {
            consumed = 0;
            return RtspReadStatus.Invalid;
        }
        request = new RtspRequest(parts[0], parts[1]) { Body = body };
        request.Headers.AddAll(headers);
        return RtspReadStatus.Complete;
    }
}
