using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OspBridge.PeerFetch.V1;

/// <summary>One v1 request: the JSON text message <c>{url, method, json?, data?}</c> (docs/peerfetch.md §1).</summary>
internal sealed record V1Request(string Url, string Method, byte[]? Body, string? ContentType)
{
    public const int MaxRequestMessage = 1 << 20;

    public bool IsPing => Url.StartsWith("ping", StringComparison.Ordinal);

    /// <summary>Parses a request message; false for anything that is not a JSON object with a string <c>url</c>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> message, out V1Request request)
    {
        request = null!;
        if (message.Length > MaxRequestMessage) return false;
        try
        {
            var reader = new Utf8JsonReader(message, new JsonReaderOptions { MaxDepth = 32 });
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return false;
            if (!root.TryGetProperty("url", out var url) || url.ValueKind != JsonValueKind.String) return false;
            string method = root.TryGetProperty("method", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "GET";
            byte[]? body = null;
            string? type = null;
            if (root.TryGetProperty("json", out var json) && json.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined))
            {
                body = Encoding.UTF8.GetBytes(json.GetRawText());
                type = "application/json";
            }
            else if (root.TryGetProperty("data", out var data) && data.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined))
            {
                if (data.ValueKind == JsonValueKind.String) { body = Encoding.UTF8.GetBytes(data.GetString()!); type = "text/plain; charset=utf-8"; }
                else { body = Encoding.UTF8.GetBytes(data.GetRawText()); type = "application/json"; }
            }
            if (method.Length is 0 or > 32) return false;
            request = new V1Request(url.GetString()!, method.ToUpperInvariant(), body, type);
            return true;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string that is not valid UTF-8 (found by FuzzTests).
            return false;
        }
    }

    public string ToJson()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("url", Url);
            w.WriteString("method", Method);
            if (Body is not null)
            {
                if (ContentType is not null && ContentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
                {
                    w.WritePropertyName("json");
                    using var doc = JsonDocument.Parse(Body);
                    doc.RootElement.WriteTo(w);
                }
                else
                {
                    w.WriteString("data", Encoding.UTF8.GetString(Body));
                }
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}

/// <summary>A v1 response header: <c>{"status":N,"content-type":"...","content-length":N}</c>.</summary>
internal readonly record struct V1Header(int Status, string? ContentType, long? ContentLength)
{
    public static readonly string Heartbeat = """{"status":202}""";

    public string ToJson()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{{\"status\":{Status}");
        if (ContentType is not null) sb.Append(",\"content-type\":").Append(JsonSerializer.Serialize(ContentType));
        if (ContentLength is { } l) sb.Append(CultureInfo.InvariantCulture, $",\"content-length\":{l}");
        return sb.Append('}').ToString();
    }

    /// <summary>Parses a header message; false when it is not JSON or has no integer <c>status</c>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> message, out V1Header header)
    {
        header = default;
        if (message.Length > 64 << 10) return false;
        try
        {
            var reader = new Utf8JsonReader(message, new JsonReaderOptions { MaxDepth = 8 });
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("status", out var s) || !s.TryGetInt32(out int status)) return false;
            string? type = root.TryGetProperty("content-type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            long? length = root.TryGetProperty("content-length", out var l) && l.TryGetInt64(out long n) ? n : null;
            header = new V1Header(status, type, length);
            return true;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return false;
        }
    }
}
