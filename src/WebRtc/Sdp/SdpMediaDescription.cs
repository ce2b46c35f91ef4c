namespace OspBridge.WebRtc.Sdp;

/// <summary>
/// One m-section (RFC 8866 §5.14): <c>m=&lt;media&gt; &lt;port&gt; &lt;proto&gt; &lt;fmt&gt; ...</c>, its optional
/// <c>c=</c> line and its attributes. Data channels use <c>m=application 9 UDP/DTLS/SCTP webrtc-datachannel</c>;
/// audio/video sections parse into the same shape (formats are payload types).
/// </summary>
public sealed class SdpMediaDescription
{
    /// <summary>Media type: <c>application</c>, <c>audio</c>, <c>video</c>...</summary>
    public string Media { get; set; } = "application";
    /// <summary>Transport port (<c>9</c> in JSEP; <c>0</c> rejects the section).</summary>
    public int Port { get; set; } = 9;
    /// <summary>Optional port count (<c>m=audio 9/2 ...</c>), 0 when absent.</summary>
    public int PortCount { get; set; }
    /// <summary>Protocol, e.g. <c>UDP/DTLS/SCTP</c> or <c>UDP/TLS/RTP/SAVPF</c>.</summary>
    public string Protocol { get; set; } = "UDP/DTLS/SCTP";
    /// <summary>Formats: <c>webrtc-datachannel</c> or RTP payload types.</summary>
    public List<string> Formats { get; } = ["webrtc-datachannel"];
    /// <summary>The c= line body, e.g. <c>IN IP4 0.0.0.0</c>, or null.</summary>
    public string? Connection { get; set; } = "IN IP4 0.0.0.0";
    /// <summary>Other lines of the section (b=, i=, k=) kept verbatim as (type, value).</summary>
    public List<KeyValuePair<char, string>> OtherLines { get; } = [];
    /// <summary>The attributes in order.</summary>
    public List<SdpAttribute> Attributes { get; } = [];

    /// <summary>The first value of attribute <paramref name="name"/>, or null (also null for a flag attribute).</summary>
    public string? GetAttribute(string name) => Attributes.FirstOrDefault(a => a.Name == name)?.Value;

    /// <summary>All values of attribute <paramref name="name"/>.</summary>
    public IEnumerable<string> GetAttributes(string name) => Attributes.Where(a => a.Name == name && a.Value is not null).Select(a => a.Value!);

    /// <summary>True when attribute <paramref name="name"/> is present (flag or value).</summary>
    public bool HasAttribute(string name) => Attributes.Any(a => a.Name == name);

    /// <summary>Replaces all attributes called <paramref name="name"/> with one (or removes them when <paramref name="value"/> is null and <paramref name="flag"/> is false).</summary>
    public void SetAttribute(string name, string? value, bool flag = false)
    {
        int idx = Attributes.FindIndex(a => a.Name == name);
        Attributes.RemoveAll(a => a.Name == name);
        if (value is null && !flag) return;
        var attr = new SdpAttribute(name, value);
        if (idx >= 0 && idx <= Attributes.Count) Attributes.Insert(idx, attr); else Attributes.Add(attr);
    }

    /// <summary><c>a=mid</c>.</summary>
    public string? Mid => GetAttribute("mid");
    /// <summary><c>a=ice-ufrag</c> of this section.</summary>
    public string? IceUfrag => GetAttribute("ice-ufrag");
    /// <summary><c>a=ice-pwd</c> of this section.</summary>
    public string? IcePwd => GetAttribute("ice-pwd");
    /// <summary><c>a=setup</c>: actpass, active, passive or holdconn.</summary>
    public string? Setup => GetAttribute("setup");
    /// <summary><c>a=fingerprint</c> values (<c>sha-256 AB:CD:...</c>).</summary>
    public IEnumerable<string> Fingerprints => GetAttributes("fingerprint");
    /// <summary><c>a=candidate</c> values (without the <c>candidate:</c> prefix).</summary>
    public IEnumerable<string> Candidates => GetAttributes("candidate");
    /// <summary><c>a=end-of-candidates</c>.</summary>
    public bool EndOfCandidates => HasAttribute("end-of-candidates");

    /// <summary><c>a=sctp-port</c> (RFC 8841), null when absent or invalid.</summary>
    public int? SctpPort => int.TryParse(GetAttribute("sctp-port"), System.Globalization.NumberStyles.None, null, out int p) && p is > 0 and <= 65535 ? p : null;

    /// <summary><c>a=max-message-size</c> (RFC 8841), null when absent or invalid; 0 means "no limit".</summary>
    public long? MaxMessageSize => long.TryParse(GetAttribute("max-message-size"), System.Globalization.NumberStyles.None, null, out long v) ? v : null;

    /// <summary>True for a data-channel section (<c>UDP/DTLS/SCTP webrtc-datachannel</c>, or the DTLS/SCTP variants).</summary>
    public bool IsDataChannel => Media == "application" && Protocol.EndsWith("DTLS/SCTP", StringComparison.Ordinal) && Formats.Contains("webrtc-datachannel");
}
