using System.Globalization;

namespace OspBridge.Media.Rtsp;

/// <summary>
/// An RTSP response (RFC 2326 §7, RFC 7826 §8): <c>RTSP/1.0 code reason</c> CRLF, headers, CRLF, optional body.
/// </summary>
public sealed class RtspResponse
{
    /// <summary>Creates a response.</summary>
    public RtspResponse(int statusCode, string reason)
    {
        StatusCode = statusCode;
        Reason = reason;
    }

    /// <summary>The status code (200, 401, 454...).</summary>
    public int StatusCode { get; }

    /// <summary>The reason phrase.</summary>
    public string Reason { get; }

    /// <summary>The headers.</summary>
    public RtspHeaders Headers { get; } = new();

    /// <summary>The body.</summary>
    public ReadOnlyMemory<byte> Body { get; set; }

    /// <summary>Serializes the response (Content-Length added when there is a body).</summary>
    public byte[] ToBytes() =>
        Headers.ToMessageBytes(string.Create(CultureInfo.InvariantCulture, $"RTSP/1.0 {StatusCode} {Reason}"), Body);

    /// <summary>Reads one response from the start of <paramref name="data"/> (transactional, limits as in <see cref="RtspHeaders"/>).</summary>
    public static RtspReadStatus TryRead(ReadOnlySpan<byte> data, out RtspResponse? response, out int consumed)
    {
        response = null;
        var status = RtspHeaders.TryRead(data, out string startLine, out var headers, out var body, out consumed);
        if (status != RtspReadStatus.Complete)
            return status;
        var parts = startLine.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("RTSP/", StringComparison.Ordinal) || parts[1].Length != 3 ||
            !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int code) || code < 100)
        {
            consumed = 0;
            return RtspReadStatus.Invalid;
        }
        response = new RtspResponse(code, parts.Length > 2 ? parts[2] : "") { Body = body };
        response.Headers.AddAll(headers);
        return RtspReadStatus.Complete;
    }
}
