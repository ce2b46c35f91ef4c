using System.Globalization;
using System.Text.Json;

namespace OspBridge.Osp.Trust;

/// <summary>
/// <c>trust.json</c>: <c>{"version":1,"peers":[{"fp","id","names":[…],"firstSeen","lastSeen","trusted","authFailures","flags":[…],"endpoints":[…],"grants":[{"app","granted"}]}]}</c>
/// (times ISO 8601 UTC). Strict: a malformed file is <see cref="OspError.CorruptState"/>, never silently emptied
/// (that would drop trust, or worse, hide a tampered file). Unknown properties are ignored (forward compatible).
/// The stored <c>id</c> is for people reading the file; it must match the fingerprint.
/// </summary>
internal static class OspTrustStoreFile
{
    public static string Format(IReadOnlyList<OspTrustedPeer> peers, int version)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("version", version);
            w.WriteStartArray("peers");
            foreach (var p in peers)
            {
                w.WriteStartObject();
                w.WriteString("fp", p.Fingerprint);
                w.WriteString("id", p.Id);
                w.WriteStartArray("names");
                foreach (var n in p.DisplayNames) w.WriteStringValue(n);
                w.WriteEndArray();
                w.WriteString("firstSeen", Time(p.FirstSeen));
                w.WriteString("lastSeen", Time(p.LastSeen));
                w.WriteBoolean("trusted", p.Trusted);
                w.WriteNumber("authFailures", p.AuthFailures);
                w.WriteStartArray("flags");
                if (p.Marks.HasFlag(OspPeerMarks.Suspicious)) w.WriteStringValue("suspicious");
                if (p.Marks.HasFlag(OspPeerMarks.RepeatedAuthFailures)) w.WriteStringValue("repeatedAuthFailures");
                if (p.Marks.HasFlag(OspPeerMarks.PrivateName)) w.WriteStringValue("privateName");
                w.WriteEndArray();
                w.WriteStartArray("endpoints");
                foreach (var e in p.Endpoints) w.WriteStringValue(e);
                w.WriteEndArray();
                w.WriteStartArray("grants");
                foreach (var g in p.Grants)
                {
                    w.WriteStartObject();
                    w.WriteString("app", g.App);
                    w.WriteString("granted", Time(g.Granted));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    public static IReadOnlyList<OspTrustedPeer> Parse(string text, string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 8 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Corrupt(path, "not a JSON object");
            if (!root.TryGetProperty("version", out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int ver) || ver != 1)
                throw Corrupt(path, "missing or unsupported version");
            if (!root.TryGetProperty("peers", out var arr) || arr.ValueKind != JsonValueKind.Array) throw Corrupt(path, "peers is missing");
            var list = new List<OspTrustedPeer>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var e in arr.EnumerateArray())
            {
                var p = ParsePeer(e, path);
                if (!seen.Add(p.Fingerprint)) throw Corrupt(path, $"peer {p.Fingerprint} appears twice");
                list.Add(p);
            }
            return list;
        }
        catch (JsonException ex)
        {
            throw Corrupt(path, "not valid JSON (truncated?): " + ex.Message);
        }
    }

    private static OspTrustedPeer ParsePeer(JsonElement e, string path)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Corrupt(path, "a peer is not an object");
        var fp = Str(e, "fp", path);
        if (!OspPeerId.IsFingerprint(fp)) throw Corrupt(path, $"'{fp}' is not an agent fingerprint");
        if (e.TryGetProperty("id", out var id) && (id.ValueKind != JsonValueKind.String || id.GetString() != OspPeerId.FromFingerprint(fp)))
            throw Corrupt(path, $"peer {fp}: id does not match the fingerprint");
        var marks = OspPeerMarks.None;
        foreach (var f in Arr(e, "flags", path))
        {
            if (f.ValueKind != JsonValueKind.String) throw Corrupt(path, $"peer {fp}: a flag is not a string");
            marks |= f.GetString() switch
            {
                "suspicious" => OspPeerMarks.Suspicious,
                "repeatedAuthFailures" => OspPeerMarks.RepeatedAuthFailures,
                "privateName" => OspPeerMarks.PrivateName,
                _ => OspPeerMarks.None, // a flag from a newer version: ignored
            };
        }
        var grants = new List<OspAppGrant>();
        foreach (var g in Arr(e, "grants", path))
        {
            if (g.ValueKind != JsonValueKind.Object) throw Corrupt(path, $"peer {fp}: a grant is not an object");
            grants.Add(new OspAppGrant(Str(g, "app", path), TimeOf(g, "granted", path)));
        }
        if (!e.TryGetProperty("trusted", out var t) || t.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            throw Corrupt(path, $"peer {fp}: trusted is missing");
        if (!e.TryGetProperty("authFailures", out var af) || af.ValueKind != JsonValueKind.Number || !af.TryGetInt32(out int failures) || failures < 0)
            throw Corrupt(path, $"peer {fp}: authFailures is missing or negative");
        return new OspTrustedPeer
        {
            Fingerprint = fp,
            DisplayNames = Strings(e, "names", path),
            FirstSeen = TimeOf(e, "firstSeen", path),
            LastSeen = TimeOf(e, "lastSeen", path),
            Trusted = t.GetBoolean(),
            AuthFailures = failures,
            Marks = marks,
            Endpoints = Strings(e, "endpoints", path),
            Grants = grants,
        };
    }

    private static string Time(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static DateTimeOffset TimeOf(JsonElement e, string name, string path)
    {
        var s = Str(e, name, path);
        if (!DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
            throw Corrupt(path, $"{name} '{s}' is not a time");
        return t;
    }

    private static string Str(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s
            ? s : throw Corrupt(path, $"{name} is missing or empty");

    private static JsonElement.ArrayEnumerator Arr(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray() : throw Corrupt(path, $"{name} is missing");

    private static List<string> Strings(JsonElement e, string name, string path)
    {
        var list = new List<string>();
        foreach (var s in Arr(e, name, path))
        {
            if (s.ValueKind != JsonValueKind.String) throw Corrupt(path, $"{name} holds a non-string");
            list.Add(s.GetString()!);
        }
        return list;
    }

    private static OspException Corrupt(string path, string what) =>
        new(OspError.CorruptState, $"trust store '{path}' is unusable: {what}. Move it away to start with no trusted peers (every peer must then pair again).");
}
