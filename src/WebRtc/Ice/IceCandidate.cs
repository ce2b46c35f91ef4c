using System.Globalization;
using System.Net;
using System.Text;

namespace OspBridge.WebRtc.Ice;

/// <summary>
/// An ICE candidate as carried in SDP (RFC 8839 §5.1):
/// <c>candidate:&lt;foundation&gt; &lt;component&gt; &lt;transport&gt; &lt;priority&gt; &lt;address&gt; &lt;port&gt; typ &lt;type&gt;
/// [raddr &lt;a&gt; rport &lt;p&gt;] *(name value)</c>. <see cref="Address"/> is an IP literal or an mDNS <c>&lt;uuid&gt;.local</c> name.
/// </summary>
public sealed record IceCandidate
{
    /// <summary>Foundation (1–32 ice-chars).</summary>
    public required string Foundation { get; init; }
    /// <summary>Component id (1 = RTP / the only component with BUNDLE + rtcp-mux).</summary>
    public int Component { get; init; } = 1;
    /// <summary>Transport, <c>udp</c> (lower case on output; compared case-insensitively).</summary>
    public string Transport { get; init; } = "udp";
    /// <summary>Priority (RFC 8445 §5.1.2).</summary>
    public required uint Priority { get; init; }
    /// <summary>IP literal or mDNS host name.</summary>
    public required string Address { get; init; }
    /// <summary>Port.</summary>
    public required int Port { get; init; }
    /// <summary>Candidate type.</summary>
    public IceCandidateType Type { get; init; } = IceCandidateType.Host;
    /// <summary>Related address (raddr), for reflexive/relay candidates.</summary>
    public string? RelatedAddress { get; init; }
    /// <summary>Related port (rport).</summary>
    public int? RelatedPort { get; init; }
    /// <summary>Extension attributes (generation, ufrag, network-id, network-cost...), in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Extensions { get; init; } = [];

    /// <summary>True when <see cref="Address"/> is an mDNS name (ends with <c>.local</c>).</summary>
    public bool IsMdns => Address.EndsWith(".local", StringComparison.OrdinalIgnoreCase);

    /// <summary>The address as an IP endpoint, or null for a host name.</summary>
    public IPEndPoint? EndPoint => IPAddress.TryParse(Address, out var ip) ? new IPEndPoint(ip, Port) : null;

    /// <summary>RFC 8445 §5.1.2.1 priority: 2^24·type-pref + 2^8·local-pref + (256 − component).</summary>
    public static uint ComputePriority(IceCandidateType type, int localPreference, int component = 1) =>
        (uint)((TypePreference(type) << 24) + ((localPreference & 0xFFFF) << 8) + (256 - component));

    /// <summary>Recommended type preferences: host 126, prflx 110, srflx 100, relay 0.</summary>
    public static int TypePreference(IceCandidateType type) => type switch
    {
        IceCandidateType.Host => 126,
        IceCandidateType.PeerReflexive => 110,
        IceCandidateType.ServerReflexive => 100,
        _ => 0,
    };

    private static string TypeName(IceCandidateType t) => t switch
    {
        IceCandidateType.Host => "host",
        IceCandidateType.ServerReflexive => "srflx",
        IceCandidateType.PeerReflexive => "prflx",
        _ => "relay",
    };

    /// <summary>The attribute value, <c>candidate:...</c> (as in <c>RTCIceCandidate.candidate</c>).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder(128);
        sb.Append("candidate:").Append(Foundation).Append(' ').Append(Component).Append(' ').Append(Transport)
          .Append(' ').Append(Priority).Append(' ').Append(Address).Append(' ').Append(Port)
          .Append(" typ ").Append(TypeName(Type));
        if (RelatedAddress is not null) sb.Append(" raddr ").Append(RelatedAddress);
        if (RelatedPort is not null) sb.Append(" rport ").Append(RelatedPort.Value);
        foreach (var kv in Extensions) sb.Append(' ').Append(kv.Key).Append(' ').Append(kv.Value);
        return sb.ToString();
    }

    /// <summary>
    /// Parses <c>candidate:...</c> or the bare value (as found after <c>a=candidate:</c>). False when malformed;
    /// unknown transports parse (the agent ignores them), unknown extensions are kept.
    /// </summary>
    public static bool TryParse(string? text, out IceCandidate? candidate)
    {
        candidate = null;
        if (string.IsNullOrEmpty(text) || text.Length > 2048) return false;
        if (text.StartsWith("a=", StringComparison.Ordinal)) text = text[2..];
        if (text.StartsWith("candidate:", StringComparison.OrdinalIgnoreCase)) text = text["candidate:".Length..];
        var p = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (p.Length < 8 || p[6] != "typ") return false;
        if (p[0].Length is 0 or > 32) return false;
        if (!int.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out int comp) || comp is < 1 or > 256) return false;
        if (!uint.TryParse(p[3], NumberStyles.None, CultureInfo.InvariantCulture, out uint prio)) return false;
        if (!int.TryParse(p[5], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535) return false;
        if (p[4].Length is 0 or > 255) return false;
        IceCandidateType type;
        switch (p[7])
        {
            case "host": type = IceCandidateType.Host; break;
            case "srflx": type = IceCandidateType.ServerReflexive; break;
            case "prflx": type = IceCandidateType.PeerReflexive; break;
            case "relay": type = IceCandidateType.Relay; break;
            default: return false;
        }
        string? raddr = null;
        int? rport = null;
        var ext = new List<KeyValuePair<string, string>>();
        int i = 8;
        for (; i + 1 < p.Length; i += 2)
        {
            if (p[i] == "raddr") raddr = p[i + 1];
            else if (p[i] == "rport")
            {
                if (!int.TryParse(p[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int rp) || rp > 65535) return false;
                rport = rp;
            }
            else if (ext.Count < 32) ext.Add(new(p[i], p[i + 1]));
        }
        if (i != p.Length) return false;
        candidate = new IceCandidate
        {
            Foundation = p[0], Component = comp, Transport = p[2].ToLowerInvariant(), Priority = prio, Address = p[4], Port = port,
            Type = type, RelatedAddress = raddr, RelatedPort = rport, Extensions = ext,
        };
        return true;
    }
}
