using System.Text.Json;

namespace OspBridge.Crypto.Identity;

/// <summary>
/// The persisted non-key part of an agent identity (<c>agent.json</c>):
/// <code>{"version":1,"serialBase":"&lt;32 hex&gt;","counter":N,"authToken":"...","instanceName":"...","modelName":"...","keySha256":"&lt;64 hex&gt;"}</code>
/// Parsing is strict: any missing or malformed field is a <see cref="CryptoError.CorruptState"/>. It is the
/// manifest of the identity's file set, written last; <c>keySha256</c> (SHA-256 of the agent-key.pem bytes) is
/// optional on read so files written before it existed still load (it is added on the next write).
/// </summary>
internal sealed record AgentStateFile(byte[] SerialBase, uint Counter, string AuthToken, string InstanceName, string? ModelName)
{
    public byte[]? KeySha256 { get; init; }

    public const int CurrentVersion = 1;

    public static string Format(AgentStateFile s)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("version", CurrentVersion);
            w.WriteString("serialBase", Convert.ToHexStringLower(s.SerialBase));
            w.WriteNumber("counter", s.Counter);
            w.WriteString("authToken", s.AuthToken);
            w.WriteString("instanceName", s.InstanceName);
            if (s.ModelName is not null) w.WriteString("modelName", s.ModelName);
            if (s.KeySha256 is not null) w.WriteString("keySha256", Convert.ToHexStringLower(s.KeySha256));
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    public static AgentStateFile Parse(string text, string path)
    {
        var dir = Path.GetDirectoryName(path) ?? ".";
        var name = Path.GetFileName(path);
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 4 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw AgentIdentity.Corrupt(dir, $"{name} is not a JSON object");
            if (!root.TryGetProperty("version", out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int version) || version != CurrentVersion)
                throw AgentIdentity.Corrupt(dir, $"{name} has a missing or unsupported version");
            var serialHex = RequireString(root, "serialBase", dir, name);
            byte[] serialBase;
            try { serialBase = Convert.FromHexString(serialHex); }
            catch (FormatException) { throw AgentIdentity.Corrupt(dir, $"{name}: serialBase is not hex"); }
            if (serialBase.Length != 16 || (serialBase[0] & 0x80) != 0)
                throw AgentIdentity.Corrupt(dir, $"{name}: serialBase must be 16 bytes with the top bit clear");
            if (!root.TryGetProperty("counter", out var c) || c.ValueKind != JsonValueKind.Number || !c.TryGetUInt32(out var counter))
                throw AgentIdentity.Corrupt(dir, $"{name}: counter is missing or not a 32-bit unsigned integer");
            var at = RequireString(root, "authToken", dir, name);
            if (at.Length < 11 || at.Any(ch => !(char.IsAsciiLetterOrDigit(ch) || ch is '+' or '/')))
                throw AgentIdentity.Corrupt(dir, $"{name}: authToken must be ≥ 11 characters of [A-Za-z0-9+/] (≥ 64 bits)");
            var instance = RequireString(root, "instanceName", dir, name);
            string? model = root.TryGetProperty("modelName", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            byte[]? keySha = null;
            if (root.TryGetProperty("keySha256", out var k))
            {
                if (k.ValueKind != JsonValueKind.String || k.GetString() is not { Length: 64 } hex || !hex.All(char.IsAsciiHexDigit))
                    throw AgentIdentity.Corrupt(dir, $"{name}: keySha256 must be 64 hex digits");
                keySha = Convert.FromHexString(hex);
            }
            return new AgentStateFile(serialBase, counter, at, instance, model) { KeySha256 = keySha };
        }
        catch (JsonException ex)
        {
            throw AgentIdentity.Corrupt(dir, $"{name} is not valid JSON (truncated?): {ex.Message}");
        }
    }

    private static string RequireString(JsonElement root, string property, string dir, string name)
    {
        if (!root.TryGetProperty(property, out var e) || e.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(e.GetString()))
            throw AgentIdentity.Corrupt(dir, $"{name}: {property} is missing or empty");
        return e.GetString()!;
    }
}
