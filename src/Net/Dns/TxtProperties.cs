using System.Text;

namespace OspBridge.Net.Dns;

/// <summary>
/// DNS-SD TXT key/value pairs (RFC 6763 §6). Keys are printable US-ASCII (0x20–0x7E) except '=', 1+ characters,
/// compared case-insensitively; a string without '=' is a boolean attribute (value null), "key=" has an
/// empty value; values are opaque bytes (binary allowed, e.g. OSP's <c>mv</c> varint). When parsing,
/// empty strings, strings starting with '=' and strings with an invalid key are ignored, and only the first
/// occurrence of a key counts (§6.4).
/// </summary>
public sealed class TxtProperties
{
    private readonly List<KeyValuePair<string, byte[]?>> _items = [];

    /// <summary>The pairs in order.</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]?>> Items => _items;

    /// <summary>Number of keys.</summary>
    public int Count => _items.Count;

    /// <summary>Adds (or replaces) a key with a binary value (null = boolean attribute).</summary>
    public TxtProperties Set(string key, byte[]? value)
    {
        if (!IsValidKey(key)) throw new ArgumentException($"invalid DNS-SD TXT key '{key}'", nameof(key));
        int len = Encoding.ASCII.GetByteCount(key) + (value is null ? 0 : 1 + value.Length);
        if (len > 255) throw new NetException(NetError.LimitExceeded, $"TXT pair '{key}' longer than 255 octets");
        int i = IndexOf(key);
        var kv = new KeyValuePair<string, byte[]?>(key, value);
        if (i >= 0) _items[i] = kv;
        else _items.Add(kv);
        return this;
    }

    /// <summary>Adds (or replaces) a key with a UTF-8 text value.</summary>
    public TxtProperties Set(string key, string value) => Set(key, Encoding.UTF8.GetBytes(value));

    /// <summary>True when the key is present (with or without a value).</summary>
    public bool ContainsKey(string key) => IndexOf(key) >= 0;

    /// <summary>Gets the value of a key (null value = boolean attribute).</summary>
    public bool TryGetValue(string key, out byte[]? value)
    {
        int i = IndexOf(key);
        value = i >= 0 ? _items[i].Value : null;
        return i >= 0;
    }

    /// <summary>The value as UTF-8 text, or null when absent or valueless.</summary>
    public string? GetString(string key)
        => TryGetValue(key, out var v) && v is not null ? Encoding.UTF8.GetString(v) : null;

    private int IndexOf(string key)
    {
        for (int i = 0; i < _items.Count; i++)
            if (string.Equals(_items[i].Key, key, StringComparison.OrdinalIgnoreCase)) return i;
        return -1;
    }

    /// <summary>True for a valid key: 1+ characters, printable ASCII, no '='.</summary>
    public static bool IsValidKey(string key)
    {
        if (string.IsNullOrEmpty(key)) return false;
        foreach (char c in key)
            if (c is < (char)0x20 or > (char)0x7E or '=') return false;
        return true;
    }

    /// <summary>Parses TXT strings per RFC 6763 §6.</summary>
    public static TxtProperties Parse(IEnumerable<byte[]> strings)
    {
        var p = new TxtProperties();
        foreach (var s in strings)
        {
            if (s.Length == 0 || s[0] == (byte)'=') continue;
            int eq = Array.IndexOf(s, (byte)'=');
            int keyLen = eq < 0 ? s.Length : eq;
            bool ok = true;
            for (int i = 0; i < keyLen; i++)
                if (s[i] is < 0x20 or > 0x7E) { ok = false; break; }
            if (!ok) continue;
            string key = Encoding.ASCII.GetString(s, 0, keyLen);
            if (p.IndexOf(key) >= 0) continue;
            p._items.Add(new(key, eq < 0 ? null : s[(eq + 1)..]));
        }
        return p;
    }

    /// <summary>The wire strings ("key=value" / "key").</summary>
    public IEnumerable<byte[]> ToStrings()
    {
        foreach (var (k, v) in _items)
        {
            byte[] key = Encoding.ASCII.GetBytes(k);
            if (v is null)
            {
                yield return key;
                continue;
            }
            var s = new byte[key.Length + 1 + v.Length];
            key.CopyTo(s, 0);
            s[key.Length] = (byte)'=';
            v.CopyTo(s, key.Length + 1);
            yield return s;
        }
    }

    /// <inheritdoc />
    public override string ToString()
        => string.Join(' ', _items.Select(kv => kv.Value is null ? kv.Key : kv.Key + "=" + Encoding.UTF8.GetString(kv.Value)));
}
