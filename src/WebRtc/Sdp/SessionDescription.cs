using System.Text;

namespace OspBridge.WebRtc.Sdp;

/// <summary>
/// An SDP session description (RFC 8866), the JSEP (RFC 8829) subset WebRTC uses: v=, o=, s=, t=, session
/// attributes (group:BUNDLE, ice-lite, ice-options, fingerprint, msid-semantic...) and m-sections. Unknown lines are
/// kept so a parsed description writes back unchanged apart from whitespace normalisation.
/// </summary>
public sealed class SessionDescription
{
    /// <summary>The <c>o=</c> line.</summary>
    public SdpOrigin Origin { get; set; } = new("-", "0", 2, "IN", "IP4", "127.0.0.1");
    /// <summary>The <c>s=</c> line (<c>-</c> in JSEP).</summary>
    public string SessionName { get; set; } = "-";
    /// <summary>The <c>t=</c> line (<c>0 0</c>).</summary>
    public string Timing { get; set; } = "0 0";
    /// <summary>Session-level <c>c=</c> line, if any.</summary>
    public string? Connection { get; set; }
    /// <summary>Other session-level lines (i=, u=, e=, p=, b=, r=, z=, k=) kept verbatim.</summary>
    public List<KeyValuePair<char, string>> OtherLines { get; } = [];
    /// <summary>Session-level attributes in order.</summary>
    public List<SdpAttribute> Attributes { get; } = [];
    /// <summary>The m-sections in order.</summary>
    public List<SdpMediaDescription> Media { get; } = [];

    /// <summary>The first value of session attribute <paramref name="name"/>, or null.</summary>
    public string? GetAttribute(string name) => Attributes.FirstOrDefault(a => a.Name == name)?.Value;

    /// <summary>True when session attribute <paramref name="name"/> is present.</summary>
    public bool HasAttribute(string name) => Attributes.Any(a => a.Name == name);

    /// <summary><c>a=ice-lite</c> at session level.</summary>
    public bool IceLite => HasAttribute("ice-lite");

    /// <summary>The section's attribute, falling back to the session level (ice-ufrag, ice-pwd, fingerprint, setup may sit at either).</summary>
    public string? GetEffective(SdpMediaDescription media, string name) => media.GetAttribute(name) ?? GetAttribute(name);

    /// <summary>The first data-channel m-section, or null.</summary>
    public SdpMediaDescription? DataChannelMedia => Media.FirstOrDefault(m => m.IsDataChannel && m.Port != 0);

    /// <summary>Parses SDP text (CRLF or LF line ends). Throws <see cref="WebRtcException"/> (Malformed / LimitExceeded).</summary>
    public static SessionDescription Parse(string text, SdpLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        limits ??= SdpLimits.Default;
        if (text.Length > limits.MaxLength) throw Limit($"description longer than {limits.MaxLength} characters");
        var sd = new SessionDescription();
        SdpMediaDescription? current = null;
        int lineNo = 0;
        bool sawV = false, sawO = false, sawS = false;
        int pos = 0;
        while (pos < text.Length)
        {
            int nl = text.IndexOf('\n', pos);
            int end = nl < 0 ? text.Length : nl;
            int next = nl < 0 ? text.Length : nl + 1;
            int lineEnd = end > pos && text[end - 1] == '\r' ? end - 1 : end;
            var line = text.AsSpan(pos, lineEnd - pos);
            pos = next;
            if (line.Length == 0) continue; // tolerate blank lines (trailing CRLF)
            if (++lineNo > limits.MaxLines) throw Limit($"more than {limits.MaxLines} lines");
            if (line.Length > limits.MaxLineLength) throw Limit($"line {lineNo} longer than {limits.MaxLineLength}");
            if (line.Length < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z')
                throw Bad($"line {lineNo} is not <type>=<value>");
            foreach (char ch in line)
                if (ch < 0x20 && ch != '\t') throw Bad($"line {lineNo} contains a control character");
            char type = line[0];
            string value = line[2..].ToString();
            if (lineNo == 1 && type != 'v') throw Bad("description must start with v=");
            switch (type)
            {
                case 'v':
                    if (sawV || value != "0") throw Bad("v= must appear once with value 0");
                    sawV = true;
                    break;
                case 'o' when current is null:
                    if (sawO) throw Bad("duplicate o=");
                    sd.Origin = ParseOrigin(value);
                    sawO = true;
                    break;
                case 's' when current is null:
                    if (sawS) throw Bad("duplicate s=");
                    sd.SessionName = value;
                    sawS = true;
                    break;
                case 't' when current is null:
                    sd.Timing = value;
                    break;
                case 'c':
                    if (current is null) sd.Connection = value; else current.Connection = value;
                    break;
                case 'm':
                    if (sd.Media.Count >= limits.MaxMediaSections) throw Limit($"more than {limits.MaxMediaSections} m-sections");
                    current = ParseMediaLine(value);
                    sd.Media.Add(current);
                    break;
                case 'a':
                {
                    var attrs = current?.Attributes ?? sd.Attributes;
                    if (attrs.Count >= limits.MaxAttributesPerSection) throw Limit("too many attributes in one section");
                    int colon = value.IndexOf(':', StringComparison.Ordinal);
                    string name = colon < 0 ? value : value[..colon];
                    if (name.Length == 0 || name.Contains(' ', StringComparison.Ordinal)) throw Bad($"line {lineNo}: bad attribute name");
                    attrs.Add(new SdpAttribute(name, colon < 0 ? null : value[(colon + 1)..]));
                    break;
                }
                default:
                    (current?.OtherLines ?? sd.OtherLines).Add(new(type, value));
                    break;
            }
        }
        if (!sawV || !sawO || !sawS) throw Bad("description lacks v=, o= or s=");
        return sd;
    }

    private static SdpOrigin ParseOrigin(string value)
    {
        var p = value.Split(' ');
        if (p.Length != 6 || !ulong.TryParse(p[2], System.Globalization.NumberStyles.None, null, out ulong ver) || p[1].Length == 0)
            throw Bad("o= needs 6 fields with a numeric version");
        return new SdpOrigin(p[0], p[1], ver, p[3], p[4], p[5]);
    }

    private static SdpMediaDescription ParseMediaLine(string value)
    {
        var p = value.Split(' ');
        if (p.Length < 4) throw Bad("m= needs media, port, proto and at least one format");
        var m = new SdpMediaDescription { Media = p[0], Protocol = p[2], Connection = null };
        var portText = p[1];
        int slash = portText.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            if (!int.TryParse(portText.AsSpan(slash + 1), System.Globalization.NumberStyles.None, null, out int count) || count is < 1 or > 65535)
                throw Bad("m= port count invalid");
            m.PortCount = count;
            portText = portText[..slash];
        }
        if (!int.TryParse(portText, System.Globalization.NumberStyles.None, null, out int port) || port > 65535)
            throw Bad("m= port invalid");
        m.Port = port;
        if (m.Media.Length == 0 || m.Protocol.Length == 0) throw Bad("m= empty field");
        m.Formats.Clear();
        for (int i = 3; i < p.Length; i++)
            if (p[i].Length > 0) m.Formats.Add(p[i]);
        if (m.Formats.Count == 0) throw Bad("m= without formats");
        return m;
    }

    /// <summary>Writes the description with CRLF line ends, in RFC 8866 order.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder(512);
        void Line(char t, string v) => sb.Append(t).Append('=').Append(v).Append("\r\n");
        Line('v', "0");
        Line('o', Origin.ToString());
        Line('s', SessionName);
        foreach (var kv in OtherLines.Where(k => k.Key is 'i' or 'u' or 'e' or 'p')) Line(kv.Key, kv.Value);
        if (Connection is not null) Line('c', Connection);
        foreach (var kv in OtherLines.Where(k => k.Key == 'b')) Line(kv.Key, kv.Value);
        Line('t', Timing);
        foreach (var kv in OtherLines.Where(k => k.Key is not ('i' or 'u' or 'e' or 'p' or 'b'))) Line(kv.Key, kv.Value);
        foreach (var a in Attributes) Line('a', a.ToString());
        foreach (var m in Media)
        {
            string port = m.PortCount > 0 ? $"{m.Port}/{m.PortCount}" : m.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Line('m', $"{m.Media} {port} {m.Protocol} {string.Join(' ', m.Formats)}");
            foreach (var kv in m.OtherLines.Where(k => k.Key == 'i')) Line(kv.Key, kv.Value);
            if (m.Connection is not null) Line('c', m.Connection);
            foreach (var kv in m.OtherLines.Where(k => k.Key != 'i')) Line(kv.Key, kv.Value);
            foreach (var a in m.Attributes) Line('a', a.ToString());
        }
        return sb.ToString();
    }

    private static WebRtcException Bad(string msg) => new(WebRtcError.Malformed, "SDP: " + msg);
    private static WebRtcException Limit(string msg) => new(WebRtcError.LimitExceeded, "SDP: " + msg);
}
