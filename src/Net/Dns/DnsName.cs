using System.Text;

namespace OspBridge.Net.Dns;

/// <summary>
/// A domain name as a sequence of labels (each 1..63 UTF-8 octets, total wire length ≤ 255 octets).
/// Labels may contain any characters, including dots (DNS-SD instance names often do), so a name is never
/// handled as one dotted string internally. Comparison is case-insensitive for ASCII letters only
/// (RFC 6762 §16); other characters compare exactly.
/// </summary>
public sealed class DnsName : IEquatable<DnsName>
{
    /// <summary>Largest wire length of a name, including the root label (RFC 1035 §2.3.4).</summary>
    public const int MaxWireLength = 255;

    /// <summary>Largest length of one label in octets.</summary>
    public const int MaxLabelLength = 63;

    private readonly string[] _labels;
    private readonly string _key;

    /// <summary>The root name (no labels).</summary>
    public static DnsName Root { get; } = new([], validate: false);

    /// <summary>Creates a name from labels (validated: each 1..63 octets, whole name ≤ 255).</summary>
    public DnsName(IEnumerable<string> labels) : this(labels.ToArray(), validate: true)
    {
    }

    private DnsName(string[] labels, bool validate)
    {
        if (validate)
        {
            int wire = 1;
            foreach (string l in labels)
            {
                int n = Encoding.UTF8.GetByteCount(l);
                if (n is < 1 or > MaxLabelLength)
                    throw new NetException(NetError.LimitExceeded, $"DNS label of {n} octets (must be 1..63)");
                wire += 1 + n;
            }
            if (wire > MaxWireLength) throw new NetException(NetError.LimitExceeded, $"DNS name of {wire} octets (max 255)");
            WireLength = wire;
        }
        else
        {
            int wire = 1;
            foreach (string l in labels) wire += 1 + Encoding.UTF8.GetByteCount(l);
            WireLength = wire;
        }
        _labels = labels;
        _key = MakeKey(labels);
    }

    internal static DnsName FromValidatedLabels(string[] labels) => new(labels, validate: false);

    /// <summary>The labels, most specific first ("Front Door", "_openscreen", "_udp", "local").</summary>
    public IReadOnlyList<string> Labels => _labels;

    /// <summary>Length of the uncompressed wire form.</summary>
    public int WireLength { get; }

    /// <summary>
    /// Parses dotted text: labels separated by '.', with "\." for a dot inside a label and "\\" for a
    /// backslash; a trailing dot is allowed.
    /// </summary>
    public static DnsName Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var labels = new List<string>();
        var sb = new StringBuilder();
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\\' && i + 1 < text.Length)
            {
                sb.Append(text[++i]);
            }
            else if (c == '.')
            {
                if (sb.Length == 0)
                {
                    if (i == text.Length - 1 && labels.Count > 0) break; // trailing dot
                    throw new NetException(NetError.Malformed, $"empty label in DNS name '{text}'");
                }
                labels.Add(sb.ToString());
                sb.Clear();
            }
            else
            {
                sb.Append(c);
            }
        }
        if (sb.Length > 0) labels.Add(sb.ToString());
        return new DnsName(labels);
    }

    /// <summary>This name with <paramref name="label"/> prepended ("x" + "local" = "x.local").</summary>
    public DnsName Prepend(string label)
    {
        var l = new string[_labels.Length + 1];
        l[0] = label;
        _labels.CopyTo(l, 1);
        return new DnsName(l, validate: true);
    }

    /// <summary>This name followed by <paramref name="suffix"/>'s labels.</summary>
    public DnsName Append(DnsName suffix) => new(_labels.Concat(suffix._labels).ToArray(), validate: true);

    /// <summary>The name without its first label (Root stays Root).</summary>
    public DnsName Parent() => _labels.Length == 0 ? this : new DnsName(_labels[1..], validate: false);

    /// <summary>True when the last labels of this name equal <paramref name="suffix"/> (or it is the same name).</summary>
    public bool EndsWith(DnsName suffix)
    {
        if (suffix._labels.Length > _labels.Length) return false;
        int off = _labels.Length - suffix._labels.Length;
        for (int i = 0; i < suffix._labels.Length; i++)
            if (!LabelEquals(_labels[off + i], suffix._labels[i])) return false;
        return true;
    }

    /// <summary>ASCII-case-insensitive label comparison (RFC 6762 §16).</summary>
    public static bool LabelEquals(string a, string b)
    {
        if (a.Length != b.Length) return false;
        for (int i = 0; i < a.Length; i++)
            if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
        return true;
    }

    private static char AsciiLower(char c) => c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;

    private static string MakeKey(string[] labels)
    {
        var sb = new StringBuilder();
        foreach (string l in labels)
        {
            foreach (char c in l)
            {
                if (c is '.' or '\\') sb.Append('\\');
                sb.Append(AsciiLower(c));
            }
            sb.Append('.');
        }
        return sb.ToString();
    }

    /// <inheritdoc />
    public bool Equals(DnsName? other) => other is not null && string.Equals(_key, other._key, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is DnsName n && Equals(n);

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_key);

    /// <summary>Canonical (ASCII-lower-cased, escaped) form, for use as a dictionary key.</summary>
    internal string Key => _key;

    /// <summary>Dotted text with '.' and '\' inside labels escaped; no trailing dot.</summary>
    public override string ToString()
    {
        if (_labels.Length == 0) return ".";
        var sb = new StringBuilder();
        for (int i = 0; i < _labels.Length; i++)
        {
            if (i > 0) sb.Append('.');
            foreach (char c in _labels[i])
            {
                if (c is '.' or '\\') sb.Append('\\');
                sb.Append(c);
            }
        }
        return sb.ToString();
    }

    /// <summary>Equality operator (same name, ASCII case-insensitive).</summary>
    public static bool operator ==(DnsName? a, DnsName? b) => a is null ? b is null : a.Equals(b);

    /// <summary>Inequality operator.</summary>
    public static bool operator !=(DnsName? a, DnsName? b) => !(a == b);
}
