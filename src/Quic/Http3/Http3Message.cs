using System.Buffers;
using OspBridge.Quic.Http3.Qpack;

namespace OspBridge.Quic.Http3;

/// <summary>An HTTP/3 response as seen by <see cref="Http3Client"/>.</summary>
public sealed class Http3Response
{
    /// <summary>The :status code.</summary>
    public int StatusCode { get; init; }

    /// <summary>All response fields (pseudo-headers included) and trailers appended.</summary>
    public IReadOnlyList<HeaderField> Headers { get; init; } = [];

    /// <summary>Body bytes received.</summary>
    public long BodyLength { get; init; }
}

/// <summary>Collects decoded frames of one message; body bytes are handed to the caller per read.</summary>
internal sealed class Http3MessageCollector : IHttp3MessageSink
{
    public readonly List<HeaderField> Headers = [];
    public readonly List<HeaderField> Trailers = [];
    public bool HeadersDone;
    public readonly ArrayBufferWriter<byte> Body = new(64 * 1024);

    public void OnHeaders(List<HeaderField> fields, bool trailers)
    {
        if (trailers) Trailers.AddRange(fields);
        else
        {
            Headers.AddRange(fields);
            HeadersDone = true;
        }
    }

    /// <summary>
    /// When set, body bytes that are slices of this array (the caller's read buffer) are not copied into
    /// <see cref="Body"/> but recorded in <see cref="BodyRanges"/> (offset, length), to be consumed before the buffer is
    /// reused — a response body then reaches its sink with no copy.
    /// </summary>
    public byte[]? InPlaceSource;

    /// <summary>Body slices of <see cref="InPlaceSource"/> in arrival order (see there).</summary>
    public readonly List<(int Offset, int Length)> BodyRanges = [];

    public void OnData(ReadOnlySpan<byte> data)
    {
        if (InPlaceSource is { } src && !data.IsEmpty)
        {
            long at = System.Runtime.CompilerServices.Unsafe.ByteOffset(
                ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(src),
                ref System.Runtime.InteropServices.MemoryMarshal.GetReference(data));
            if (at >= 0 && at + data.Length <= src.Length)
            {
                BodyRanges.Add(((int)at, data.Length));
                return;
            }
        }
        data.CopyTo(Body.GetSpan(data.Length));
        Body.Advance(data.Length);
    }
}

/// <summary>Field validation (RFC 9114 §4.2, §4.3).</summary>
internal static class Http3Fields
{
    /// <summary>Checks names are lower case, pseudo-headers come first and are known, and no connection-specific fields appear.</summary>
    public static void Validate(IReadOnlyList<HeaderField> fields, bool request)
    {
        bool regularSeen = false;
        var pseudo = new HashSet<string>();
        foreach (var f in fields)
        {
            if (f.Name.Length == 0) throw Http3Errors.Message("empty field name");
            foreach (char c in f.Name)
                if (c is >= 'A' and <= 'Z' || c <= ' ' || c >= 0x7F) throw Http3Errors.Message($"invalid field name '{f.Name}'");
            if (f.Name[0] == ':')
            {
                if (regularSeen) throw Http3Errors.Message("pseudo-header after a regular field");
                bool known = request ? f.Name is ":method" or ":scheme" or ":authority" or ":path" or ":protocol" : f.Name == ":status";
                if (!known || !pseudo.Add(f.Name)) throw Http3Errors.Message($"unknown or repeated pseudo-header {f.Name}");
            }
            else
            {
                regularSeen = true;
                if (f.Name is "connection" or "keep-alive" or "proxy-connection" or "transfer-encoding" or "upgrade")
                    throw Http3Errors.Message($"connection-specific field {f.Name}");
                if (f.Name == "te" && f.Value != "trailers") throw Http3Errors.Message("te other than trailers");
            }
        }
        if (request)
        {
            if (!pseudo.Contains(":method")) throw Http3Errors.Message("request without :method");
            string method = fields.First(f => f.Name == ":method").Value;
            if (method != "CONNECT" && (!pseudo.Contains(":scheme") || !pseudo.Contains(":path")))
                throw Http3Errors.Message("request without :scheme or :path");
        }
        else if (!pseudo.Contains(":status")) throw Http3Errors.Message("response without :status");
    }

    public static string? Get(IReadOnlyList<HeaderField> fields, string name)
    {
        foreach (var f in fields)
            if (f.Name == name) return f.Value;
        return null;
    }
}
