using System.Globalization;
using System.Text;

namespace OspBridge.Media.Rtsp;

/// <summary>
/// The header section shared by RTSP requests and responses (RFC 2326 §4, RFC 7826 §5): a start line, header lines
/// <c>Name: value</c> ended by CRLF (a bare LF is accepted), an empty line, then Content-Length octets of body.
/// Limits are checked before anything is buffered: header section ≤ <see cref="MaxHeaderBytes"/>, ≤
/// <see cref="MaxHeaderCount"/> headers, body ≤ <see cref="MaxBodyBytes"/>.
/// </summary>
public sealed class RtspHeaders
{
    /// <summary>Largest header section (start line included).</summary>
    public const int MaxHeaderBytes = 16 * 1024;

    /// <summary>Most header lines.</summary>
    public const int MaxHeaderCount = 64;

    /// <summary>Largest body (an SDP is a few KB).</summary>
    public const int MaxBodyBytes = 256 * 1024;

    private readonly List<KeyValuePair<string, string>> _items = [];

    /// <summary>All headers in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Items => _items;

    /// <summary>Adds a header.</summary>
    public RtspHeaders Add(string name, string value)
    {
        if (name.AsSpan().IndexOfAny('\r', '\n', ':') >= 0 || value.AsSpan().IndexOfAny('\r', '\n') >= 0)
            throw new ArgumentException("header name or value contains a line break", nameof(name));
        _items.Add(new(name, value));
        return this;
    }

    /// <summary>The first value of <paramref name="name"/> (case-insensitive), or null.</summary>
    public string? Get(string name)
    {
        foreach (var kv in _items)
        {
            if (string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase))
                return kv.Value;
        }
        return null;
    }

    /// <summary>All values of <paramref name="name"/>.</summary>
    public IEnumerable<string> GetAll(string name) =>
        _items.Where(kv => string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)).Select(kv => kv.Value);

    /// <summary>The CSeq header as a number, or -1.</summary>
    public int CSeq => int.TryParse(Get("CSeq"), NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : -1;

    internal static RtspReadStatus TryRead(ReadOnlySpan<byte> data, out string startLine, out RtspHeaders headers, out ReadOnlyMemory<byte> body, out int consumed)
    {
        startLine = "";
        headers = new RtspHeaders();
        body = default;
        consumed = 0;
        int end = IndexOfHeaderEnd(data, out int terminatorLength);
        if (end < 0)
            return data.Length > MaxHeaderBytes ? RtspReadStatus.Invalid : RtspReadStatus.NeedMoreData;
        if (end > MaxHeaderBytes)
            return RtspReadStatus.Invalid;
        string head;
        try
        {
            head = Encoding.UTF8.GetString(data[..end]);
        }
        catch (ArgumentException)
        {
            return RtspReadStatus.Invalid;
        }
        var lines = head.Split('\n');
        startLine = lines[0].TrimEnd('\r');
        if (startLine.Length == 0 || startLine.Contains('\r', StringComparison.Ordinal) || lines.Length - 1 > MaxHeaderCount)
            return RtspReadStatus.Invalid;
        for (int i = 1; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (line.Length == 0)
                continue;
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || line.Contains('\r', StringComparison.Ordinal))
                return RtspReadStatus.Invalid;
            headers._items.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }
        int bodyLength = 0;
        string? cl = headers.Get("Content-Length");
        if (cl is not null && (!int.TryParse(cl, NumberStyles.None, CultureInfo.InvariantCulture, out bodyLength) || bodyLength > MaxBodyBytes))
            return RtspReadStatus.Invalid;
        int total = end + terminatorLength + bodyLength;
        if (data.Length < total)
            return RtspReadStatus.NeedMoreData;
        body = data.Slice(end + terminatorLength, bodyLength).ToArray();
        consumed = total;
        return RtspReadStatus.Complete;
    }

    /// <summary>
    /// Serializes a whole message (request or response): <paramref name="startLine"/> and CRLF, these headers,
    /// Content-Length when there is a body and the headers do not name one, the empty line, the body.
    /// </summary>
    internal byte[] ToMessageBytes(string startLine, ReadOnlyMemory<byte> body)
    {
        var sb = new StringBuilder();
        sb.Append(startLine).Append("\r\n");
        foreach (var kv in _items)
            sb.Append(kv.Key).Append(": ").Append(kv.Value).Append("\r\n");
        if (!body.IsEmpty && Get("Content-Length") is null)
            sb.Append("Content-Length: ").Append(body.Length.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        sb.Append("\r\n");
        byte[] head = Encoding.UTF8.GetBytes(sb.ToString());
        if (body.IsEmpty)
            return head;
        var all = new byte[head.Length + body.Length];
        head.CopyTo(all, 0);
        body.Span.CopyTo(all.AsSpan(head.Length));
        return all;
    }

    /// <summary>Adds every header of <paramref name="source"/> in order (a parsed message's headers into its object).</summary>
    internal void AddAll(RtspHeaders source)
    {
        foreach (var kv in source._items)
            _items.Add(kv);
    }

    private static int IndexOfHeaderEnd(ReadOnlySpan<byte> data, out int terminatorLength)
    {
        terminatorLength = 0;
        int limit = Math.Min(data.Length, MaxHeaderBytes + 4);
        for (int i = 0; i < limit; i++)
        {
            if (data[i] != '\n')
                continue;
            if (i + 1 < data.Length && data[i + 1] == '\n')
            {
                terminatorLength = 2;
                return i;
            }
            if (i + 2 < data.Length && data[i + 1] == '\r' && data[i + 2] == '\n')
            {
                terminatorLength = 3;
                return i;
            }
        }
        return -1;
    }
}
